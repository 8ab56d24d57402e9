"""Signed voice manifests: Ed25519 keys, a trust store of public keys, sign and verify.

A voice directory's `manifest.json` names every model file with its sha256, so a signature over the
manifest's exact bytes covers the whole voice. The signature sits next to it in `manifest.sig`:

    {"key_id": "<first 16 hex of sha256(raw public key)>", "signature": "<base64 Ed25519 signature>"}

Public keys are files holding one line: the raw 32-byte Ed25519 public key in base64. The trust store
is every such file in /etc/ttsd/trusted-keys/ and, for a user daemon, $XDG_CONFIG_HOME/ttsd/trusted-keys/
(TTSD_TRUST_DIR replaces both). Private keys are unencrypted PKCS#8 PEM files, mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from models.manifest import MANIFEST_NAME

SIGNATURE_NAME = "manifest.sig"
SYSTEM_CONFIG_DIR = Path("/etc/ttsd")
TRUST_DIRNAME = "trusted-keys"
LOCAL_KEY_NAME = "signing-key.pem"
PUBLIC_KEY_BYTES = 32


class SignatureError(ValueError):
    """A voice's manifest signature is missing, made by an untrusted key, or does not match."""

    kind = "invalid"


class MissingSignature(SignatureError):
    kind = "unsigned"


class UnknownKey(SignatureError):
    kind = "untrusted"


class BadSignature(SignatureError):
    kind = "bad-signature"


class KeyFileError(ValueError):
    """A key file cannot be read or is not an Ed25519 key."""


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    public_key: bytes       # raw 32 bytes
    path: Path | None = None


# ---- where things live ------------------------------------------------------------------------

def config_dir(system: bool = False) -> Path:
    if system:
        return SYSTEM_CONFIG_DIR
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ttsd"


def trust_dirs(system: bool = False) -> list[Path]:
    """Directories the trust store is read from: TTSD_TRUST_DIR alone, else system (+ user unless system)."""
    if os.environ.get("TTSD_TRUST_DIR"):
        return [Path(os.environ["TTSD_TRUST_DIR"])]
    dirs = [SYSTEM_CONFIG_DIR / TRUST_DIRNAME]
    if not system:
        dirs.append(config_dir(False) / TRUST_DIRNAME)
    return dirs


def trust_dir_for_writing(system: bool = False) -> Path:
    """Where `ttsd keys trust` and a new local key put public keys."""
    if os.environ.get("TTSD_TRUST_DIR"):
        return Path(os.environ["TTSD_TRUST_DIR"])
    return config_dir(system) / TRUST_DIRNAME


def local_key_path(system: bool = False) -> Path:
    return config_dir(system) / LOCAL_KEY_NAME


def public_key_path(private_key_path: Path) -> Path:
    """`keys/foo.pem` -> `keys/foo.pub` (no suffix: `keys/foo` -> `keys/foo.pub`)."""
    private_key_path = Path(private_key_path)
    return private_key_path.with_name(private_key_path.stem + ".pub") if private_key_path.suffix \
        else private_key_path.with_name(private_key_path.name + ".pub")


# ---- keys -------------------------------------------------------------------------------------

def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def encode_public(public_key: bytes) -> str:
    return base64.b64encode(public_key).decode("ascii")


def decode_public(text: str, origin: str = "public key") -> bytes:
    """One base64 line holding a raw 32-byte Ed25519 public key (a PEM public key is accepted too)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as error:
            raise KeyFileError(f"{origin}: not a PEM public key ({error})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"{origin}: not an Ed25519 public key")
        return raw_public(key)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{origin}: not a base64 Ed25519 public key (expected one line of base64)") from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise KeyFileError(f"{origin}: decodes to {len(raw)} bytes; an Ed25519 public key has {PUBLIC_KEY_BYTES}")
    return raw


def read_public_key(path: Path) -> bytes:
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(f"cannot read public key {path}: {error}") from None
    return decode_public(text, str(path))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise KeyFileError(f"cannot read private key {path}: {error.strerror or error}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return key


def generate_key(path: Path, overwrite: bool = False) -> str:
    """Write a new private key to `path` (PEM, 0600) and its public key to `<name>.pub`; return the key id.

    Without `overwrite` an existing key is never replaced (FileExistsError), and two processes racing
    to create the same key both end up using the one that won (the file appears complete or not at all).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)   # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(temp, path)
        else:
            os.link(temp, path)     # atomic create-if-absent: FileExistsError if a key is there
    finally:
        Path(temp).unlink(missing_ok=True)
    public = raw_public(private.public_key())
    _write_atomic(public_key_path(path), encode_public(public) + "\n", mode=0o644)
    return key_id(public)


def trust_key(public_key: bytes, system: bool = False, directory: Path | None = None) -> Path:
    """Add a public key to the trust store (as `<key_id>.pub`); return the file written."""
    target_dir = Path(directory) if directory else trust_dir_for_writing(system)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{key_id(public_key)}.pub"
    _write_atomic(target, encode_public(public_key) + "\n", mode=0o644)
    return target


