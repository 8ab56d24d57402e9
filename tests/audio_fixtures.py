"""Real audio plumbing for tests: a private PulseAudio with a null sink, captures of what reached
it (parec on nullsink.monitor), and a private speech-dispatcher with ttsd registered as a module.

Nothing here touches the user's sound server or speech-dispatcher: every process gets its own
XDG_RUNTIME_DIR, socket and config directory under a temporary directory, and is stopped by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CAPTURE_RATE = 22050
SILENCE_LEVEL = 200          # |sample| above this counts as sound (speech peaks are ~10,000+)
SPEECHD_PYTHON = Path("/usr/lib/python3/dist-packages/speechd")
REQUIRED_BINARIES = ("pulseaudio", "pactl", "parec", "speech-dispatcher", "spd-say")


def missing_packages() -> list[str]:
    """What is not installed (scripts/setup.sh installs it with TTSD_SETUP_TESTS=1)."""
    missing = [name for name in REQUIRED_BINARIES if shutil.which(name) is None]
    if not SPEECHD_PYTHON.is_dir():
        missing.append("python3-speechd")
    if not Path("/usr/lib/speech-dispatcher-modules/sd_espeak-ng").exists():
        missing.append("speech-dispatcher-espeak-ng")
    return missing


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@dataclass
class PulseServer:
    runtime_dir: Path
    process: subprocess.Popen

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime_dir), "PULSE_SERVER": f"unix:{self.socket}"}

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "pulse" / "native"

    def stop(self) -> None:
        stop_process(self.process)


def start_pulse(base: Path) -> PulseServer:
    runtime = base / "xdg"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    process = subprocess.Popen(["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n",
                                "-L", f"module-null-sink sink_name=nullsink rate={CAPTURE_RATE}",
                                "-L", "module-native-protocol-unix", f"--log-target=file:{base / 'pulse.log'}"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = PulseServer(runtime_dir=runtime, process=process)

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"pulseaudio exited: {(base / 'pulse.log').read_text(errors='replace')[-2000:]}")
        return subprocess.run(["pactl", "info"], env=server.env, capture_output=True).returncode == 0

    wait_for(ready, 20, "pulseaudio to answer pactl info")
    return server


@dataclass
class Capture:
    """parec of the null sink's monitor into a file; samples() reads what arrived so far."""
    path: Path
    process: subprocess.Popen

    def samples(self) -> np.ndarray:
        data = self.path.read_bytes()
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int32)

    def stop(self) -> np.ndarray:
        stop_process(self.process)
        return self.samples()


def start_capture(pulse: PulseServer, path: Path) -> Capture:
    out = open(path, "wb")
    process = subprocess.Popen(["parec", "-d", "nullsink.monitor", "--format=s16le", f"--rate={CAPTURE_RATE}",
                                "--channels=1", "--raw", "--latency-msec=20"], stdout=out, env=pulse.env)
    out.close()
    capture = Capture(path=path, process=process)
    wait_for(lambda: path.stat().st_size > 0, 10, "parec to deliver samples")
    return capture


def sound_span(samples: np.ndarray, rate: int = CAPTURE_RATE) -> tuple[float, float] | None:
    """(first, last) time in seconds of sound in a capture, None if it is all silence."""
    loud = np.nonzero(np.abs(samples) > SILENCE_LEVEL)[0]
    if len(loud) == 0:
        return None
    return loud[0] / rate, loud[-1] / rate


@dataclass
class SpeechDispatcher:
    config_dir: Path
    run_dir: Path
    env: dict[str, str]
    pid: int
    modules: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"unix_socket:{self.run_dir / 'speechd.sock'}"

    def client_env(self) -> dict[str, str]:
        return {**self.env, "SPEECHD_ADDRESS": self.address}

    def spd_say(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["spd-say", *args], env=self.client_env(), capture_output=True, timeout=timeout)

    def spd_say_background(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(["spd-say", *args], env=self.client_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def log(self, name: str = "speech-dispatcher") -> str:
        path = self.run_dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            wait_for(lambda: not Path(f"/proc/{self.pid}").exists() or _is_zombie(self.pid), 15,
                     "speech-dispatcher to exit")
        except TimeoutError:
            os.kill(self.pid, signal.SIGKILL)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def start_speech_dispatcher(base: Path, pulse: PulseServer, ttsd_endpoint: str,
                            extra_config: list[str] | None = None, default_module: str = "ttsd") -> SpeechDispatcher:
    """speech-dispatcher with ttsd registered by `ttsd speechd install --config-dir` (plus espeak-ng)."""
    config_dir = base / "speechd-config"
    run_dir = base / "speechd-run"
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    install = subprocess.run([sys.executable, "-m", "engine.cli", "speechd", "install", "--config-dir",
                              str(config_dir), "--endpoint", ttsd_endpoint], capture_output=True, text=True)
    if install.returncode != 0:
        raise RuntimeError(f"ttsd speechd install failed: {install.stderr}")
    with open(config_dir / "speechd.conf", "a", encoding="utf-8") as conf:
        conf.write("\n".join(["LogLevel 4", "Timeout 0", 'AudioOutputMethod "pulse"',
                              f"DefaultModule {default_module}", *(extra_config or [])]) + "\n")
    env = {**pulse.env}
    log = open(run_dir / "stderr.log", "wb")
    result = subprocess.run(["speech-dispatcher", "-d", "-t", "0", "-C", str(config_dir), "-c", "unix_socket",
                             "-S", str(run_dir / "speechd.sock"), "-P", str(run_dir / "speechd.pid"),
                             "-L", str(run_dir / "logs"), "-l", "4"],
                            env=env, stdout=log, stderr=log, timeout=60)
    log.close()
    if result.returncode != 0:
        raise RuntimeError(f"speech-dispatcher failed: {(run_dir / 'stderr.log').read_text(errors='replace')[-3000:]}")
    pid = int(wait_for(lambda: (run_dir / "speechd.pid").exists() and (run_dir / "speechd.pid").read_text().strip(),
                       30, "speech-dispatcher pid file"))
    daemon = SpeechDispatcher(config_dir=config_dir, run_dir=run_dir, env=env, pid=pid)
    listing = wait_for(lambda: daemon.spd_say("-O", timeout=30).stdout.decode(), 60, "speech-dispatcher modules")
    daemon.modules = listing.split()[2:]
    return daemon


def import_speechd(base: Path):
    """Debian's python3-speechd (pure Python, not on PyPI) on this interpreter's path."""
    shim = base / "speechd-shim"
    shim.mkdir(exist_ok=True)
    link = shim / "speechd"
    if not link.exists():
        link.symlink_to(SPEECHD_PYTHON)
    if str(shim) not in sys.path:
        sys.path.insert(0, str(shim))
    import speechd
    return speechd
