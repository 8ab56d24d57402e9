"""Chaos: kill -9 each worker kind at random moments during synthesis. Every request gets audio or
an error (never silence), the daemon serves the next request, nothing is left over."""

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

KILLS_PER_KIND = 3   # restarts back off 1, 2, 4 s: more kills mostly measure the backoff
TEXT = " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 4)


def worker_pid(client: Client, name: str, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        status = client.status()
        worker = next(w for w in status["workers"] if w["name"] == name)
        if worker["state"] == "ready" and worker["pid"]:
            return worker["pid"]
        assert time.monotonic() < deadline, f"{name} never came back: {status}"
        time.sleep(0.05)


@pytest.mark.parametrize("kind", WORKER_NAMES)
def test_kill_9_during_synthesis(daemon_factory, kind):
    daemon = daemon_factory(f"chaos-{kind}")
    rng = random.Random(hash(kind) & 0xFFFF)
    outcomes = []
    seen_pids = set()
    with Client(daemon.endpoint, timeout=60) as control:
        for _ in range(KILLS_PER_KIND):
            pid = worker_pid(control, kind)
            seen_pids.add(pid)
            result = {}

            def speak():
                with Client(daemon.endpoint, timeout=60) as client:
                    try:
                        result["audio"] = client.synthesize(TEXT).audio_seconds
                    except RequestFailed as failure:
                        result["error"] = failure.reason

            speaker = threading.Thread(target=speak)
            speaker.start()
            time.sleep(rng.uniform(0.0, 0.6))
            os.kill(pid, signal.SIGKILL)
            speaker.join(90)
            assert not speaker.is_alive(), "a request was left hanging after a worker died"
            assert result, "a request got neither audio nor an error"
            outcomes.append(result)
        worker_pid(control, kind)
        with Client(daemon.endpoint, timeout=60) as client:
            assert client.synthesize("After the chaos, still speaking.").audio_seconds > 0.5
        status = control.status()
    assert all("audio" in o or "died" in o["error"] for o in outcomes), outcomes
    workers = {w["name"]: w for w in status["workers"]}
    assert workers[kind]["restarts"] >= 1
    all_pids = seen_pids | {w["pid"] for w in status["workers"]}
    prefix = DaemonConfig(runtime_dir=daemon.runtime_dir, data_dir=Path("."), endpoint="").segment_prefix
    assert daemon.stop() == 0
    time.sleep(0.3)
    assert not [p for p in all_pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not [s for s in os.listdir("/dev/shm") if s.startswith(prefix)]
