"""sd_notify: the daemon tells systemd READY=1, WATCHDOG=1 and STATUS= (checked on a test-bound socket)."""

from __future__ import annotations

import os
import socket
import threading
import time

from tests.conftest import start_daemon


def test_ready_watchdog_and_status_reach_notify_socket(tmp_path, data_dir, joe_voice):
    path = tmp_path / "notify.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(0.5)
    daemon = start_daemon(tmp_path / "run", data_dir, env={**os.environ, "NOTIFY_SOCKET": str(path)})
    fields: list[str] = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                "READY=1" in fields and fields.count("WATCHDOG=1") >= 2):
            try:
                fields += receiver.recv(4096).decode().split("\n")
            except socket.timeout:
                pass
    finally:
        daemon.stop()
        receiver.close()
    assert "READY=1" in fields
    assert fields.count("WATCHDOG=1") >= 2          # pinged from the loop's tick, repeatedly
    assert any(f.startswith("STATUS=ready") for f in fields)


def test_a_reader_that_is_behind_never_blocks_the_sender(tmp_path, monkeypatch):
    """systemd reading late must not freeze the supervisor: a full datagram queue drops, it does not wait."""
    from engine import notify

    path = tmp_path / "slow.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    try:
        sent: list[bool] = []
        sender = threading.Thread(target=lambda: sent.extend(notify.send("WATCHDOG=1") for _ in range(200)),
                                  daemon=True)                    # 200: far more than max_dgram_qlen
        sender.start()
        sender.join(timeout=10)
        assert not sender.is_alive(), "notify.send blocked on a full queue"
        assert sent[0] is True
        assert sent[-1] is False                                  # dropped, and we got here
        assert receiver.recv(4096) == b"WATCHDOG=1"
    finally:
        receiver.close()
