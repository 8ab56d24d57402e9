"""A private PulseAudio server with a capturable null sink, as in shared/docs/test-environment.md."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class PulseServer:
    runtime_dir: Path
    process: subprocess.Popen

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime_dir)}

    def capture(self, rate: int) -> "Capture":
        return Capture(self, rate)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


class Capture:
    """parec from the null sink's monitor, started before playing and stopped after."""

    def __init__(self, server: PulseServer, rate: int):
        self.rate = rate
        self.path = server.runtime_dir / f"capture-{time.monotonic_ns()}.raw"
        self.handle = open(self.path, "wb")
        self.process = subprocess.Popen(["parec", "-d", "nullsink.monitor", "--format=s16le", f"--rate={rate}",
                                         "--channels=1", "--raw", "--latency-msec=20"],
                                        stdout=self.handle, env=server.env)
        time.sleep(0.3)

    def stop(self) -> np.ndarray:
        time.sleep(0.3)
        self.process.terminate()
        self.process.wait(timeout=10)
        self.handle.close()
        return np.frombuffer(self.path.read_bytes(), dtype="<i2").astype(np.float64)


def voiced_seconds(samples: np.ndarray, rate: int, threshold: float = 300.0) -> float:
    loud = np.flatnonzero(np.abs(samples) > threshold)
    return 0.0 if len(loud) == 0 else (loud[-1] - loud[0]) / rate


def start_pulse_server() -> PulseServer | None:
    """None when PulseAudio is not installed (scripts/test.sh installs it)."""
    if not shutil.which("pulseaudio") or not shutil.which("parec"):
        return None
    runtime = Path(tempfile.mkdtemp(prefix="ttsd-pulse-"))
    os.chmod(runtime, 0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    process = subprocess.Popen(["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n",
                                "-L", "module-null-sink sink_name=nullsink", "-L", "module-native-protocol-unix",
                                f"--log-target=file:{runtime}/pulse.log"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = PulseServer(runtime_dir=runtime, process=process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError("PulseAudio did not start")
