"""What is installed: voice directories with a manifest, and the English G2P data.

Kept apart from models.install so the daemon can list its voices without importing the converter
(onnx alone takes 1.4 s to import, paid on every daemon start).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.manifest import MANIFEST_NAME, Manifest, ManifestError
from models.paths import voices_dir

NLTK_DATA_DIRNAME = "nltk_data"
# The English G2P data (tagger weights, CMU dictionary) has a manifest signed like a voice's, under
# this name: the daemon refuses English voices when it does not verify, and watches its files.
ENGLISH_G2P_NAME = "english-g2p"
ENGLISH_G2P_LICENCE = ("MIT (NLTK averaged perceptron tagger) and BSD-style (CMU Pronouncing Dictionary); "
                       "used by every English voice")


@dataclass(frozen=True)
class InstalledVoice:
    name: str
    path: Path
    manifest: Manifest


def english_g2p_data_dir(data_dir: Path) -> Path:
    return data_dir / "g2p" / NLTK_DATA_DIRNAME


def load_installed(voice_dir: Path) -> InstalledVoice | None:
    if not (voice_dir / MANIFEST_NAME).is_file():
        return None
    manifest = Manifest.load(voice_dir)
    return InstalledVoice(name=manifest.name, path=voice_dir, manifest=manifest)


def installed_voices(data_dir: Path) -> list[InstalledVoice]:
    """Every voice directory with a readable manifest, sorted by name; broken ones are skipped."""
    root = voices_dir(data_dir)
    found = []
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.name.startswith("."):
                continue
            try:
                voice = load_installed(child)
            except ManifestError:
                continue
            if voice is not None:
                found.append(voice)
    return found
