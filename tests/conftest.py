"""Shared fixtures: the real default voice (installed by the project's own installer) and a real daemon."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from models import paths
from models.install import install_voice

DEFAULT_VOICE = "en_US-joe-medium"
MANDARIN_VOICE = "zh_CN-baker"
READY_TIMEOUT = 180.0


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return paths.data_dir()


@pytest.fixture(scope="session")
def joe_voice(data_dir):
    """The installed en_US-joe-medium voice (installs it if missing: fetch, verify, split), signed with the
    user's local key (created and trusted on first use)."""
    return install_voice(DEFAULT_VOICE, data_dir, paths.cache_dir(), log=lambda text: None)


@pytest.fixture(scope="session")
def zh_voice(data_dir):
    """The installed zh_CN-baker voice (installs it if missing: fetch, convert in the converter venv, check)."""
    return install_voice(MANDARIN_VOICE, data_dir, paths.cache_dir(), log=lambda text: None)


def make_signing_key(directory: Path) -> tuple[Path, dict[str, str]]:
    """A fresh signing key and an environment whose trust store (TTSD_TRUST_DIR) holds only its public key."""
    from models import signing

    key = directory / "keys" / "test-signing.pem"
    signing.generate_key(key)
    trust = directory / "trusted-keys"
    signing.trust_key(signing.read_public_key(signing.public_key_path(key)), directory=trust)
    return key, {**os.environ, "TTSD_TRUST_DIR": str(trust)}


def copy_voice(source: Path, target: Path, name: str, key: Path | None) -> Path:
    """A copy of an installed voice under another name (its manifest renamed), signed with `key` if given."""
    import json
    import shutil

    from models.signing import SIGNATURE_NAME, sign_manifest

    shutil.copytree(source, target, ignore=shutil.ignore_patterns(SIGNATURE_NAME))
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["name"] = name
    (target / "manifest.json").write_text(json.dumps(manifest))
    if key is not None:
        sign_manifest(target, key)
    return target


def copy_english_g2p_data(data_dir: Path, root: Path, key: Path | None) -> Path:
    """A copy of the installed English G2P data in data dir `root`, signed with `key` if given."""
    import shutil

    from models.installed import english_g2p_data_dir
    from models.signing import SIGNATURE_NAME, sign_manifest

    target = english_g2p_data_dir(root)
    shutil.copytree(english_g2p_data_dir(data_dir), target, ignore=shutil.ignore_patterns(SIGNATURE_NAME))
    if key is not None:
        sign_manifest(target, key)
    return target


def private_data_dir(tmp_path: Path, data_dir: Path, voices: list) -> tuple[Path, dict[str, str]]:
    """A data dir holding copies of installed voices (tampering must not touch the real ones) and the
    English G2P data, signed with a fresh test key; returns it and an environment that trusts the key."""
    root = tmp_path / "data"
    key, env = make_signing_key(tmp_path)
    copy_english_g2p_data(data_dir, root, key)
    for voice in voices:
        copy_voice(voice.path, root / "voices" / voice.name, voice.name, key)
    return root, env


@dataclass
class Daemon:
    process: subprocess.Popen
    runtime_dir: Path
    endpoint: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def ttsd(self, *args: str, input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "engine.cli", *args, "--endpoint", self.endpoint],
                              input=input, capture_output=True, timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def kill_worker_and_wait_for_restart(client, name: str, timeout: float = 60.0) -> tuple[dict, dict]:
    """SIGKILL a worker and wait until the daemon has restarted it and is ready; (old, new) worker status."""
    old = next(w for w in client.status()["workers"] if w["name"] == name)
    os.kill(old["pid"], signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while True:
        status = client.status()
        new = next(w for w in status["workers"] if w["name"] == name)
        if new["restarts"] == old["restarts"] + 1 and status["state"] == "ready":
            return old, new
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def remove_segments_left_by(runtime_dir: Path) -> None:
    """Unlink the shared memory a SIGKILLed daemon of this runtime dir left in /dev/shm."""
    from engine.config import DaemonConfig

    prefix = DaemonConfig(runtime_dir=runtime_dir, data_dir=Path("."), endpoint="").segment_prefix
    for name in [s for s in os.listdir("/dev/shm") if s.startswith(prefix)]:
        os.unlink(f"/dev/shm/{name}")


def start_daemon(runtime_dir: Path, data_dir: Path, extra: list[str] | None = None,
                 env: dict[str, str] | None = None) -> Daemon:
    from ipc.client import Client, DaemonUnavailable

    runtime_dir.mkdir(parents=True, exist_ok=True)
    endpoint = f"ipc://{runtime_dir / 'ttsd.sock'}"
    log_path = runtime_dir.parent / f"{runtime_dir.name}.log"
    log_file = open(log_path, "wb")
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--runtime-dir", str(runtime_dir),
                                "--data-dir", str(data_dir), "--endpoint", endpoint, *(extra or [])],
                               stdout=log_file, stderr=subprocess.STDOUT, env=env)
    daemon = Daemon(process=process, runtime_dir=runtime_dir, endpoint=endpoint, log_path=log_path)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"ttsd serve exited with {process.returncode}:\n{daemon.log()}")
        try:
            with Client(endpoint, timeout=2) as client:
                if client.status()["state"] == "ready":
                    return daemon
        except DaemonUnavailable:
            pass
        if time.monotonic() > deadline:
            daemon.stop(signal.SIGKILL)
            raise RuntimeError(f"ttsd did not become ready:\n{daemon.log()}")
        time.sleep(0.2)


@pytest.fixture
def daemon_factory(tmp_path, data_dir, joe_voice):
    started: list[Daemon] = []

    def factory(name: str = "run", extra: list[str] | None = None) -> Daemon:
        daemon = start_daemon(Path(tmp_path) / name, data_dir, extra)
        started.append(daemon)
        return daemon

    yield factory
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.stop()


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory, data_dir, joe_voice):
    """One daemon for a module's tests that do not disturb it."""
    daemon = start_daemon(tmp_path_factory.mktemp("ttsd") / "run", data_dir)
    yield daemon
    daemon.stop()
