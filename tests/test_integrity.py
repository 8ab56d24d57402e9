"""Weights checked while running: a tampered voice is quarantined, the other voice keeps speaking,
and a good copy put back is picked up without a restart."""

from __future__ import annotations

import time

import pytest

from ipc import messages
from ipc.client import Client, RequestFailed
from tests.conftest import copy_english_g2p_data, copy_voice, make_signing_key


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
    key, env = make_signing_key(tmp_path)
    copy_english_g2p_data(data_dir, root, key)
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


@pytest.fixture
def english_and_mandarin_data(tmp_path, joe_voice, zh_voice, data_dir):
    from tests.conftest import private_data_dir
    return private_data_dir(tmp_path, data_dir, [joe_voice, zh_voice])


def test_changed_english_g2p_data_quarantines_the_english_voices_only(english_and_mandarin_data):
    """The CMU dictionary decides what English voices say: an edit of it (here a word's pronunciation
    swapped) quarantines every English voice, the Mandarin voice keeps speaking, and a restored file
    lifts the quarantine with a fresh front-end."""
    from models.installed import english_g2p_data_dir
    from tests.conftest import start_daemon
    root, env = english_and_mandarin_data
    daemon = start_daemon(root.parent / "run-g2p", root, extra=["--integrity-interval", "300"], env=env)
    try:
        victim = english_g2p_data_dir(root) / "corpora" / "cmudict" / "cmudict"
        original = victim.read_bytes()
        with Client(daemon.endpoint) as client:
            assert client.synthesize("Hello there.", voice="en_US-joe-medium").audio_seconds > 0.3
            tampered = original.replace(b"\nHELLO 1 HH AH0 L OW1\n", b"\nHELLO 1 G UH1 D B AY1\n")
            assert tampered != original
            victim.write_bytes(tampered)
            voice = wait_for_voice_state(client, "en_US-joe-medium", "quarantined", timeout=10)
            assert "English G2P data" in voice["reason"] and "cmudict" in voice["reason"], voice
            with pytest.raises(RequestFailed) as failure:
                client.synthesize("Hello there.", voice="en_US-joe-medium")
            assert failure.value.errno == messages.E_VOICE_UNAVAILABLE and "quarantined" in failure.value.reason
            assert client.synthesize("你好，世界。", voice="zh_CN-baker").audio_seconds > 0.5
            victim.write_bytes(original)
            wait_for_voice_state(client, "en_US-joe-medium", "ready", timeout=60)
            client.wait_ready(60)
            assert client.synthesize("Trusted again.", voice="en_US-joe-medium").audio_seconds > 0.3
    finally:
        daemon.stop()


def test_english_voices_are_refused_at_start_when_the_g2p_data_is_not_trusted(english_and_mandarin_data, tmp_path):
    """G2P data signed by a key nobody trusts (or changed after signing): English voices are refused
    with what to do; the Mandarin voice starts."""
    from models.installed import english_g2p_data_dir
    from models.signing import sign_manifest
    from tests.conftest import make_signing_key, start_daemon
    root, env = english_and_mandarin_data
    stranger, _ = make_signing_key(tmp_path / "stranger")
    sign_manifest(english_g2p_data_dir(root), stranger)
    daemon = start_daemon(root.parent / "run-g2p-untrusted", root, env=env)
    try:
        with Client(daemon.endpoint) as client:
            voices = {v["name"]: v for v in client.status()["voices"]}
            assert voices["en_US-joe-medium"]["state"] == "refused"
            assert "English G2P data" in voices["en_US-joe-medium"]["reason"]
            assert "ttsd voices install" in voices["en_US-joe-medium"]["reason"]
            with pytest.raises(RequestFailed) as failure:
                client.synthesize("Hello.", voice="en_US-joe-medium")
            assert "refused at start" in failure.value.reason
            assert client.synthesize("你好。", voice="zh_CN-baker").audio_seconds > 0.3
    finally:
        daemon.stop()
