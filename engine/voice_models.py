"""onnxruntime sessions for a piper-split voice, and chunked decoding with context.

Chunked decoding: the decoder is convolutional with a receptive field of about 10 latent frames
each side, so decoding z[a-C : b+C] and keeping the samples of frames [a, b) gives the same audio
as decoding the whole clause at once, as long as C covers the receptive field.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime

from engine.conv2d_layout import nchwc_decoder
from models.manifest import Manifest, ManifestError
from models.piper_layout import DURATIONS_OUTPUT_NAME, PRIOR_OUTPUT_NAMES

FIRST_CHUNK_FRAMES = 12      # small first chunk: first PCM leaves quickly
CHUNK_FRAMES = 192           # chunks grow up to this: context overhead falls to (192 + 20) / 192
CONTEXT_FRAMES = 10          # the decoder's receptive field: 10 frames give >120 dB SNR, 8 only ~65 (tests)
# A message's very first chunk is decoded with less right context: the time to first audio waits for
# that decode (2 frames fewer of 22: ~1.8 ms), and 8 frames keep its audio within 53 dB SNR of the
# exact decode (min over 62 sentences, median 66 dB): far below hearing, also at the join.
FIRST_CHUNK_RIGHT_CONTEXT = 8
LATER_CLAUSE_CHUNK_FRAMES = 1024   # later clauses: usually one decoder call per clause, no context overhead
SECOND_CLAUSE_FIRST_CHUNK_FRAMES = 48   # ~0.56 s: out well before a short first clause has played
# A message's first clause is decoded in chunks of these many first chunks, then CHUNK_FRAMES. The
# second is as small as the first: it must be out before the first (~90 ms of sound once its
# leading silence is cut) has played; at twice the size it came 6-16 ms late in a third of the bench
# sentences. Each later one is decoded while the audio before it plays, so it may be about as long
# as that audio (the third) and then, with 48 frames (~0.55 s) out, twice as long (the fourth): every
# chunk costs 2 x CONTEXT_FRAMES of decoding again (the schedule 12, 12, 24, 48, 96, 192 decoded
# ~9 chunks per bench sentence).
FIRST_CLAUSE_RAMP = (1, 1, 2, 8)
FIRST_FLOW_FRAMES = FIRST_CHUNK_FRAMES + FIRST_CHUNK_RIGHT_CONTEXT   # what the vocoder needs for its first chunk
# The flow's pieces get this much context each side. Its receptive field is ~26 frames (1e-4 exact),
# but the influence fades fast: with 20, a first clause's audio over its first 40 frames stays within
# 51 dB SNR of one flow pass (min over 62 sentences, median 90 dB; 16 frames fall to 19 dB), and
# the head the first audio waits for is 40 frames of flow instead of 50, its prefix ~4 ids shorter.
FLOW_CONTEXT_FRAMES = 20
PARALLEL_DECODE_MIN_FRAMES = 128   # shorter decodes run once on all threads: a split costs 2 x CONTEXT_FRAMES (a 48-frame chunk decoded 88)
# Piper's duration predictor gives the BOS symbol 2-4 frames before most words but ~25 (0.3 s of
# silence) before many vowel-initial ones ("Open ...", "Every ..."), at random; FastSpeech2's leading
# sil varies the same way (5-17 frames). Every clause keeps at most this many: a message's first
# sound is not a random 0.3 s late, and the pause between clauses (the previous clause's final
# punctuation) does not depend on the next clause's first letter.
MAX_LEADING_SILENCE_FRAMES = 3
# A message's first clause keeps only this much: the vocoder trims the silence before the first
# sound anyway (heard latency), so BOS frames in the first chunk were decoded only to be dropped;
# with one, that chunk carries ~2 frames more sound, time the second chunk has to be ready in.
FIRST_CLAUSE_LEADING_SILENCE_FRAMES = 1
# After a first clause's head, the flow gives this many frames on their own before the rest: with
# the head they are what the vocoder's second chunk needs (12 frames + 10 of context), so it is
# decoded before the first chunk (~100 ms of sound) has played. With the rest of the clause in one
# pass, the second chunk came 64-148 ms after the first and the listener heard a gap in 14 of 20
# bench sentences.
SECOND_PIECE_FRAMES = 2 * FIRST_CHUNK_FRAMES + CONTEXT_FRAMES - FIRST_FLOW_FRAMES
# A long first clause starts from a prefix run: the prior costs ~0.45 ms per id (2 threads), so the
# first frames come from the prior of the clause's first few words, and the rest from the whole
# clause's prior, joined at a word boundary (PiperAcoustic.first_clause_from_prefix). The prefix
# need only cover the first piece: the second piece waits for the whole clause's prior (~20-25 ms)
# and a short flow, out well before the first chunk has played. A prefix that also covered the
# second piece was ~7 ids longer: sentence TTFA p50 50.8 against 47.4 ms (80 bench sentences in
# interleaved runs), and no sentence had a gap either way.
PREFIX_FRAMES_PER_ID = 2.0      # frames per id at length_scale 1 (median 2.0, 5th percentile 1.55, first clauses)
PREFIX_MIN_SAVED_IDS = 16       # a prefix must leave at least this many ids out (~7 ms of prior) to be worth a second run


def load_verified_session(voice_dir: Path, manifest: Manifest, name: str, threads: int = 1) -> onnxruntime.InferenceSession:
    return make_session(verified_model_bytes(voice_dir, manifest, name), threads)


def verified_model_bytes(voice_dir: Path, manifest: Manifest, name: str) -> bytes:
    """Read the model file once and check those very bytes against the signed manifest; sessions are
    built from them: what runs is what was verified (no window between a check and a re-read)."""
    entry = manifest.files.get(name)
    if entry is None:
        raise ManifestError(f"voice {manifest.name}: {name} is not listed in the manifest; reinstall the voice")
    model_bytes = (voice_dir / name).read_bytes()
    digest = hashlib.sha256(model_bytes).hexdigest()
    if len(model_bytes) != entry.size or digest != entry.sha256:
        raise ManifestError(f"voice {manifest.name}: {name} as read ({len(model_bytes)} bytes, sha256 {digest[:16]}...) "
                            "does not match the manifest; the file was modified; reinstall the voice")
    return model_bytes


def make_session(model: Path | bytes, threads: int = 1) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Stages share two cores: idle intra-op threads must sleep, not spin, or they steal the other
    # stage's core.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


class PiperAcoustic:
    """Phoneme ids -> latent z [192, frames], in two steps: the prior (text encoder and duration
    predictor, whole clause; ~half the time) gives z_p, then the flow turns z_p into z. The flow is
    convolutional along frames with a receptive field of ~28 frames each side (measured:
    tests/test_models.py), so it runs in chunks with FLOW_CONTEXT_FRAMES of context and the first
    frames reach the vocoder before the flow has seen the whole clause."""

    run_options: onnxruntime.RunOptions | None = None    # the worker's RunInterrupter sets it

    def __init__(self, voice_dir: Path, manifest: Manifest, threads: int = 1):
        self.manifest = manifest
        self.prior = load_verified_session(voice_dir, manifest, "prior.onnx", threads)
        self.flow = load_verified_session(voice_dir, manifest, "flow.onnx", threads)
        names = {output.name for output in self.prior.get_outputs()}
        self.prior_outputs = [*PRIOR_OUTPUT_NAMES, *([DURATIONS_OUTPUT_NAME] if DURATIONS_OUTPUT_NAME in names else [])]
        id_map = manifest.phoneme_id_map
        self.space_id = id_map.get(" ", [None])[0]
        self.end_id = id_map.get("$", [None])[0]

    def run(self, ids: list[int], length_scale: float, noise_scale: float, noise_w: float) -> np.ndarray:
        z_p, y_mask, _durations = self.run_prior(ids, length_scale, noise_scale, noise_w)
        return self.run_flow(z_p, y_mask)

    def run_chunks(self, ids: list[int], length_scale: float, noise_scale: float, noise_w: float,
                   first_frames: int | None = None):
        """Yield z [192, n], its leading silence cut (leading_silence_kept): with first_frames
        (a message's first clause), those frames first (flow on them plus right context) and then the
        rest; without, the whole clause at once. Only a message's first clause is worth the extra
        flow work (~FLOW_CONTEXT_FRAMES frames twice): later clauses are synthesized while earlier
        ones play. A long first clause starts from a prefix run (first_clause_from_prefix)."""
        if first_frames:
            prefix_end = self.prefix_end(ids, length_scale, first_frames)
            if prefix_end is not None:
                yield from self.first_clause_from_prefix(ids, prefix_end, length_scale, noise_scale, noise_w,
                                                         first_frames)
                return
        yield from self.whole_clause(ids, length_scale, noise_scale, noise_w, first_frames)

    def whole_clause(self, ids: list[int], length_scale: float, noise_scale: float, noise_w: float,
                     first_frames: int | None):
        """One prior run on the whole clause, then the flow (in pieces for a first clause)."""
        z_p, y_mask, durations = self.run_prior(ids, length_scale, noise_scale, noise_w)
        z_p, y_mask, _cut = cut_leading_silence(z_p, y_mask, durations, leading_silence_kept(first_frames))
        cuts = [first_frames, first_frames + SECOND_PIECE_FRAMES] if first_frames else []
        yield from self.flow_in_pieces(z_p, y_mask, piece_bounds(0, cuts, z_p.shape[2]))

    def flow_in_pieces(self, z_p: np.ndarray, y_mask: np.ndarray, bounds: list[int]):
        """Yield the flow's z for frames [bounds[0], bounds[1]), [bounds[1], bounds[2]), ...; each
        piece is run on its frames plus up to FLOW_CONTEXT_FRAMES each side, so pieces join exactly
        (z_p must hold that context)."""
        total = z_p.shape[2]
        for lo, hi in zip(bounds, bounds[1:]):
            window_lo, window_hi = max(0, lo - FLOW_CONTEXT_FRAMES), min(total, hi + FLOW_CONTEXT_FRAMES)
            z = self.run_flow(z_p[:, :, window_lo:window_hi], y_mask[:, :, window_lo:window_hi])
            yield np.ascontiguousarray(z[:, lo - window_lo:hi - window_lo])

    def prefix_end(self, ids: list[int], length_scale: float, first_frames: int) -> int | None:
        """Where a prefix run for this clause would end (the index of a space id), or None when the
        clause is too short for one to pay. The prefix must hold a word boundary that is likely to
        lie after the first piece plus the flow's context, and one more word after it (so that
        boundary is not the prefix's phrase-final end)."""
        if self.space_id is None or self.end_id is None:
            return None
        needed = first_frames + FLOW_CONTEXT_FRAMES
        spaces = [index for index, symbol in enumerate(ids) if symbol == self.space_id]
        for boundary, end in zip(spaces, spaces[1:]):
            if boundary * PREFIX_FRAMES_PER_ID * length_scale >= needed:
                return end if len(ids) - end >= PREFIX_MIN_SAVED_IDS else None
        return None

    def first_clause_from_prefix(self, ids: list[int], prefix_end: int, length_scale: float, noise_scale: float,
                                 noise_w: float, first_frames: int):
        """A long first clause: the prior of its first words (ids[:prefix_end], ended like a clause)
        gives the first frames, then the whole clause's prior gives the rest, joined to the prefix's
        frames at a word boundary that lies past the frames taken from the prefix plus the flow's
        context. So the flow sees one consistent z_p and the pieces join exactly; the words before
        the boundary take their durations and noise from the prefix run, the rest from the whole
        clause's. The prefix's own last word (phrase-final) is never heard.

        Pieces: first_frames, then SECOND_PIECE_FRAMES more (the vocoder's second chunk), from the
        prefix when it reaches that far, else as a separate first piece after the join: then it
        waits for the whole clause's prior, which runs while the first chunk plays."""
        prefix = [*ids[:prefix_end], self.end_id]
        z_a, mask_a, durations_a = self.run_prior(prefix, length_scale, noise_scale, noise_w)
        z_a, mask_a, cut_a = cut_leading_silence(z_a, mask_a, durations_a, leading_silence_kept(first_frames))
        second = first_frames + SECOND_PIECE_FRAMES
        boundary = None
        if durations_a is not None:
            starts_a = np.concatenate([[0], np.cumsum(durations_a)]).astype(int) - cut_a
            spaces = [index for index in range(1, prefix_end) if ids[index] == self.space_id]
            boundary = (next((index for index in spaces if starts_a[index] >= second + FLOW_CONTEXT_FRAMES), None)
                        or next((index for index in spaces if starts_a[index] >= first_frames + FLOW_CONTEXT_FRAMES), None))
        if boundary is None:    # speech faster than estimated (or an old split): the usual way
            yield from self.whole_clause(ids, length_scale, noise_scale, noise_w, first_frames)
            return
        join_a = int(starts_a[boundary])
        taken = second if join_a >= second + FLOW_CONTEXT_FRAMES else first_frames
        yield from self.flow_in_pieces(z_a, mask_a, sorted({0, first_frames, taken}))   # frames before the join only
        z_b, mask_b, durations_b = self.run_prior(ids, length_scale, noise_scale, noise_w)
        z_b, mask_b, cut_b = cut_leading_silence(z_b, mask_b, durations_b, leading_silence_kept(first_frames))
        join_b = int(np.sum(durations_b[:boundary])) - cut_b
        z_p = np.concatenate([z_a[:, :, :join_a], z_b[:, :, join_b:]], axis=2)
        y_mask = np.concatenate([mask_a[:, :, :join_a], mask_b[:, :, join_b:]], axis=2)
        yield from self.flow_in_pieces(z_p, y_mask, piece_bounds(taken, [second], z_p.shape[2]))

    def run_prior(self, ids: list[int], length_scale: float, noise_scale: float,
                  noise_w: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(z_p, y_mask, durations); durations (frames per id) is None for a voice split by an older ttsd."""
        phonemes = np.asarray([ids], dtype=np.int64)
        feed = {
            "input": phonemes,
            "input_lengths": np.asarray([phonemes.shape[1]], dtype=np.int64),
            "scales": np.asarray([noise_scale, length_scale, noise_w], dtype=np.float32),
        }
        outputs = self.prior.run(self.prior_outputs, feed, self.run_options)
        durations = outputs[2].reshape(-1) if len(outputs) > 2 else None
        return outputs[0], outputs[1], durations

    def run_flow(self, z_p: np.ndarray, y_mask: np.ndarray) -> np.ndarray:
        z = self.flow.run(None, {"z_p": np.ascontiguousarray(z_p), "y_mask": np.ascontiguousarray(y_mask)},
                          self.run_options)[0]
        return np.ascontiguousarray(z[0], dtype=np.float32)

    def warm_up(self) -> None:
        self.run([1, 0, 20, 0, 59, 0, 24, 0, 2], 1.0, 0.667, 0.8)


def piece_bounds(start: int, cuts: list[int], total: int) -> list[int]:
    """Frame bounds for the flow's pieces from start to total: each cut after start is kept only if
    it leaves a tail longer than the flow's context (else that piece's right context would be short)."""
    return [start, *[cut for cut in cuts if start < cut and total > cut + FLOW_CONTEXT_FRAMES], total]


def leading_silence_kept(first_frames: int | None) -> int:
    """BOS frames a clause keeps: fewer for a message's first clause (first_frames set)."""
    return FIRST_CLAUSE_LEADING_SILENCE_FRAMES if first_frames else MAX_LEADING_SILENCE_FRAMES


def cut_leading_silence(z_p: np.ndarray, y_mask: np.ndarray, durations: np.ndarray | None,
                        keep: int = MAX_LEADING_SILENCE_FRAMES) -> tuple[np.ndarray, np.ndarray, int]:
    """Drop BOS frames beyond `keep` from z_p; also returns how many were cut. The prior expands
    each id's statistics over its frames, so cutting frames of one id is the same as a shorter
    duration for it."""
    if durations is None or len(durations) == 0:
        return z_p, y_mask, 0
    excess = int(durations[0]) - keep
    if excess <= 0 or excess >= z_p.shape[2]:
        return z_p, y_mask, 0
    return z_p[:, :, excess:], y_mask[:, :, excess:], excess


class FastSpeech2Acoustic:
    """Baker phone ids -> normalised log-mel [80, frames] (a mel voice's acoustic stage).

    The model has position embeddings for at most manifest.max_frames (2048) mel frames; longer
    inputs are split at syllable boundaries and the mels joined (the front-end already keeps clauses
    short; this guards slow rates)."""

    FRAMES_PER_ID_BOUND = 8      # measured ~5.5 mel frames per phone id at speed 1.0; 8 leaves margin
    run_options: onnxruntime.RunOptions | None = None

    def __init__(self, voice_dir: Path, manifest: Manifest, threads: int = 1):
        self.manifest = manifest
        self.session = load_verified_session(voice_dir, manifest, "acoustic.onnx", threads)
        id_map = manifest.phoneme_id_map
        self.edge_id = id_map["sil"][0]
        self.boundary_id = id_map["#0"][0]
        self.end_id = id_map["eos"][0]
        self.max_frames = manifest.max_frames or 2048

    def run_chunks(self, ids: list[int], length_scale: float, noise_scale: float = 0.0, noise_w: float = 0.0,
                   first_frames: int | None = None):
        """FastSpeech2 is one non-autoregressive pass: the whole mel at once, keeping at most
        MAX_LEADING_SILENCE_FRAMES of its leading `sil` (up to ~0.2 s before some words, "欢迎 ...")."""
        mel, leading = self._synthesize(ids, length_scale)
        yield mel[:, max(0, leading - MAX_LEADING_SILENCE_FRAMES):]

    def run(self, ids: list[int], length_scale: float, noise_scale: float = 0.0, noise_w: float = 0.0) -> np.ndarray:
        return self._synthesize(ids, length_scale)[0]

    def _synthesize(self, ids: list[int], length_scale: float) -> tuple[np.ndarray, int]:
        """(mel [80, frames], frames of the leading sil)."""
        budget = max(8, int(self.max_frames / (self.FRAMES_PER_ID_BOUND * max(length_scale, 0.1))))
        parts = [self._run_one(part, length_scale) for part in self._split(ids, budget)]
        mel = np.ascontiguousarray(np.concatenate([part for part, _ in parts], axis=1), dtype=np.float32)
        return mel, parts[0][1]

    def _run_one(self, ids: list[int], length_scale: float) -> tuple[np.ndarray, int]:
        feed = {
            "input_ids": np.asarray([ids], dtype=np.int32),
            "speaker_ids": np.zeros(1, dtype=np.int32),
            "speed_ratios": np.asarray([length_scale], dtype=np.float32),   # a duration multiplier
            "f0_ratios": np.ones(1, dtype=np.float32),
            "energy_ratios": np.ones(1, dtype=np.float32),
        }
        mel, durations = self.session.run(["Identity_1", "Identity_2"], feed, self.run_options)
        durations = durations.reshape(-1)
        # Identity_2 is TensorFlowTTS's duration output; if it ever does not place every frame, cut nothing.
        leading = int(durations[0]) if int(durations.sum()) == mel.shape[1] else 0
        return mel[0].T, leading

    def _split(self, ids: list[int], budget: int) -> list[list[int]]:
        """Cut at the #0 nearest the middle until every part fits; each part keeps sil ... sil eos."""
        if len(ids) <= budget:
            return [ids]
        body = [i for i in ids if i not in (self.edge_id, self.end_id)]
        cuts = [k for k, i in enumerate(body) if i == self.boundary_id]
        if not cuts:
            raise ValueError(f"clause of {len(ids)} phone ids is too long for one call and has no syllable "
                             "boundary to split at")
        middle = min(cuts, key=lambda k: abs(k - len(body) // 2))
        halves = (body[:middle], body[middle + 1:])
        wrapped = [[self.edge_id, *half, self.edge_id, self.end_id] for half in halves if half]
        return [part for half in wrapped for part in self._split(half, budget)]

    def warm_up(self) -> None:
        self.run([self.edge_id, self.boundary_id, self.edge_id, self.end_id], 1.0)


class OnnxDecoder:
    """A convolutional decoder: frames [channels, n] -> float audio [n * hop], run in chunks.

    With threads > 1, an input of PARALLEL_DECODE_MIN_FRAMES or more is cut into `threads` pieces,
    each with context on both sides (so the joined audio equals one run's), decoded at the same time
    by single-threaded runs; shorter ones run once on `threads` intra-op threads. Single-threaded runs
    use the graph rewritten for onnxruntime's NCHWc kernels (engine/conv2d_layout.py). Why: intra-op
    threads meet after every op, so while the acoustic stage holds a core, one of them stalls the
    other; pieces never wait for each other (measured on 2 cores with the acoustic stage busy: 0.67
    -> 0.50 ms per frame; 3-paragraph text ~8 % less wall time)."""

    model_file = ""
    run_options: onnxruntime.RunOptions | None = None
    first_chunk_frames = FIRST_CHUNK_FRAMES
    chunk_frames = CHUNK_FRAMES
    context_frames = CONTEXT_FRAMES
    first_chunk_right_context: int | None = None     # None: a message's first chunk gets context_frames too

    def __init__(self, voice_dir: Path, manifest: Manifest, threads: int = 1):
        self.manifest = manifest
        self.hop = manifest.hop_length
        self.channels = manifest.latent_channels
        self.threads = threads
        model = verified_model_bytes(voice_dir, manifest, self.model_file)
        single_threaded = nchwc_decoder(model) or model     # the same weights, ~10 % faster on one thread
        self.session = make_session(model if threads > 1 else single_threaded, threads)
        self.piece_session = make_session(single_threaded, 1) if threads > 1 else None
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="decode") if threads > 1 else None

    def decode(self, frames: np.ndarray) -> np.ndarray:
        total = frames.shape[1]
        if self.pool is None or total < PARALLEL_DECODE_MIN_FRAMES:
            return self.run(self.session, frames)
        context, hop = self.context_frames, self.hop
        cuts = [total * index // self.threads for index in range(self.threads + 1)]
        spans = [(max(0, start - context), min(total, end + context), start, end) for start, end in zip(cuts, cuts[1:])]
        pieces = self.pool.map(lambda span: self.run(self.piece_session, frames[:, span[0]:span[1]]), spans)
        return np.concatenate([audio[(start - lo) * hop:(end - lo) * hop]
                               for audio, (lo, _hi, start, end) in zip(pieces, spans)])

    def run(self, session: onnxruntime.InferenceSession, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def warm_up(self) -> None:
        first_right = self.context_frames if self.first_chunk_right_context is None else self.first_chunk_right_context
        for frames in (FIRST_CHUNK_FRAMES + first_right, FIRST_CHUNK_FRAMES + 2 * self.context_frames,
                       PARALLEL_DECODE_MIN_FRAMES):
            self.decode(np.zeros((self.channels, frames), dtype=np.float32))


class PiperDecoder(OnnxDecoder):
    """Piper's HiFi-GAN: latent z [192, frames] -> audio [frames * 256]."""

    model_file = "decoder.onnx"
    first_chunk_right_context = FIRST_CHUNK_RIGHT_CONTEXT

    def run(self, session: onnxruntime.InferenceSession, z: np.ndarray) -> np.ndarray:
        audio = session.run(None, {"z": np.ascontiguousarray(z[np.newaxis], dtype=np.float32)}, self.run_options)[0]
        return audio.reshape(-1)


class MelGanDecoder(OnnxDecoder):
    """Normalised log-mel [80, frames] -> float audio [frames * 300] (Multi-band MelGAN).

    Chunked decoding with MELGAN_CONTEXT_FRAMES of context equals one-shot decoding exactly: its
    receptive field is 18 mel frames each side (measured, tests/test_mel_voice.py)."""

    model_file = "vocoder.onnx"

    def __init__(self, voice_dir: Path, manifest: Manifest, threads: int = 1):
        super().__init__(voice_dir, manifest, threads)
        self.context_frames = manifest.decoder_context_frames

    def run(self, session: onnxruntime.InferenceSession, mel: np.ndarray) -> np.ndarray:
        audio = session.run(None, {"mels": np.ascontiguousarray(mel.T[np.newaxis], dtype=np.float32)},
                            self.run_options)[0]
        return audio.reshape(-1)


class GriffinLimDecoder:
    """Any mel voice through numpy Griffin-Lim: the fallback when the neural vocoder is unavailable,
    and selectable per request. Phase estimates do not join across chunks, so a clause is vocoded
    whole (chunk sizes larger than any clause)."""

    context_frames = 0
    first_chunk_right_context = None
    first_chunk_frames = 1 << 20
    chunk_frames = 1 << 20

    def __init__(self, manifest: Manifest):
        from engine.griffin_lim import GriffinLimVocoder, MelParameters
        if not manifest.mel:
            raise ValueError(f"voice {manifest.name} has no mel parameters in its manifest; reinstall it")
        self.manifest = manifest
        self.hop = manifest.hop_length
        self.channels = manifest.latent_channels
        self.vocoder = GriffinLimVocoder(MelParameters.from_dict(manifest.mel))

    def decode(self, mel: np.ndarray) -> np.ndarray:
        return self.vocoder.vocode(np.ascontiguousarray(mel.T))

    def warm_up(self) -> None:
        self.decode(np.zeros((self.channels, 8), dtype=np.float32))


@dataclass
class ChunkedDecoder:
    """Decodes one clause's frames as they arrive, in chunks with context on both sides."""

    decoder: object               # PiperDecoder, MelGanDecoder or GriffinLimDecoder
    context: int = CONTEXT_FRAMES
    first_right_context: int | None = None   # right context of the first chunk (None: context)
    first_chunk: int = FIRST_CHUNK_FRAMES
    chunk: int = CHUNK_FRAMES
    ramp: bool = True             # a message's first clause: FIRST_CLAUSE_RAMP; else first_chunk, then chunk
    gain: float = 1.0
    frames: list[np.ndarray] = field(default_factory=list)
    total: int = 0
    decoded: int = 0
    chunks_done: int = 0

    def push(self, z_part: np.ndarray) -> list[np.ndarray]:
        """Add frames [192, n]; return audio for every chunk whose right context is now known."""
        self.frames.append(z_part)
        self.total += z_part.shape[1]
        out = []
        while self.total - self.decoded >= self._next_size() + self._right_context():
            out.append(self._decode_until(self.decoded + self._next_size()))
        return out

    def finish(self) -> list[np.ndarray]:
        """The clause is complete: decode what is left."""
        out = []
        while self.decoded < self.total:
            out.append(self._decode_until(min(self.total, self.decoded + self._next_size())))
        return out

    def _right_context(self) -> int:
        if self.chunks_done == 0 and self.first_right_context is not None:
            return self.first_right_context
        return self.context

    def _next_size(self) -> int:
        if not self.ramp:
            return self.first_chunk if self.chunks_done == 0 else self.chunk
        if self.chunks_done < len(FIRST_CLAUSE_RAMP):
            return min(self.chunk, self.first_chunk * FIRST_CLAUSE_RAMP[self.chunks_done])
        return self.chunk

    def _decode_until(self, end: int) -> np.ndarray:
        if len(self.frames) > 1:
            self.frames = [np.concatenate(self.frames, axis=1)]
        z = self.frames[0]
        lo = max(0, self.decoded - self.context)
        hi = min(self.total, end + self._right_context())
        audio = self.decoder.decode(z[:, lo:hi])
        hop = self.decoder.hop
        piece = audio[(self.decoded - lo) * hop:(end - lo) * hop]
        self.decoded = end
        self.chunks_done += 1
        return piece


def chunked_decoder_for(decoder, clause: int = 0) -> ChunkedDecoder:
    """A clause's chunking state with the decoder's own context and chunk sizes. A message's first
    clause starts with a small chunk (time to first audio). Its second clause starts with a
    medium one: it must begin before the short first clause has finished playing (a 4 s second
    clause decoded in one piece arrived ~200 ms after the first ran out). Later clauses are decoded
    while earlier ones play, so they go in one piece: every chunk costs 2 x context frames extra."""
    later = max(decoder.chunk_frames, LATER_CLAUSE_CHUNK_FRAMES)
    if clause == 0:
        return ChunkedDecoder(decoder, context=decoder.context_frames, first_chunk=decoder.first_chunk_frames,
                              chunk=decoder.chunk_frames,
                              first_right_context=decoder.first_chunk_right_context)
    first = max(decoder.first_chunk_frames, SECOND_CLAUSE_FIRST_CHUNK_FRAMES) if clause == 1 else later
    return ChunkedDecoder(decoder, context=decoder.context_frames, first_chunk=first, chunk=later, ramp=False)


def decode_in_chunks(decoder, z: np.ndarray, first_chunk: int, chunk: int,
                     context: int = CONTEXT_FRAMES, arrival: int = 7) -> np.ndarray:
    """Decode z as the vocoder worker does (frames arriving `arrival` at a time); for tests and bench."""
    chunked = ChunkedDecoder(decoder, context=context, first_chunk=first_chunk, chunk=chunk)
    pieces = []
    for start in range(0, z.shape[1], arrival):
        pieces.extend(chunked.push(z[:, start:start + arrival]))
    pieces.extend(chunked.finish())
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


LEADING_SILENCE_LEVEL = 0.004    # decoder output below this is inaudible (~-48 dBFS)
LEADING_SILENCE_KEEP = 0.005     # seconds kept before the first sound, for a natural attack


def trim_leading_silence(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Drop the near-silence Piper voices put before speech (~60 ms): heard latency, not decode
    latency, is what a screen-reader user feels. Only used on a message's first chunk."""
    loud = np.flatnonzero(np.abs(audio) > LEADING_SILENCE_LEVEL)
    if len(loud) == 0:
        return audio
    start = max(0, loud[0] - int(LEADING_SILENCE_KEEP * sample_rate))
    return audio[start:]


def to_pcm16(audio: np.ndarray, gain: float) -> bytes:
    """Fixed gain (streaming cannot normalise per utterance), clipped to int16."""
    scaled = np.clip(audio * (gain * 32767.0), -32768.0, 32767.0)
    return scaled.astype("<i2").tobytes()
