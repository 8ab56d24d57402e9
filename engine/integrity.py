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

    def __init__(self, voices: dict[str, Path], manifests: dict[str, Manifest], interval: float):
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
            for name, path in self.voices.items():
                self.verdicts.put(check_voice(name, path, self.manifests[name]))

    def results(self) -> list[Verdict]:
        found = []
        while True:
            try:
                found.append(self.verdicts.get_nowait())
            except queue.Empty:
                return found


def check_voice(name: str, path: Path, loaded: Manifest) -> Verdict:
    """The files must match the manifest the daemon loaded (a changed manifest counts as tampering)."""
    try:
        current = Manifest.load(path)
        if current.files != loaded.files:
            raise ManifestError(f"voice {name}: manifest changed on disk since the daemon loaded it")
        problems = mismatched_files(path, loaded)
        if problems:
            return Verdict(voice=name, ok=False, reason="; ".join(problems.values()), checked_at=time.time(),
                           bad_files=tuple(sorted(problems)))
        return Verdict(voice=name, ok=True, reason="", checked_at=time.time())
    except ManifestError as error:
        return Verdict(voice=name, ok=False, reason=str(error), checked_at=time.time())
