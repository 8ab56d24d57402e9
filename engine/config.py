"""Daemon and worker configuration: dataclasses, read once at start."""

from __future__ import annotations

import hashlib
import os
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ipc.messages import MAX_MESSAGE_BYTES, MAX_TEXT_CHARS

WORKER_NAMES = ("frontend", "acoustic", "vocoder", "sink")
# The decoder is the pipeline's heaviest stage (~0.45 ms per frame on one core); two intra-op
# threads nearly halve it (measured 0.48 -> 0.26 ms/frame), and the acoustic stage idles most of
# the time, so the vocoder gets two threads where the machine has them.
VOCODER_THREADS = min(2, os.cpu_count() or 1)
OUTPUT_GAIN = 1.6   # fixed gain on the decoder's tanh output; see README "Loudness"


@dataclass
class DaemonConfig:
    runtime_dir: Path
    data_dir: Path
    endpoint: str
    system: bool = False
    default_voice: str | None = None
    default_rate: float = 1.0
    default_volume: float = 1.0
    output_gain: float = OUTPUT_GAIN
    max_text_chars: int = MAX_TEXT_CHARS
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_queued_jobs: int = 256
    frames_ring_bytes: int = 8 << 20
    pcm_ring_bytes: int = 4 << 20
    onnx_threads: int = 1
    vocoder_threads: int = VOCODER_THREADS
    device: str = ""                    # audio output device (name part or index); "" = default
    integrity_interval: float = 300.0   # seconds between re-hashes of every loaded voice; 0 = off
    allow_unsigned: bool = False        # load voices whose manifest signature fails (with a warning)
    heartbeat_interval: float = 1.0
    worker_timeout: float = 15.0        # no heartbeat for this long: the worker is hung
    startup_timeout: float = 120.0      # model loading and warm-up

    @property
    def instance(self) -> str:
        """Short id that names this daemon's shared-memory segments (one daemon per runtime dir)."""
        return hashlib.sha1(str(self.runtime_dir.resolve()).encode()).hexdigest()[:8]

    @property
    def segment_prefix(self) -> str:
        return f"ttsd_{self.instance}_"

    @property
    def control_endpoint(self) -> str:
        return f"ipc://{self.runtime_dir / 'control.sock'}"

    def bell_endpoint(self, worker: str) -> str:
        return f"ipc://{self.runtime_dir / (worker + '.bell')}"


@dataclass
class VoiceRef:
    name: str
    path: str


@dataclass
class WorkerConfig:
    """What a worker process needs; the supervisor writes it as JSON and passes the path."""
    name: str
    control_endpoint: str
    bell_endpoint: str              # this worker's doorbell (PULL), "" if it has no ring input
    next_bell_endpoint: str         # the next stage's doorbell (PUSH), "" if none
    frames_ring: str
    pcm_ring: str
    voices: list[VoiceRef] = field(default_factory=list)
    g2p_data_dir: str = ""
    onnx_threads: int = 1
    output_gain: float = OUTPUT_GAIN
    device: str = ""
    heartbeat_interval: float = 1.0
    supervisor_timeout: float = 10.0

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @staticmethod
    def load(path: Path) -> "WorkerConfig":
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        raw["voices"] = [VoiceRef(**voice) for voice in raw["voices"]]
        return WorkerConfig(**raw)