def load_trusted_keys(system: bool = False, dirs: Iterable[Path] | None = None,
                      warn=None) -> dict[str, TrustedKey]:
    """Every readable public key in the trust directories, by key id. Unreadable files are reported via warn."""
    warn = warn or (lambda text: print(f"ttsd: {text}", file=sys.stderr))
    keys: dict[str, TrustedKey] = {}
    for directory in (list(dirs) if dirs is not None else trust_dirs(system)):
        try:
            entries = sorted(Path(directory).iterdir())
        except FileNotFoundError:
            continue
        except OSError as error:
            warn(f"cannot read trust directory {directory}: {error.strerror or error}")
            continue
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file():
                continue
            try:
                public = read_public_key(entry)
            except KeyFileError as error:
                warn(f"ignoring trusted key file: {error}")
                continue
            keys.setdefault(key_id(public), TrustedKey(key_id(public), public, entry))
    return keys


def ensure_local_key(system: bool = False, log=None) -> Path:
    """The local signing key, created on first use; a new key's public key is added to the trust store."""
    path = local_key_path(system)
    if path.is_file():
        return path
    try:
        new_id = generate_key(path)
    except FileExistsError:
        return path            # another process created it a moment ago (and trusts it)
    trusted = trust_key(read_public_key(public_key_path(path)), system=system)
    if log:
        log(f"created local signing key {path} (key id {new_id}); its public key is trusted in {trusted}")
    return path


# ---- sign and verify --------------------------------------------------------------------------

def sign_manifest(voice_dir: Path, private_key_path: Path) -> str:
    """Sign the exact bytes of voice_dir/manifest.json into voice_dir/manifest.sig; return the key id."""
    voice_dir = Path(voice_dir)
    try:
        manifest = (voice_dir / MANIFEST_NAME).read_bytes()
    except FileNotFoundError:
        raise SignatureError(f"{voice_dir} has no {MANIFEST_NAME}; nothing to sign") from None
    private = load_private_key(private_key_path)
    kid = key_id(raw_public(private.public_key()))
    record = {"key_id": kid, "signature": base64.b64encode(private.sign(manifest)).decode("ascii")}
    _write_atomic(voice_dir / SIGNATURE_NAME, json.dumps(record) + "\n", mode=0o644)
    return kid


def verify_manifest(voice_dir: Path, trusted_keys, manifest: bytes | None = None) -> str:
    """Check voice_dir/manifest.sig against the trusted keys; return the signer's key id or raise SignatureError.

    `manifest`: the manifest bytes the caller read and will use (checked instead of a fresh read, so
    what is verified is what is used).

    `trusted_keys`: a mapping key id -> TrustedKey (as load_trusted_keys returns) or raw public key bytes,
    or an iterable of raw public keys / TrustedKey / Ed25519PublicKey.
    """
    voice_dir = Path(voice_dir)
    name = voice_dir.name
    keys = _normalise_keys(trusted_keys)
    sign_hint = f"`ttsd voices sign {name}` (your local key) or `ttsd voices sign {name} --key KEY`"
    try:
        raw = (voice_dir / SIGNATURE_NAME).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingSignature(f"voice {name} is unsigned ({voice_dir / SIGNATURE_NAME} is missing); "
                               f"sign it with {sign_hint}, or reinstall it with `ttsd voices install {name}`") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadSignature(f"voice {name}: cannot read {SIGNATURE_NAME} ({error}); re-sign it with {sign_hint}") from None
    try:
        record = json.loads(raw)
        signer = str(record["key_id"])
        signature = base64.b64decode(record["signature"], validate=True)
    except (json.JSONDecodeError, KeyError, TypeError, binascii.Error, ValueError):
        raise BadSignature(f"voice {name}: {SIGNATURE_NAME} is malformed (expected JSON with key_id and a "
                           f"base64 signature); re-sign it with {sign_hint}") from None
    public = keys.get(signer)
    if public is None:
        raise UnknownKey(f"voice {name} is signed by key {signer}, which is not trusted; if you trust whoever "
                         f"signed it, add their public key with `ttsd keys trust FILE.pub` (see `ttsd keys list`), "
                         f"or re-sign the voice with {sign_hint}")
    try:
        manifest = (voice_dir / MANIFEST_NAME).read_bytes() if manifest is None else manifest
    except OSError as error:
        raise BadSignature(f"voice {name}: cannot read {MANIFEST_NAME} ({error.strerror or error}); "
                           f"reinstall the voice") from None
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, manifest)
    except InvalidSignature:
        raise BadSignature(f"voice {name}: the signature by key {signer} does not match {MANIFEST_NAME} "
                           f"(the manifest was changed after signing, or the signature is corrupt); reinstall "
                           f"the voice with `ttsd voices install {name}`, or if you changed the manifest "
                           f"yourself, re-sign it with {sign_hint}") from None
    return signer


def _normalise_keys(trusted_keys) -> dict[str, bytes]:
    if isinstance(trusted_keys, Mapping):
        items = trusted_keys.values()
    else:
        items = trusted_keys
    keys: dict[str, bytes] = {}
    for item in items:
        if isinstance(item, TrustedKey):
            public = item.public_key
        elif isinstance(item, Ed25519PublicKey):
            public = raw_public(item)
        else:
            public = bytes(item)
        keys[key_id(public)] = public
    return keys


def _write_atomic(path: Path, text: str, mode: int) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)
