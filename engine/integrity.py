"""Periodic re-hashing of every loaded voice's files, off the supervisor's loop.

Why a thread: hashing ~60 MB takes a fraction of a second; the supervisor loop must never block.
The thread only reads files and puts verdicts on a queue; the supervisor acts on them.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from engine.config import VoiceRef
from models.manifest import Manifest, ManifestError, mismatched_files


@dataclass(frozen=True)
class Verdict:
    voice: str
    ok: bool
    reason: str
    checked_at: float
    bad_files: tuple[str, ...] = ()    # empty when the manifest itself is unreadable or changed


class IntegrityChecker:
    """Every `interval` seconds, verify each voice directory against its manifest."""

    def __init__(self, voices: list[VoiceRef], manifests: dict[str, Manifest], interval: float):
        self.voices = voices
        self.manifests = manifests
        self.interval = interval
        self.verdicts: queue.Queue[Verdict] = queue.Queue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="integrity", daemon=True)

    def start(self) -> None:
        if self.interval > 0:
            self.thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            for voice in self.voices:
                self.verdicts.put(check_voice(voice, self.manifests[voice.name]))

    def results(self) -> list[Verdict]:
        found = []
        while True:
            try:
                found.append(self.verdicts.get_nowait())
            except queue.Empty:
                return found


def check_voice(voice: VoiceRef, loaded: Manifest) -> Verdict:
    """The manifest must be byte for byte the one verified at start, and the files must match it."""
    try:
        Manifest.load(Path(voice.path), voice.manifest_sha256)
        problems = mismatched_files(Path(voice.path), loaded)
        if problems:
            return Verdict(voice=voice.name, ok=False, reason="; ".join(problems.values()), checked_at=time.time(),
                           bad_files=tuple(sorted(problems)))
        return Verdict(voice=voice.name, ok=True, reason="", checked_at=time.time())
    except ManifestError as error:
        return Verdict(voice=voice.name, ok=False, reason=str(error), checked_at=time.time())
