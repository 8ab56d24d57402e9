"""Chaos: kill -9 each worker kind 8 times at random moments during synthesis. Every request gets
audio or an error (never silence), the daemon serves the next request, nothing is left over. Eight
kills per kind keep the suite inside its time budget; the moments are random, so runs differ.

The daemon runs with a config file that shortens the restart backoff (1 -> 32 s by default) to
0.05 -> 0.4 s, so the test measures survival rather than waiting, and with only the English voice
so that each restart loads one voice."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from engine.config import WORKER_NAMES, DaemonConfig
from ipc.client import Client, RequestFailed
from tests.conftest import private_data_dir, start_daemon

KILLS_PER_KIND = 8
FAST_BACKOFF = "backoff_start = 0.05\nbackoff_max = 0.4\n"
TEXT = " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 4)


def worker_pid(client: Client, name: str, killed: set[int], timeout: float = 60.0) -> int:
    """The pid of the ready worker, once the supervisor has replaced every one we killed (right after
    a kill the supervisor may not have noticed yet and still lists the dying process)."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.status()
        worker = next(w for w in status["workers"] if w["name"] == name)
        if worker["state"] == "ready" and worker["pid"] and worker["pid"] not in killed:
            return worker["pid"]
        assert time.monotonic() < deadline, f"{name} never came back: {status}"
        time.sleep(0.05)


def speak_in_background(endpoint: str) -> tuple[threading.Thread, dict]:
    """Speak TEXT on a thread; the dict gets "audio" (seconds) or "error" (the reason)."""
    result = {}

    def speak():
        with Client(endpoint, timeout=60) as client:
            try:
                result["audio"] = client.synthesize(TEXT).audio_seconds
            except RequestFailed as failure:
                result["error"] = failure.reason

    speaker = threading.Thread(target=speak)
    speaker.start()
    return speaker, result


@pytest.fixture
def chaos_daemon(tmp_path, joe_voice, data_dir):
    root, env = private_data_dir(tmp_path, data_dir, [joe_voice])
    config = tmp_path / "ttsd.toml"
    config.write_text(FAST_BACKOFF)
    daemon = start_daemon(tmp_path / "run", root, extra=["--config", str(config)], env=env)
    yield daemon
    if daemon.process.poll() is None:
        daemon.stop()


@pytest.mark.parametrize("kind", WORKER_NAMES)
def test_kill_9_during_synthesis(chaos_daemon, kind):
    daemon = chaos_daemon
    rng = random.Random(hash(kind) & 0xFFFF)
    outcomes = []
    seen_pids = set()
    with Client(daemon.endpoint, timeout=60) as control:
        for _ in range(KILLS_PER_KIND):
            pid = worker_pid(control, kind, seen_pids)
            seen_pids.add(pid)
            speaker, result = speak_in_background(daemon.endpoint)
            time.sleep(rng.uniform(0.0, 0.6))
            os.kill(pid, signal.SIGKILL)
            speaker.join(90)
            assert not speaker.is_alive(), "a request was left hanging after a worker died"
            assert result, "a request got neither audio nor an error"
            outcomes.append(result)
        worker_pid(control, kind, seen_pids)
        with Client(daemon.endpoint, timeout=60) as client:
            assert client.synthesize("After the chaos, still speaking.").audio_seconds > 0.5
        status = control.status()
    # one kill per request: the request is continued once on the restarted worker, so all get audio
    assert all("audio" in o and o["audio"] > 0.5 for o in outcomes), outcomes
    workers = {w["name"]: w for w in status["workers"]}
    assert workers[kind]["restarts"] == KILLS_PER_KIND
    all_pids = seen_pids | {w["pid"] for w in status["workers"]}
    prefix = DaemonConfig(runtime_dir=daemon.runtime_dir, data_dir=Path("."), endpoint="").segment_prefix
    assert daemon.stop() == 0
    time.sleep(0.3)
    assert not [p for p in all_pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not [s for s in os.listdir("/dev/shm") if s.startswith(prefix)]


@pytest.mark.parametrize("kind", ["acoustic", "vocoder"])
def test_hung_worker_is_killed_and_replaced(tmp_path, joe_voice, data_dir, kind):
    """A worker that stops answering (SIGSTOP: a hang, not a crash) is killed after worker_timeout;
    the request in flight still gets its audio (continued on the new worker) or an error, never
    silence, and the daemon keeps serving."""
    root, env = private_data_dir(tmp_path, data_dir, [joe_voice])
    config = tmp_path / "ttsd.toml"
    config.write_text(FAST_BACKOFF + "worker_timeout = 2.0\nheartbeat_interval = 0.2\n")
    daemon = start_daemon(tmp_path / "run", root, extra=["--config", str(config)], env=env)
    try:
        with Client(daemon.endpoint, timeout=60) as control:
            pid = worker_pid(control, kind, set())
            speaker, result = speak_in_background(daemon.endpoint)
            time.sleep(0.3)
            os.kill(pid, signal.SIGSTOP)
            speaker.join(60)
            assert not speaker.is_alive(), "a request was left hanging behind a hung worker"
            assert result.get("audio", 0) > 0.5 or result.get("error"), result
            new_pid = worker_pid(control, kind, {pid})
            assert new_pid != pid and not (psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie")
            assert next(w for w in control.status()["workers"] if w["name"] == kind)["restarts"] >= 1
            assert control.synthesize("The next request is spoken.").audio_seconds > 0.5
    finally:
        daemon.stop()
