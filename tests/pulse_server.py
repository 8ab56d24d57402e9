"""A private PulseAudio server for the device-sink tests and `ttsd bench`: a thin layer over
tests/audio_fixtures.py that owns its temporary directory and captures at any rate."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests import audio_fixtures


@dataclass
class PulseServer:
    base: Path
    server: audio_fixtures.PulseServer

    @property
    def env(self) -> dict[str, str]:
        return self.server.env

    def capture(self, rate: int) -> "Capture":
        assert rate == audio_fixtures.CAPTURE_RATE, "the null sink captures at CAPTURE_RATE"
        path = self.base / f"capture-{time.monotonic_ns()}.raw"
        return Capture(audio_fixtures.start_capture(self.server, path))

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@dataclass
class Capture:
    inner: audio_fixtures.Capture

    def stop(self) -> np.ndarray:
        time.sleep(0.3)      # let the last played audio reach the monitor
        return self.inner.stop().astype(np.float64)


def voiced_seconds(samples: np.ndarray, rate: int, threshold: float = 300.0) -> float:
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return 0.0 if len(loud) == 0 else (loud[-1] - loud[0]) / rate


def start_pulse_server() -> PulseServer | None:
    """None when PulseAudio is not installed (scripts/test.sh installs it)."""
    if not shutil.which("pulseaudio") or not shutil.which("parec"):
        return None
    base = Path(tempfile.mkdtemp(prefix="ttsd-pulse-"))
    return PulseServer(base=base, server=audio_fixtures.start_pulse(base))
