"""Signed voice manifests: keys, trust store, sign/verify, the installer's local key, the daemon's refusal
of voices that fail the check, --allow-unsigned, and `ttsd voices verify` / `ttsd keys`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ipc import messages
from ipc.client import Client, RequestFailed
from models import signing
from models.install import install_voice
from models.signing import BadSignature, MissingSignature, UnknownKey, sign_manifest, verify_manifest
from tests.conftest import DEFAULT_VOICE, copy_english_g2p_data, copy_voice, make_signing_key, start_daemon


def small_voice(directory: Path) -> Path:
    """A voice directory with a manifest and nothing heavy (signing only looks at manifest.json)."""
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps({"name": directory.name, "format": 1, "files": {}},
                                                        indent=1), encoding="utf-8")
    return directory


def public_of(key: Path) -> bytes:
    return signing.read_public_key(signing.public_key_path(key))


# ---- keys and signatures, no daemon ------------------------------------------------------------

def test_generate_key_files(tmp_path):
    key = tmp_path / "keys" / "alice.pem"
    key_id = signing.generate_key(key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    pub = tmp_path / "keys" / "alice.pub"
    lines = pub.read_text().splitlines()
    assert len(lines) == 1 and len(base64.b64decode(lines[0], validate=True)) == 32
    assert key_id == signing.key_id(public_of(key)) and len(key_id) == 16
    with pytest.raises(FileExistsError):
        signing.generate_key(key)
    assert signing.key_id(public_of(key)) == key_id     # the refused overwrite left the key alone


def test_sign_verify_round_trip(tmp_path):
    key = tmp_path / "k.pem"
    key_id = signing.generate_key(key)
    voice = small_voice(tmp_path / "voice-a")
    assert sign_manifest(voice, key) == key_id
    record = json.loads((voice / "manifest.sig").read_text())
    assert set(record) == {"key_id", "signature"} and record["key_id"] == key_id
    assert len(base64.b64decode(record["signature"])) == 64
    assert verify_manifest(voice, [public_of(key)]) == key_id
    trust = tmp_path / "trust"
    signing.trust_key(public_of(key), directory=trust)
    assert verify_manifest(voice, signing.load_trusted_keys(dirs=[trust])) == key_id


def test_flipped_byte_in_manifest_fails(tmp_path):
    key = tmp_path / "k.pem"
    signing.generate_key(key)
    voice = small_voice(tmp_path / "voice-a")
    sign_manifest(voice, key)
    data = bytearray((voice / "manifest.json").read_bytes())
    data[len(data) // 2] ^= 0x01
    (voice / "manifest.json").write_bytes(bytes(data))
    with pytest.raises(BadSignature) as failure:
        verify_manifest(voice, [public_of(key)])
    assert "does not match manifest.json" in str(failure.value)
    assert "ttsd voices sign voice-a" in str(failure.value)
    # even whitespace counts: the signature covers the exact bytes
    (voice / "manifest.json").write_bytes(bytes(data).replace(b"\n", b"\r\n"))
    with pytest.raises(BadSignature):
        verify_manifest(voice, [public_of(key)])


def test_unknown_key_and_missing_signature_fail(tmp_path):
    signer, stranger = tmp_path / "signer.pem", tmp_path / "stranger.pem"
    signer_id = signing.generate_key(signer)
    signing.generate_key(stranger)
    voice = small_voice(tmp_path / "voice-a")
    with pytest.raises(MissingSignature) as missing:
        verify_manifest(voice, [public_of(signer)])
    assert "unsigned" in str(missing.value) and "ttsd voices sign voice-a" in str(missing.value)
    sign_manifest(voice, signer)
    with pytest.raises(UnknownKey) as unknown:
        verify_manifest(voice, [public_of(stranger)])
    assert signer_id in str(unknown.value) and "ttsd keys trust" in str(unknown.value)
    with pytest.raises(UnknownKey):
        verify_manifest(voice, {})
    (voice / "manifest.sig").write_text("not json")
    with pytest.raises(BadSignature, match="malformed"):
        verify_manifest(voice, [public_of(signer)])


def test_signature_by_another_key_claiming_a_trusted_id_fails(tmp_path):
    trusted, forger = tmp_path / "trusted.pem", tmp_path / "forger.pem"
    trusted_id = signing.generate_key(trusted)
    signing.generate_key(forger)
    voice = small_voice(tmp_path / "voice-a")
    sign_manifest(voice, forger)
    record = json.loads((voice / "manifest.sig").read_text())
    record["key_id"] = trusted_id
    (voice / "manifest.sig").write_text(json.dumps(record))
    with pytest.raises(BadSignature):
        verify_manifest(voice, [public_of(trusted)])


def test_trust_store_directories(tmp_path, monkeypatch):
    monkeypatch.delenv("TTSD_TRUST_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert signing.trust_dirs() == [Path("/etc/ttsd/trusted-keys"), tmp_path / "cfg" / "ttsd" / "trusted-keys"]
    assert signing.trust_dirs(system=True) == [Path("/etc/ttsd/trusted-keys")]
    assert signing.local_key_path() == tmp_path / "cfg" / "ttsd" / "signing-key.pem"
    monkeypatch.setenv("TTSD_TRUST_DIR", str(tmp_path / "only"))
    assert signing.trust_dirs() == signing.trust_dirs(system=True) == [tmp_path / "only"]
    key = tmp_path / "k.pem"
    key_id = signing.generate_key(key)
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "garbage.pub").write_text("this is not a key\n")
    warnings = []
    assert signing.load_trusted_keys(warn=warnings.append) == {}
    assert warnings and "garbage.pub" in warnings[0]
    signing.trust_key(public_of(key))
    keys = signing.load_trusted_keys(warn=warnings.append)
    assert list(keys) == [key_id] and keys[key_id].path == tmp_path / "only" / f"{key_id}.pub"


def test_install_signs_an_unsigned_voice_with_a_new_local_key(tmp_path, monkeypatch, joe_voice, data_dir):
    """Re-installing an installed but unsigned voice signs it (no rebuild); the new local key is trusted."""
    monkeypatch.delenv("TTSD_TRUST_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    root = tmp_path / "data"
    copy_english_g2p_data(data_dir, root, key=None)     # unsigned too: the install signs it
    target = root / "voices" / DEFAULT_VOICE
    shutil.copytree(joe_voice.path, target, ignore=shutil.ignore_patterns("manifest.sig"))
    before = (target / "manifest.json").read_bytes()
    logs: list[str] = []
    install_voice(DEFAULT_VOICE, root, tmp_path / "no-cache", log=logs.append)   # no download: nothing to fetch
    assert (target / "manifest.json").read_bytes() == before
    local = tmp_path / "cfg" / "ttsd" / "signing-key.pem"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    trusted = signing.load_trusted_keys()
    assert verify_manifest(target, trusted) == signing.key_id(public_of(local))
    assert any("created local signing key" in line for line in logs)
    logs.clear()
    install_voice(DEFAULT_VOICE, root, tmp_path / "no-cache", log=logs.append)   # signed now: left alone
    assert logs == [f"voice {DEFAULT_VOICE} is already installed in {target}"], logs
    (target / "manifest.sig").unlink()
    install_voice(DEFAULT_VOICE, root, tmp_path / "no-cache", log=logs.append, sign=False)
    assert not (target / "manifest.sig").exists()


def test_joe_voice_fixture_is_signed_and_trusted(joe_voice):
    verify_manifest(joe_voice.path, signing.load_trusted_keys())


# ---- CLI -------------------------------------------------------------------------------------------

def ttsd(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture
def mixed_voice_data(tmp_path, joe_voice, data_dir):
    """A data dir with en_US-joe-medium signed by a trusted test key and en_US-joe-copy whose manifest was
    changed after signing (bad signature)."""
    root = tmp_path / "data"
    key, env = make_signing_key(tmp_path)
    copy_english_g2p_data(data_dir, root, key)
    copy_voice(joe_voice.path, root / "voices" / "en_US-joe-medium", "en_US-joe-medium", key)
    copy = copy_voice(joe_voice.path, root / "voices" / "en_US-joe-copy", "en_US-joe-copy", key)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["licence_note"] = "changed after signing"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return root, key, env


def test_voices_verify_exit_codes(mixed_voice_data, tmp_path):
    root, key, env = mixed_voice_data
    good = ttsd("voices", "verify", "en_US-joe-medium", "--data-dir", str(root), env=env)
    assert good.returncode == 0, good.stderr
    assert "en_US-joe-medium: ok" in good.stdout and "3 files match" in good.stdout
    everything = ttsd("voices", "verify", "--data-dir", str(root), env=env)
    assert everything.returncode == 1
    assert "en_US-joe-medium: ok" in everything.stdout
    assert "english-g2p: ok" in everything.stdout      # what the English voices pronounce with
    assert "en_US-joe-copy: FAILED" in everything.stderr and "does not match manifest.json" in everything.stderr
    missing = ttsd("voices", "verify", "no-such-voice", "--data-dir", str(root), env=env)
    assert missing.returncode == 1 and "not installed" in missing.stderr
    untrusting = {**env, "TTSD_TRUST_DIR": str(tmp_path / "empty-trust")}
    unknown = ttsd("voices", "verify", "en_US-joe-medium", "--data-dir", str(root), env=untrusting)
    assert unknown.returncode == 1 and "not trusted" in unknown.stderr and "ttsd keys trust" in unknown.stderr
    # re-signing the changed manifest makes it verify; then a modified model file fails on its digest
    signed = ttsd("voices", "sign", "en_US-joe-copy", "--key", str(key), "--data-dir", str(root), env=env)
    assert signed.returncode == 0, signed.stderr
    assert ttsd("voices", "verify", "--data-dir", str(root), env=env).returncode == 0
    decoder = root / "voices" / "en_US-joe-copy" / "decoder.onnx"
    data = bytearray(decoder.read_bytes())
    data[len(data) // 3] ^= 0x01
    decoder.write_bytes(bytes(data))
    tampered = ttsd("voices", "verify", "en_US-joe-copy", "--data-dir", str(root), env=env)
    assert tampered.returncode == 1 and "decoder.onnx" in tampered.stderr
    # and `voices sign` refuses to vouch for files that do not match the manifest
    refused = ttsd("voices", "sign", "en_US-joe-copy", "--key", str(key), "--data-dir", str(root), env=env)
    assert refused.returncode == 1 and "decoder.onnx" in refused.stderr


def test_keys_commands(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    env.pop("TTSD_TRUST_DIR", None)
    made = ttsd("keys", "generate", str(tmp_path / "k.pem"), env=env)
    assert made.returncode == 0, made.stderr
    assert ttsd("keys", "generate", str(tmp_path / "k.pem"), env=env).returncode == 1
    bad = tmp_path / "bad.pub"
    bad.write_text("AAAA\n")
    assert ttsd("keys", "trust", str(bad), env=env).returncode == 1
    trusted = ttsd("keys", "trust", str(tmp_path / "k.pub"), env=env)
    assert trusted.returncode == 0, trusted.stderr
    listing = json.loads(ttsd("keys", "list", "--json", env=env).stdout)
    key_id = signing.key_id(public_of(tmp_path / "k.pem"))
    assert {"key_id": key_id, "path": str(tmp_path / "cfg" / "ttsd" / "trusted-keys" / f"{key_id}.pub"),
            "local": False} in listing["keys"]


# ---- the daemon ------------------------------------------------------------------------------------

def test_daemon_refuses_voice_with_bad_signature(mixed_voice_data):
    root, _key, env = mixed_voice_data
    daemon = start_daemon(root.parent / "run-refuse", root, env=env)
    try:
        with Client(daemon.endpoint) as client:
            voices = {v["name"]: v for v in client.status()["voices"]}
            assert voices["en_US-joe-medium"]["state"] == "ready"
            assert voices["en_US-joe-copy"]["state"] == "refused"
            assert "does not match manifest.json" in voices["en_US-joe-copy"]["reason"]
            with pytest.raises(RequestFailed) as failure:
                client.synthesize("Refused.", voice="en_US-joe-copy")
            assert failure.value.errno == messages.E_VOICE_UNAVAILABLE
            assert "refused" in failure.value.reason and "signature" in failure.value.reason
            assert client.synthesize("The signed voice speaks.", voice="en_US-joe-medium").audio_seconds > 0.5
        assert "REFUSED voice en_US-joe-copy" in daemon.log()
    finally:
        daemon.stop()


def test_allow_unsigned_loads_it_with_a_warning(mixed_voice_data):
    root, _key, env = mixed_voice_data
    (root / "voices" / "en_US-joe-medium" / "manifest.sig").unlink()     # unsigned, too
    daemon = start_daemon(root.parent / "run-allow", root, extra=["--allow-unsigned"], env=env)
    try:
        with Client(daemon.endpoint) as client:
            states = {v["name"]: v["state"] for v in client.status()["voices"]}
            assert states == {"en_US-joe-medium": "ready", "en_US-joe-copy": "ready"}
            assert client.synthesize("Loaded anyway.", voice="en_US-joe-copy").audio_seconds > 0.3
        log = daemon.log()
        assert "WARNING: --allow-unsigned: loading voice en_US-joe-copy" in log
        assert "WARNING: --allow-unsigned: loading voice en_US-joe-medium" in log and "unsigned" in log
    finally:
        daemon.stop()


def test_daemon_with_no_trusted_voice_does_not_start(mixed_voice_data, tmp_path):
    root, _key, env = mixed_voice_data
    untrusting = {**env, "TTSD_TRUST_DIR": str(tmp_path / "empty-trust")}
    runtime = tmp_path / "run-none"
    result = subprocess.run([sys.executable, "-m", "engine.cli", "serve", "--runtime-dir", str(runtime),
                             "--data-dir", str(root), "--endpoint", f"ipc://{runtime / 'ttsd.sock'}"],
                            capture_output=True, text=True, env=untrusting, timeout=60)
    assert result.returncode == 1
    assert "no voice passed the signature check" in result.stderr
    assert "en_US-joe-medium is signed by key" in result.stderr and "ttsd keys trust" in result.stderr
