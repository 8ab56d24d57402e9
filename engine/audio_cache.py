"""Recently spoken short texts and their audio, replayed instead of synthesized again.

A screen reader says the same things over and over: letters, key names, "blank", menu items,
button labels. Synthesis costs tens of milliseconds before the first sample; a replay costs none.
Only stream requests are cached (the audio goes back to the client, which is where a hit is
served from), only texts up to MAX_TEXT_CHARS, and the whole cache is bounded in bytes with the
least recently used entries evicted first. The key holds everything that shapes the audio.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

MAX_TEXT_CHARS = 300           # longer texts are rarely repeated word for word
MAX_ENTRY_FRACTION = 8         # one entry may use at most 1/8 of the cache


@dataclass(frozen=True)
class CacheKey:
    voice: str
    text: str
    length_scale: float
    noise_scale: float
    noise_w: float
    gain: float
    vocoder: str


@dataclass
class CachedChunk:
    clause: int
    sample_rate: int
    pcm: bytes


@dataclass
class Recording:
    key: CacheKey
    chunks: list[CachedChunk] = field(default_factory=list)
    size: int = 0


@dataclass
class AudioCache:
    """LRU of finished requests' audio; `max_bytes` 0 turns it off."""

    max_bytes: int
    entries: OrderedDict = field(default_factory=OrderedDict)     # CacheKey -> list[CachedChunk]
    recordings: dict[int, Recording] = field(default_factory=dict)  # job id -> audio so far
    size: int = 0
    hits: int = 0
    misses: int = 0

    def lookup(self, key: CacheKey) -> list[CachedChunk] | None:
        if not self.max_bytes or len(key.text) > MAX_TEXT_CHARS:
            return None
        chunks = self.entries.get(key)
        if chunks is None:
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return chunks

    def record(self, job_id: int, key: CacheKey) -> None:
        """Start keeping job_id's audio; it is stored when the job finishes whole."""
        if self.max_bytes and len(key.text) <= MAX_TEXT_CHARS:
            self.recordings[job_id] = Recording(key=key)

    def add(self, job_id: int, clause: int, sample_rate: int, pcm: bytes) -> None:
        recording = self.recordings.get(job_id)
        if recording is None:
            return
        recording.chunks.append(CachedChunk(clause=clause, sample_rate=sample_rate, pcm=pcm))
        recording.size += len(pcm)
        if recording.size > self.max_bytes // MAX_ENTRY_FRACTION:
            del self.recordings[job_id]       # too long to be worth keeping

    def finish(self, job_id: int) -> None:
        recording = self.recordings.pop(job_id, None)
        if recording is None or not recording.chunks:
            return
        self._drop(recording.key)
        self.entries[recording.key] = recording.chunks
        self.size += recording.size
        while self.size > self.max_bytes and self.entries:
            self._drop(next(iter(self.entries)))

    def discard(self, job_id: int) -> None:
        """The job was cancelled, failed or continued elsewhere: its audio is not the whole text."""
        self.recordings.pop(job_id, None)

    def keep_only(self, job_ids: set[int]) -> None:
        for job_id in [j for j in self.recordings if j not in job_ids]:
            del self.recordings[job_id]

    def forget_voice(self, voice: str) -> None:
        """The voice's files changed (quarantine, repair, reload): its cached audio is not trusted."""
        for key in [k for k in self.entries if k.voice == voice]:
            self._drop(key)

    def _drop(self, key: CacheKey) -> None:
        chunks = self.entries.pop(key, None)
        if chunks is not None:
            self.size -= sum(len(chunk.pcm) for chunk in chunks)

    def stats(self) -> dict:
        return {"entries": len(self.entries), "bytes": self.size, "max_bytes": self.max_bytes,
                "hits": self.hits, "misses": self.misses}


def cache_key(job) -> CacheKey:
    """A job's key: the voice and every setting that changes its audio."""
    return CacheKey(voice=job.voice_name, text=job.text, length_scale=job.length_scale, noise_scale=job.noise_scale,
                    noise_w=job.noise_w, gain=job.gain, vocoder=job.vocoder)
