"""Weights checked while running: a tampered voice is quarantined, the other voice keeps speaking,
and a good copy put back is picked up without a restart."""

from __future__ import annotations

import shutil
import time

import pytest

from ipc import messages
from ipc.client import Client, RequestFailed
from models.installed import english_g2p_data_dir
from tests.conftest import copy_voice, make_signing_key


def wait_for_voice_state(client: Client, name: str, state: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.status()
        voice = next(v for v in status["voices"] if v["name"] == name)
        if voice["state"] == state:
            return voice
        assert time.monotonic() < deadline, f"voice {name} never became {state}: {voice}"
        time.sleep(0.2)


@pytest.fixture
def two_voice_data(tmp_path, joe_voice, data_dir):
    """A private data dir with the real voice and a renamed copy of it (tampering must not touch the real one),
    both signed with a test key; returns the data dir and the environment that trusts that key."""
    root = tmp_path / "data"
    shutil.copytree(english_g2p_data_dir(data_dir), english_g2p_data_dir(root))
    key, env = make_signing_key(tmp_path)
    for name in ("en_US-joe-medium", "en_US-joe-copy"):
        copy_voice(joe_voice.path, root / "voices" / name, name, key)
    return root, env


@pytest.mark.parametrize("victim_file", ["prior.onnx", "flow.onnx", "decoder.onnx"])
def test_flipped_byte_quarantines_voice_and_good_copy_returns(two_voice_data, victim_file):
    from tests.conftest import start_daemon
    two_voice_data, env = two_voice_data
    daemon = start_daemon(two_voice_data.parent / f"run-{victim_file}", two_voice_data,
                          extra=["--integrity-interval", "1"], env=env)
    try:
        victim = two_voice_data / "voices" / "en_US-joe-copy" / victim_file
        original = victim.read_bytes()
        with Client(daemon.endpoint) as client:
            assert client.synthesize("Before tampering.", voice="en_US-joe-copy").audio_seconds > 0.3
            tampered = bytearray(original)
            tampered[len(tampered) // 2] ^= 0x01
            victim.write_bytes(bytes(tampered))
            voice = wait_for_voice_state(client, "en_US-joe-copy", "quarantined", timeout=10)
            assert victim_file in voice["reason"] and voice["since"] > 0
            with pytest.raises(RequestFailed) as failure:
                client.synthesize("Tampered.", voice="en_US-joe-copy")
            assert failure.value.errno == messages.E_VOICE_UNAVAILABLE and "quarantined" in failure.value.reason
            with pytest.raises(RequestFailed):     # no replay from the audio cache either
                client.synthesize("Before tampering.", voice="en_US-joe-copy")
            assert client.synthesize("The other voice still speaks.", voice="en_US-joe-medium").audio_seconds > 0.5
            victim.write_bytes(original)                       # a good copy is put back
            wait_for_voice_state(client, "en_US-joe-copy", "ready", timeout=60)
            client.wait_ready(60)
            assert client.synthesize("Trusted again.", voice="en_US-joe-copy").audio_seconds > 0.3
    finally:
        daemon.stop()


def test_restarted_worker_refuses_a_model_swapped_together_with_its_manifest_entry(two_voice_data):
    """An attacker who replaces a model file and rewrites its digest in manifest.json (the signature no
    longer matches) and then crashes a worker must not get the new weights loaded: workers load only
    the manifest the daemon verified at start."""
    import hashlib
    import json

    from tests.conftest import kill_worker_and_wait_for_restart, start_daemon
    two_voice_data, env = two_voice_data
    daemon = start_daemon(two_voice_data.parent / "run-swap", two_voice_data, env=env)
    try:
        voice_dir = two_voice_data / "voices" / "en_US-joe-copy"
        with Client(daemon.endpoint) as client:
            assert client.synthesize("Before the swap.", voice="en_US-joe-copy").audio_seconds > 0.3
            swapped = bytearray((voice_dir / "decoder.onnx").read_bytes())
            swapped[len(swapped) // 2] ^= 0x01
            (voice_dir / "decoder.onnx").write_bytes(bytes(swapped))
            manifest = json.loads((voice_dir / "manifest.json").read_text())
            manifest["files"]["decoder.onnx"]["sha256"] = hashlib.sha256(swapped).hexdigest()
            (voice_dir / "manifest.json").write_text(json.dumps(manifest))
            kill_worker_and_wait_for_restart(client, "vocoder")
            with pytest.raises(RequestFailed) as failure:
                client.synthesize("After the swap.", voice="en_US-joe-copy")
            assert failure.value.errno == messages.E_VOICE_UNAVAILABLE
            assert "manifest.json changed" in failure.value.reason, failure.value.reason
            assert client.synthesize("The other voice still speaks.", voice="en_US-joe-medium").audio_seconds > 0.5
    finally:
        daemon.stop()


def test_any_edit_of_a_manifest_quarantines_the_voice_until_it_is_restored(two_voice_data):
    """The manifest carries the phoneme map and synthesis settings as well as the digests: an edit of
    any byte is tampering, not only of the file table."""
    import json

    from tests.conftest import start_daemon
    two_voice_data, env = two_voice_data
    daemon = start_daemon(two_voice_data.parent / "run-edit", two_voice_data,
                          extra=["--integrity-interval", "1"], env=env)
    try:
        manifest_path = two_voice_data / "voices" / "en_US-joe-copy" / "manifest.json"
        original = manifest_path.read_bytes()
        with Client(daemon.endpoint) as client:
            assert client.synthesize("Before the edit.", voice="en_US-joe-copy").audio_seconds > 0.3
            manifest = json.loads(original)
            manifest["phoneme_id_map"]["a"] = manifest["phoneme_id_map"]["b"]
            manifest_path.write_text(json.dumps(manifest))
            voice = wait_for_voice_state(client, "en_US-joe-copy", "quarantined", timeout=10)
            assert "manifest.json changed" in voice["reason"], voice
            assert client.synthesize("The other voice still speaks.", voice="en_US-joe-medium").audio_seconds > 0.5
            manifest_path.write_bytes(original)
            wait_for_voice_state(client, "en_US-joe-copy", "ready", timeout=60)
            client.wait_ready(60)
            assert client.synthesize("Trusted again.", voice="en_US-joe-copy").audio_seconds > 0.3
    finally:
        daemon.stop()


def test_a_changed_file_is_rehashed_at_once_not_at_the_next_timer(two_voice_data):
    """With the default interval (300 s) a tampered file is still caught within seconds: its ctime
    changed, even when the tamperer puts the old modification time back."""
    import os

    from tests.conftest import start_daemon
    two_voice_data, env = two_voice_data
    daemon = start_daemon(two_voice_data.parent / "run-watch", two_voice_data, env=env)
    try:
        victim = two_voice_data / "voices" / "en_US-joe-copy" / "decoder.onnx"
        before = victim.stat()
        tampered = bytearray(victim.read_bytes())
        tampered[len(tampered) // 3] ^= 0x10
        with Client(daemon.endpoint) as client:
            victim.write_bytes(bytes(tampered))
            os.utime(victim, ns=(before.st_atime_ns, before.st_mtime_ns))
            voice = wait_for_voice_state(client, "en_US-joe-copy", "quarantined", timeout=20)
            assert "decoder.onnx" in voice["reason"]
            assert client.synthesize("The other voice still speaks.", voice="en_US-joe-medium").audio_seconds > 0.5
    finally:
        daemon.stop()
