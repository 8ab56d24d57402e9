"""Daemon and worker configuration: dataclasses, read once at start."""

from __future__ import annotations

import hashlib
import os
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ipc.messages import MAX_MESSAGE_BYTES, MAX_TEXT_CHARS

WORKER_NAMES = ("frontend", "acoustic", "vocoder", "sink")
# The decoder is the pipeline's heaviest stage (~70 % of the work): two threads nearly halve a
# decode (measured 0.66 -> 0.36 ms/frame alone; long inputs go as two single-threaded pieces,
# engine/voice_models.py OnnxDecoder), so the vocoder gets two threads where the machine has them.
VOCODER_THREADS = min(2, os.cpu_count() or 1)
# The acoustic stage gets two threads too: a message's first prior and flow head run while the
# vocoder waits for them, so a second core cuts time to first audio (flow head 50 frames 27.6 ->
# 16.4 ms, prior 60 ids 38 -> 33 ms; `ttsd bench` sentence TTFA p50 98 -> 76 ms on 2 cores), and
# paragraph wall time did not change (0.98 -> 1.00 of piper-tts's, within run-to-run noise).
ACOUSTIC_THREADS = min(2, os.cpu_count() or 1)
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
    onnx_threads: int = ACOUSTIC_THREADS
    vocoder_threads: int = VOCODER_THREADS
    device: str = ""                    # audio output device (name part or index); "" = default
    integrity_interval: float = 300.0   # seconds between re-hashes of every loaded voice; 0 = off
    allow_unsigned: bool = False        # load voices whose manifest signature fails (with a warning)
    heartbeat_interval: float = 1.0
    worker_timeout: float = 15.0        # no heartbeat for this long: the worker is hung
    startup_timeout: float = 120.0      # model loading and warm-up
    backoff_start: float = 1.0          # first restart delay of a dead worker; doubles each time ...
    backoff_max: float = 32.0           # ... up to this
    stable_after: float = 60.0          # a worker up this long gets its backoff reset
    tcp_endpoint: str = ""              # e.g. tcp://0.0.0.0:5599: off unless set; CURVE keys from the trust store
    socket_group: str = ""              # group that may use the socket (system mode: "ttsd" if it exists)
    audio_cache_mb: float = 32.0        # audio of recently spoken short texts, replayed on repeat; 0 = off

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

    @property
    def interrupt_endpoint(self) -> str:
        return f"ipc://{self.runtime_dir / 'interrupt.sock'}"

    def bell_endpoint(self, worker: str) -> str:
        return f"ipc://{self.runtime_dir / (worker + '.bell')}"


# What the config file may set (TOML, `ttsd serve --config`); everything else comes from the command line.
FILE_SETTINGS = ("default_voice", "default_rate", "default_volume", "output_gain", "max_text_chars",
                 "max_message_bytes", "max_queued_jobs", "onnx_threads", "vocoder_threads", "device",
                 "integrity_interval", "heartbeat_interval", "worker_timeout", "startup_timeout",
                 "backoff_start", "backoff_max", "stable_after", "tcp_endpoint", "socket_group",
                 "audio_cache_mb")


class ConfigError(ValueError):
    """The config file is unreadable or holds an unknown key or a value of the wrong type."""


def read_config_file(path: Path) -> dict:
    """Settings from a TOML file (keys as in FILE_SETTINGS), checked against DaemonConfig's types."""
    import tomllib

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    defaults = DaemonConfig(runtime_dir=Path("."), data_dir=Path("."), endpoint="")
    settings = {}
    for key, value in raw.items():
        if key not in FILE_SETTINGS:
            raise ConfigError(f"config file {path}: unknown setting {key!r}; known: {', '.join(FILE_SETTINGS)}")
        default = getattr(defaults, key)
        expected = float if isinstance(default, float) else type(default) if default is not None else str
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise ConfigError(f"config file {path}: {key} must be a {expected.__name__}, not {value!r}")
        settings[key] = value
    return settings


@dataclass
class VoiceRef:
    name: str
    path: str
    manifest_sha256: str = ""     # of the manifest the supervisor verified; workers load only that one


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
    g2p_manifest_sha256: str = ""   # of the G2P data's manifest the supervisor verified; "" without English voices
    interrupt_endpoint: str = ""    # the supervisor's cancel broadcast (PUB), for stopping model runs
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
