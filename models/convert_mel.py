"""Convert a TFLite mel voice (FastSpeech2 + Multi-band MelGAN) to ONNX and check the result runs.

Conversion happens in the converter venv (models/converter_env.py); the check runs here, in
onnxruntime, so a voice is only installed if the daemon can actually load and run it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime

from models.converter_env import ConverterError, run_in_converter

OPSET = 13
MEL_OUTPUT = "Identity_1"          # FastSpeech2: mel after the postnet, [1, frames, 80]
DURATION_OUTPUT = "Identity_2"     # FastSpeech2: frames per input id
# "sil c e4 #0 sh iii4 #0 ^ uen2 #0 b en3 sil eos" (测试文本) in the Baker phone table.
CHECK_IDS = [1, 8, 56, 2, 23, 116, 2, 6, 184, 2, 7, 65, 1, 218]


def convert_tflite(python: Path, source: Path, target: Path, log=print) -> None:
    """tf2onnx in the converter venv; shows its progress lines."""
    log(f"converting {source.name} to ONNX (opset {OPSET}) ...")

    def progress(line: str) -> str | None:
        for key in ("Using tensorflow", "Using opset", "Optimizing ONNX model", "Successfully converted",
                    "ERROR", "Error"):
            if key in line:
                return line.split(" - ")[-1][:160]
        return None

    run_in_converter(python, ["-m", "tf2onnx.convert", "--tflite", str(source), "--output", str(target),
                              "--opset", str(OPSET)], log, show=progress)
    if not target.is_file():
        raise ConverterError(f"tf2onnx reported success but wrote no {target.name}")


def fastspeech2_feed(ids: list[int], speed: float = 1.0) -> dict[str, np.ndarray]:
    return {
        "input_ids": np.asarray([ids], dtype=np.int32),
        "speaker_ids": np.zeros(1, dtype=np.int32),
        "speed_ratios": np.asarray([speed], dtype=np.float32),
        "f0_ratios": np.ones(1, dtype=np.float32),
        "energy_ratios": np.ones(1, dtype=np.float32),
    }


def check_mel_models(acoustic: Path, vocoder: Path, mel_bins: int, hop_length: int) -> str:
    """Run both converted models once; raise ConverterError unless shapes are what the daemon expects."""
    try:
        fs2 = onnxruntime.InferenceSession(str(acoustic), providers=["CPUExecutionProvider"])
        melgan = onnxruntime.InferenceSession(str(vocoder), providers=["CPUExecutionProvider"])
        mel, durations = fs2.run([MEL_OUTPUT, DURATION_OUTPUT], fastspeech2_feed(CHECK_IDS))
        audio = melgan.run(None, {"mels": mel.astype(np.float32)})[0]
    except Exception as error:
        raise ConverterError(f"the converted models do not run in onnxruntime: {error}") from None
    frames = mel.shape[1]
    if mel.shape[2] != mel_bins or frames != int(durations.sum()) or audio.size != frames * hop_length:
        raise ConverterError(f"converted models give unexpected shapes: mel {mel.shape}, durations sum "
                             f"{int(durations.sum())}, audio {audio.shape}")
    if not np.isfinite(audio).all() or np.abs(audio).max() < 1e-3:
        raise ConverterError("the converted vocoder produced silence or NaN for a test sentence")
    return f"{frames} mel frames -> {audio.size} samples"
