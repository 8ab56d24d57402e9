"""The audio cache: a repeated short text is answered from memory with the very same audio,
anything that changes the audio misses, and the cache stays within its byte budget."""

from __future__ import annotations

import numpy as np

from engine.audio_cache import MAX_TEXT_CHARS, AudioCache, CacheKey
from ipc.client import Client


def key(text: str, voice: str = "v", rate: float = 1.0) -> CacheKey:
    return CacheKey(voice=voice, text=text, length_scale=rate, noise_scale=0.667, noise_w=0.8, gain=1.0,
                    vocoder="neural")


def finished(cache: AudioCache, job_id: int, cache_key: CacheKey, pcm_bytes: int) -> None:
    cache.record(job_id, cache_key)
    cache.add(job_id, 0, 22050, bytes(pcm_bytes))
    cache.finish(job_id)


def test_least_recently_used_entries_leave_first_and_the_budget_holds():
    cache = AudioCache(max_bytes=8000)
    for job_id, text in enumerate(["one", "two", "three"]):
        finished(cache, job_id, key(text), 1000)
    assert cache.lookup(key("one")) is not None          # "one" is now the most recently used
    for job_id in range(3, 10):
        finished(cache, job_id, key(f"filler {job_id}"), 1000)
    assert cache.size == 8000                             # ten entries of 1000 bytes: the two oldest left
    assert cache.lookup(key("two")) is None and cache.lookup(key("three")) is None
    assert cache.lookup(key("one")) is not None and cache.lookup(key("filler 9")) is not None


def test_partial_long_or_oversized_audio_is_not_kept():
    cache = AudioCache(max_bytes=8000)
    cache.record(1, key("cancelled"))
    cache.add(1, 0, 22050, bytes(100))
    cache.discard(1)
    cache.finish(1)
    assert cache.lookup(key("cancelled")) is None
    finished(cache, 2, key("too big"), 1001)             # more than 1/8 of the cache
    assert cache.lookup(key("too big")) is None
    finished(cache, 3, key("x" * (MAX_TEXT_CHARS + 1)), 10)
    assert cache.lookup(key("x" * (MAX_TEXT_CHARS + 1))) is None
    finished(cache, 4, key("kept", voice="a"), 10)
    finished(cache, 5, key("kept", voice="b"), 10)
    cache.forget_voice("a")
    assert cache.lookup(key("kept", voice="a")) is None and cache.lookup(key("kept", voice="b")) is not None
    assert cache.size == 10


def test_repeated_text_replays_the_same_audio(shared_daemon):
    with Client(shared_daemon.endpoint) as client:
        first = client.synthesize("Open the edit menu.")
        before = client.status()["audio_cache"]
        again = client.synthesize("Open the edit menu.")
        after = client.status()["audio_cache"]
        faster = client.synthesize("Open the edit menu.", rate=2.0)
    assert first.audio_seconds > 0.5
    assert again.pcm == first.pcm and again.chunks == first.chunks
    assert after["hits"] == before["hits"] + 1 and after["entries"] >= 1
    # another rate is other audio: synthesized, and shorter
    assert faster.audio_seconds < 0.75 * first.audio_seconds
    assert np.abs(np.frombuffer(faster.pcm, dtype="<i2")).max() > 1000


def test_cache_can_be_turned_off(daemon_factory, tmp_path):
    config = tmp_path / "ttsd.toml"
    config.write_text("audio_cache_mb = 0\n", encoding="utf-8")
    daemon = daemon_factory("nocache", extra=["--config", str(config)])
    with Client(daemon.endpoint) as client:
        first = client.synthesize("Close the window.")
        again = client.synthesize("Close the window.")
        stats = client.status()["audio_cache"]
    assert stats["hits"] == 0 and stats["entries"] == 0 and stats["max_bytes"] == 0
    assert first.audio_seconds > 0.4 and again.audio_seconds > 0.4
    assert again.pcm != first.pcm          # synthesized twice: Piper's noise makes each take differ
