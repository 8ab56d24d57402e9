"""onnxruntime sessions for a piper-split voice, and chunked decoding with context.

Chunked decoding: the decoder is convolutional with a receptive field of about 10 latent frames
each side, so decoding z[a-C : b+C] and keeping the samples of frames [a, b) gives the same audio
as decoding the whole clause at once, as long as C covers the receptive field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime

from models.manifest import Manifest

FIRST_CHUNK_FRAMES = 12      # small first chunk: first PCM leaves quickly
CHUNK_FRAMES = 192           # chunks double up to this: context overhead falls to (192 + 24) / 192
CONTEXT_FRAMES = 12          # > the decoder's ~10-frame receptive field (measured in tests)


def make_session(path: Path, threads: int = 1) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Stages share two cores: idle intra-op threads must sleep, not spin, or they steal the other
    # stage's core.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class PiperAcoustic:
    """Phoneme ids -> latent z [192, frames]."""

    def __init__(self, voice_dir: Path, manifest: Manifest, threads: int = 1):
        self.manifest = manifest
        self.session = make_session(voice_dir / "acoustic.onnx", threads)

    def run(self, ids: list[int], length_scale: float, noise_scale: float, noise_w: float) -> np.ndarray:
        phonemes = np.asarray([ids], dtype=np.int64)
        feed = {
            "input": phonemes,
            "input_lengths": np.asarray([phonemes.shape[1]], dtype=np.int64),
            "scales": np.asarray([noise_scale, length_scale, noise_w], dtype=np.float32),
        }
        z = self.session.run(None, feed)[0]
        return np.ascontiguousarray(z[0], dtype=np.float32)

    def warm_up(self) -> None:
        self.run([1, 0, 20, 0, 59, 0, 24, 0, 2], 1.0, 0.667, 0.8)


class PiperDecoder:
    """Latent z [192, frames] -> float audio [frames * hop]."""

    def __init__(self, voice_dir: Path, manifest: Manifest, threads: int = 1):
        self.manifest = manifest
        self.hop = manifest.hop_length
        self.channels = manifest.latent_channels
        self.session = make_session(voice_dir / "decoder.onnx", threads)

    def decode(self, z: np.ndarray) -> np.ndarray:
        audio = self.session.run(None, {"z": z[np.newaxis].astype(np.float32, copy=False)})[0]
        return audio.reshape(-1)

    def warm_up(self) -> None:
        self.decode(np.zeros((self.channels, FIRST_CHUNK_FRAMES + 2 * CONTEXT_FRAMES), dtype=np.float32))


@dataclass
class ChunkedDecoder:
    """Decodes one clause's frames as they arrive, in chunks with context on both sides."""

    decoder: PiperDecoder
    context: int = CONTEXT_FRAMES
    first_chunk: int = FIRST_CHUNK_FRAMES
    chunk: int = CHUNK_FRAMES
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
        while self.total - self.decoded >= self._next_size() + self.context:
            out.append(self._decode_until(self.decoded + self._next_size()))
        return out

    def finish(self) -> list[np.ndarray]:
        """The clause is complete: decode what is left."""
        out = []
        while self.decoded < self.total:
            out.append(self._decode_until(min(self.total, self.decoded + self._next_size())))
        return out

    def _next_size(self) -> int:
        return min(self.chunk, self.first_chunk << min(self.chunks_done, 16))

    def _decode_until(self, end: int) -> np.ndarray:
        if len(self.frames) > 1:
            self.frames = [np.concatenate(self.frames, axis=1)]
        z = self.frames[0]
        lo = max(0, self.decoded - self.context)
        hi = min(self.total, end + self.context)
        audio = self.decoder.decode(z[:, lo:hi])
        hop = self.decoder.hop
        piece = audio[(self.decoded - lo) * hop:(end - lo) * hop]
        self.decoded = end
        self.chunks_done += 1
        return piece


def decode_in_chunks(decoder: PiperDecoder, z: np.ndarray, first_chunk: int, chunk: int,
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
