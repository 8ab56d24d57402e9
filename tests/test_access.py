"""Who may talk to the daemon: a private runtime directory and socket, an optional socket group, and
TCP only when configured, then only with a CURVE key from the trust store."""

from __future__ import annotations

import grp
import json
import os
import socket
import stat

import psutil
import pytest
import zmq

from ipc import curve
from ipc.client import Client, DaemonUnavailable
from tests.conftest import private_data_dir, start_daemon


@pytest.fixture
def private_data(tmp_path, joe_voice, data_dir):
    return private_data_dir(tmp_path, data_dir, [joe_voice])


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_user_mode_runtime_dir_is_private_and_no_tcp_listens(private_data, tmp_path):
    root, env = private_data
    daemon = start_daemon(tmp_path / "run", root, env=env)
    try:
        assert mode(daemon.runtime_dir) == 0o700
        assert mode(daemon.runtime_dir / "ttsd.sock") == 0o660
        listening = [c for c in psutil.Process(daemon.process.pid).net_connections(kind="inet")]
        assert listening == []
    finally:
        daemon.stop()


def test_socket_group_gets_0750_and_the_group(private_data, tmp_path):
    root, env = private_data
    group = grp.getgrnam("audio")
    daemon = start_daemon(tmp_path / "run", root, extra=["--group", "audio"], env=env)
    try:
        assert mode(daemon.runtime_dir) == 0o750 and os.stat(daemon.runtime_dir).st_gid == group.gr_gid
        socket_path = daemon.runtime_dir / "ttsd.sock"
        assert mode(socket_path) == 0o660 and os.stat(socket_path).st_gid == group.gr_gid
        for internal in ("control.sock", "interrupt.sock"):     # supervisor <-> workers: owner only
            assert mode(daemon.runtime_dir / internal) == 0o600
    finally:
        daemon.stop()


def test_unknown_socket_group_is_a_clear_error(private_data, tmp_path):
    import subprocess
    import sys
    root, env = private_data
    result = subprocess.run([sys.executable, "-m", "engine.cli", "serve", "--runtime-dir", str(tmp_path / "run"),
                             "--data-dir", str(root), "--group", "no-such-group-ttsd"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1 and "socket group 'no-such-group-ttsd' does not exist" in result.stderr


def test_tcp_needs_a_trusted_curve_key(private_data, tmp_path):
    root, env = private_data
    trusted_public, trusted_secret = curve.generate_client_keys(tmp_path / "keys", "kiosk")
    _, stranger_secret = curve.generate_client_keys(tmp_path / "keys", "stranger")
    os.environ["TTSD_TRUST_DIR"], saved = env["TTSD_TRUST_DIR"], os.environ.get("TTSD_TRUST_DIR")
    try:
        curve.trust_client_key(trusted_public, system=False)
    finally:
        if saved is None:
            del os.environ["TTSD_TRUST_DIR"]
        else:
            os.environ["TTSD_TRUST_DIR"] = saved
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    daemon = start_daemon(tmp_path / "run", root, extra=["--tcp", endpoint], env=env)
    try:
        server_public = root / "curve" / "server.key"
        assert mode(root / "curve" / "server.key_secret") == 0o600
        with Client(endpoint, curve=curve.ClientCurve(trusted_secret, server_public)) as client:
            assert client.synthesize("Over TCP with a trusted key.").audio_seconds > 0.5
        with Client(endpoint, timeout=3, curve=curve.ClientCurve(stranger_secret, server_public)) as stranger:
            with pytest.raises(DaemonUnavailable, match="handshake"):     # said at once, not after the timeout
                stranger.status()
        with pytest.raises(DaemonUnavailable, match="CURVE"):
            Client(endpoint)                                   # our client refuses plain TCP
        plain = zmq.Context.instance().socket(zmq.DEALER)     # a raw client without CURVE gets nothing
        plain.setsockopt(zmq.LINGER, 0)
        plain.connect(endpoint)
        plain.send(json.dumps({"type": "status"}).encode())
        assert plain.poll(2000) == 0
        plain.close()
        with Client(daemon.endpoint) as local:                 # the local socket needs no keys
            assert local.status()["state"] == "ready"
    finally:
        daemon.stop()
