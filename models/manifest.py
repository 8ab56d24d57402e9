"""A voice directory's manifest: what the voice is, which files it needs and their digests."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from models.fetch import sha256_of

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1


class ManifestError(ValueError):
    """A voice directory is missing, incomplete or its files do not match the manifest."""


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    name: str
    language: str
    kind: str
    sample_rate: int
    licence: str
    licence_note: str
    files: dict[str, FileEntry]
    phoneme_id_map: dict[str, list[int]]
    hop_length: int = 256
    latent_channels: int = 192
    decoder_context_frames: int = 10
    noise_scale: float = 0.667
    length_scale: float = 1.0
    noise_w: float = 0.8
    gain: float = 1.0                 # the voice's loudness correction, times the daemon's output gain
    max_frames: int = 0               # longest acoustic output per call (0: no limit known)
    mel: dict = field(default_factory=dict)          # mel voices: analysis parameters (Griffin-Lim needs them)
    pinyin_dict: dict = field(default_factory=dict)  # Mandarin voices: pinyin -> [initial, final]
    source: dict[str, str] = field(default_factory=dict)
    format: int = MANIFEST_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False, sort_keys=True)

    @staticmethod
    def load(voice_dir: Path, expected_sha256: str = "") -> "Manifest":
        """With expected_sha256 (the digest of the manifest whose signature the daemon checked at
        start), a manifest changed since is refused: a restarted worker loads only verified weights."""
        path = voice_dir / MANIFEST_NAME
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ManifestError(f"{voice_dir} has no {MANIFEST_NAME}; reinstall the voice") from None
        if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
            raise ManifestError(f"voice {voice_dir.name}: {MANIFEST_NAME} changed since the daemon checked its "
                                f"signature at start; the voice stays unavailable until `ttsd voices install "
                                f"{voice_dir.name}` and a daemon restart")
        return Manifest.parse(data, path)

    @staticmethod
    def parse(data: bytes, path: Path) -> "Manifest":
        try:
            raw = json.loads(data.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ManifestError(f"{path} is not valid JSON ({error}); reinstall the voice") from None
        if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
            raise ManifestError(f"{path}: unsupported manifest format "
                                f"{raw.get('format') if isinstance(raw, dict) else raw!r}")
        try:
            raw["files"] = {name: FileEntry(**entry) for name, entry in raw["files"].items()}
            return Manifest(**raw)
        except (KeyError, TypeError, AttributeError) as error:
            raise ManifestError(f"{path}: malformed manifest ({error}); reinstall the voice") from None


def describe_file(path: Path) -> FileEntry:
    return FileEntry(sha256=sha256_of(path), size=path.stat().st_size)


def verify_files(voice_dir: Path, manifest: Manifest) -> None:
    """Raise ManifestError naming the first file whose size or sha256 differs from the manifest."""
    problems = mismatched_files(voice_dir, manifest)
    if problems:
        raise ManifestError(next(iter(problems.values())))


def mismatched_files(voice_dir: Path, manifest: Manifest) -> dict[str, str]:
    """Every file that is missing or differs from the manifest, with what is wrong (streams each file once)."""
    problems = {}
    for name, entry in manifest.files.items():
        path = voice_dir / name
        if not path.is_file():
            problems[name] = f"voice {manifest.name}: file {name} is missing; reinstall the voice"
        elif path.stat().st_size != entry.size:
            problems[name] = (f"voice {manifest.name}: {name} has size {path.stat().st_size}, "
                              f"manifest says {entry.size}; reinstall the voice")
        else:
            actual = sha256_of(path)
            if actual != entry.sha256:
                problems[name] = (f"voice {manifest.name}: {name} sha256 {actual[:16]}... does not match "
                                  f"the manifest; the file was modified; reinstall the voice")
    return problems
