"""Playing PCM on a sound device through sounddevice (PortAudio: ALSA, PulseAudio, PipeWire).

Why a callback stream: the sink loop only queues audio, so it keeps reading its ring and its
control socket; stop aborts the stream (drops what PortAudio buffered) instead of draining it.
Jobs play one after another, whole, in the order their audio arrived: never mixed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np

BLOCK_FRAMES = 256          # ~12 ms at 22050 Hz: small buffers for low latency
# A started stream calls back ~86 times a second even when it only plays silence, and keeps the
# sound server's device running (PulseAudio then never suspends it). After this long with nothing
# to play the stream is stopped (corked); starting it again took ~1 ms, first callback included,
# on PulseAudio (measured), so the next message does not pay for it.
IDLE_STOP_SECONDS = 2.0
END_OF_JOB = None


class NoAudioDevice(RuntimeError):
    """No output device could be opened; the message says which and what to do."""


def list_devices() -> list[dict]:
    import sounddevice

    return [{"index": index, "name": device["name"], "output_channels": device["max_output_channels"],
             "default_samplerate": device["default_samplerate"]}
            for index, device in enumerate(sounddevice.query_devices()) if device["max_output_channels"] > 0]


def resolve_device(spec: str | None) -> int | None:
    """Device by index or by (part of its) name; None means the system default."""
    if spec in (None, ""):
        return None
    devices = list_devices()
    if not devices:
        raise NoAudioDevice("no audio output device exists (PortAudio lists none); is a sound server "
                            "running? Use --out or --raw instead of --play")
    if spec.isdigit():
        if int(spec) in [d["index"] for d in devices]:
            return int(spec)
        raise NoAudioDevice(f"no output device with index {spec}; see `ttsd devices`")
    for device in devices:
        if spec.lower() in device["name"].lower():
            return device["index"]
    raise NoAudioDevice(f"no output device named like {spec!r}; see `ttsd devices`")


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Linear-interpolation resampling, only used when the device refuses the voice's rate."""
    if source_rate == target_rate or len(samples) == 0:
        return samples
    count = int(round(len(samples) * target_rate / source_rate))
    positions = np.arange(count) * (source_rate / target_rate)
    return np.interp(positions, np.arange(len(samples)), samples.astype(np.float32)).astype(np.int16)


@dataclass
class PlayedJob:
    job: int
    samples: int


@dataclass
class DevicePlayer:
    device_spec: str | None = None
    stream: object = None
    stream_rate: int = 0
    queues: "OrderedDict[int, deque]" = field(default_factory=OrderedDict)
    current: np.ndarray | None = None
    current_job: int | None = None
    current_clause: int = -1
    played: dict[int, int] = field(default_factory=dict)
    started: deque = field(default_factory=deque)     # (job, clause, monotonic time of its first sample)
    finished: deque = field(default_factory=deque)    # PlayedJob, in play order
    lock: threading.Lock = field(default_factory=threading.Lock)
    idle_since: float | None = None   # when the player last had nothing to play (None: busy)

    def open(self, voice_rate: int) -> None:
        """Open the device at the voice's rate, or at the device's own rate (then we resample)."""
        import sounddevice

        if self.stream is not None and self.stream_rate:
            return
        try:
            sounddevice._terminate()      # re-scan: the sound server may have started after us
            sounddevice._initialize()
            device = resolve_device(self.device_spec)
            try:
                sounddevice.check_output_settings(device=device, samplerate=voice_rate, channels=1, dtype="int16")
                rate = voice_rate
            except Exception:
                info = sounddevice.query_devices(device, "output")
                rate = int(info["default_samplerate"])
            self.stream = sounddevice.OutputStream(samplerate=rate, channels=1, dtype="int16", device=device,
                                                   blocksize=BLOCK_FRAMES, latency="low", callback=self._fill)
            self.stream.start()
            self.stream_rate = rate
        except NoAudioDevice:
            raise
        except Exception as error:
            self.stream = None
            raise NoAudioDevice(f"cannot open an audio output device ({error}); is a sound server "
                                "running and reachable (XDG_RUNTIME_DIR / PULSE_SERVER)? "
                                "Use --out or --raw instead of --play") from None

    def queue(self, job: int, pcm: bytes, sample_rate: int, clause: int = 0) -> None:
        samples = resample(np.frombuffer(pcm, dtype="<i2"), sample_rate, self.stream_rate)
        with self.lock:
            self.queues.setdefault(job, deque()).append((clause, samples))
        if self.stream is not None and self.stream.stopped:
            self.stream.start()

    def end(self, job: int) -> None:
        with self.lock:
            self.queues.setdefault(job, deque()).append(END_OF_JOB)

    def cancel(self, jobs: list[int]) -> bool:
        """Drop the jobs' audio; if one is playing, abort the device at once (no drain).
        Returns True when playing audio was cut."""
        with self.lock:
            playing = self.current_job in jobs
            for job in jobs:
                self.queues.pop(job, None)
                self.played.pop(job, None)
            if playing:
                self.current = None
                self.current_job = None
        if playing and self.stream is not None:
            self.stream.abort()
            self.stream.start()
        return playing

    def stop_when_idle(self, now: float, after: float = IDLE_STOP_SECONDS) -> None:
        """Stop the stream once nothing has been queued or playing for `after` seconds."""
        if self.stream is None or self.stream.stopped:
            return
        with self.lock:
            busy = bool(self.queues) or self.current_job is not None
        if busy:
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = now
        elif now - self.idle_since >= after:
            self.stream.stop()
            self.idle_since = None

    def _fill(self, out, frames, _time, _status) -> None:
        """PortAudio callback: copy the next samples of the current job, silence when idle."""
        out.fill(0)
        written = 0
        with self.lock:
            while written < frames:
                if self.current is None or len(self.current) == 0:
                    if not self._next_piece():
                        break
                    continue
                take = min(frames - written, len(self.current))
                out[written:written + take, 0] = self.current[:take]
                self.current = self.current[take:]
                self.played[self.current_job] = self.played.get(self.current_job, 0) + take
                written += take

    def _next_piece(self) -> bool:
        while self.queues:
            job, pieces = next(iter(self.queues.items()))
            if not pieces:
                return False          # the oldest job's audio has not arrived yet: wait for it
            piece = pieces.popleft()
            if piece is END_OF_JOB:
                del self.queues[job]
                self.finished.append(PlayedJob(job=job, samples=self.played.pop(job, 0)))
                self.current_job = None
                continue
            clause, samples = piece
            if self.current_job != job or self.current_clause != clause:
                self.current_job = job
                self.current_clause = clause
                self.started.append((job, clause, time.monotonic()))
            self.current = samples
            return True
        return False

    def close(self) -> None:
        if self.stream is not None:
            self.stream.abort()
            self.stream.close()
            self.stream = None
