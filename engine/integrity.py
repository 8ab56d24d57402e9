"""Re-hashing of every loaded voice's files, off the supervisor's loop: at once when a file's
metadata changes, and on a timer for what metadata cannot show (a bit flipped on disk).

Why a thread: hashing ~60 MB takes a fraction of a second; the supervisor loop must never block.
The thread only reads files and puts verdicts on a queue; the supervisor acts on them.
Why stat as well as the timer: a full hash every second would cost a core; a stat of each file
costs microseconds and every write, rename, copy or chmod changes its ctime (which user space
cannot set back), so a swapped or edited file is caught within FILE_WATCH_SECONDS.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from engine.config import VoiceRef
from models.manifest import MANIFEST_NAME, Manifest, ManifestError, mismatched_files
from models.signing import SIGNATURE_NAME

FILE_WATCH_SECONDS = 1.0


@dataclass(frozen=True)
class Verdict:
    voice: str
    ok: bool
    reason: str
    checked_at: float
    bad_files: tuple[str, ...] = ()    # empty when the manifest itself is unreadable or changed


class IntegrityChecker:
    """Verify each voice directory against its manifest every `interval` seconds, and at once when
    the metadata of one of its files changes."""

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
        seen = {voice.name: file_signature(voice, self.manifests[voice.name]) for voice in self.voices}
        next_full = time.monotonic() + self.interval
        while not self.stopping.wait(min(FILE_WATCH_SECONDS, self.interval)):
            full = time.monotonic() >= next_full
            if full:
                next_full = time.monotonic() + self.interval
            for voice in self.voices:
                signature = file_signature(voice, self.manifests[voice.name])
                if full or signature != seen[voice.name]:
                    seen[voice.name] = signature
                    self.verdicts.put(check_voice(voice, self.manifests[voice.name]))

    def results(self) -> list[Verdict]:
        found = []
        while True:
            try:
                found.append(self.verdicts.get_nowait())
            except queue.Empty:
                return found


def file_signature(voice: VoiceRef, loaded: Manifest) -> tuple:
    """What stat says about the voice's manifest, signature and model files (None for a missing one)."""
    signature = []
    for name in (MANIFEST_NAME, SIGNATURE_NAME, *sorted(loaded.files)):
        try:
            info = (Path(voice.path) / name).stat()
        except OSError:
            signature.append(None)
            continue
        signature.append((info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_mode))
    return tuple(signature)


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
