"""English front-end: text -> clauses -> espeak-style IPA -> Piper phoneme ids.

Piper's English voices were trained on espeak-ng (en-us) phonemes. We get
pronunciations from g2p_en (CMUdict + a neural guesser, ARPAbet) and map them
to the symbols espeak would have produced, so the voice hears what it knows.
"""

import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterator

from frontends import NothingToSpeak
from frontends.english_numbers import normalize_english
from frontends.g2p_data import g2p_tokens
from frontends.text import (
    DEFAULT_MAX_CLAUSE_WORDS,
    first_clause_short,
    first_group_size,
    group_short_clauses,
    normalize_whitespace_and_punct,
    split_clauses,
    split_sentences,
)

LOGGER = logging.getLogger(__name__)

# Piper's special symbols (piper/const.py): each phoneme id is followed by PAD.
BOS = "^"
EOS = "$"
PAD = "_"

PRIMARY_STRESS = "ˈ"
SECONDARY_STRESS = "ˌ"
# Stress marks go immediately before the vowel, not before the syllable
# onset: espeak-ng writes "kˈæt", "bˈɛɾɚ", "kwˈɛstʃən" for this voice.
STRESS_MARKS = {"1": PRIMARY_STRESS, "2": SECONDARY_STRESS, "0": ""}

# ARPAbet vowel -> (IPA when stressed 1/2, IPA when unstressed 0).
ARPABET_VOWELS = {
    "AA": ("ɑː", "ɑː"),
    "AE": ("æ", "æ"),
    "AH": ("ʌ", "ə"),  # strut vs schwa: CMUdict marks schwa as AH0
    "AO": ("ɔː", "ɔː"),
    "AW": ("aʊ", "aʊ"),
    "AY": ("aɪ", "aɪ"),
    "EH": ("ɛ", "ɛ"),
    "ER": ("ɜː", "ɚ"),  # nurse vs r-coloured schwa ("bird" vs "butter")
    "EY": ("eɪ", "eɪ"),
    "IH": ("ɪ", "ɪ"),
    "IY": ("iː", "i"),  # espeak writes unstressed final -y short: "city" sˈɪɾi
    "OW": ("oʊ", "oʊ"),
    "OY": ("ɔɪ", "ɔɪ"),
    "UH": ("ʊ", "ʊ"),
    "UW": ("uː", "uː"),
}
# Before R, espeak en-us writes the NEAR and CURE vowels short:
# "here" hˈɪɹ (CMUdict HH IY1 R), "tour" tˈʊɹ (CMUdict T UW1 R).
VOWELS_BEFORE_R = {"IY": "ɪ", "UW": "ʊ"}
# espeak-ng keeps the FORCE vowel apart from NORTH: "more", "board", "four", "report" have oːɹ, "north",
# "for", "short" ɔːɹ; the dictionary has AO R for both. The voice learned the split; by spelling here.
FORCE_VOWEL = "oː"
FORCE_SPELLING = re.compile(r"oar|oor|our|ore(?:s|d|ly)?$|port")
ARPABET_CONSONANTS = {
    "B": "b",
    "CH": "tʃ",
    "D": "d",
    "DH": "ð",
    "F": "f",
    "G": "ɡ",  # U+0261 LATIN SMALL LETTER SCRIPT G, as espeak writes it (not ASCII g)
    "HH": "h",
    "JH": "dʒ",
    "K": "k",
    "L": "l",
    "M": "m",
    "N": "n",
    "NG": "ŋ",
    "P": "p",
    "R": "ɹ",  # English approximant r, not the trill r
    "S": "s",
    "SH": "ʃ",
    "T": "t",
    "TH": "θ",
    "V": "v",
    "W": "w",
    "Y": "j",
    "Z": "z",
    "ZH": "ʒ",
}
# American flap: a T between a vowel (or vowel + R, "forty") and an
# unstressed vowel is said as a tap, and espeak en-us writes it so.
FLAP = "ɾ"
# An r-coloured vowel before another vowel keeps its r as a consonant, as espeak-ng writes it: "current"
# kˈɜːɹənt, "memory" mˈɛmɚɹi, "hurry" hˈɜːɹi (without it "current" was kˈɜːənt, "hurry" hˈɜːi).
LINKING_R = "ɹ"
# "button", "written", "certain", "frightened": espeak-ng (the voice's training phonemes) says a glottal
# stop and a syllabic n where the dictionary has T AH0 N after a stressed vowel; a flap there made
# "Button" heard as "that end". Spelled -tten, -tton, -ttan, -ten, -tain ("Latin", "Dayton" keep their t).
GLOTTAL_N = "ʔn̩"
GLOTTAL_N_SPELLING = re.compile(r"(?:tt[aeo]n|ten|tain)(?:s|ed|t|'s)?$")
GLOTTAL_N_ENDINGS = ((), ("Z",), ("D",), ("T",))

# Function words that CMUdict stresses but espeak-ng leaves unstressed, as
# espeak-ng en-us writes them mid-sentence: (before a consonant, before a
# vowel). Taken from espeak's output for "Bob said <word> dogs/apples.";
# note espeak keeps full vowels in many of them ("and" ænd, "of" ʌv, "for"
# fɔːɹ) where a dictionary would give a schwa. Some keep a secondary stress.
# espeak keeps them weak at the end of a clause too ("looking at?" æt), except
# the particles in STRESSED_AT_CLAUSE_END.
WEAK_FORMS = {
    "a": ("ɐ", "ɐ"),
    "an": ("ɐn", "ɐn"),
    "the": ("ðə", "ðɪ"),
    "to": ("tə", "tʊ"),
    "of": ("ʌv", "ʌv"),
    "and": ("ænd", "ænd"),
    "for": ("fɔːɹ", "fɔːɹ"),
    "at": ("æt", "æt"),
    "it": ("ɪt", "ɪt"),
    "is": ("ɪz", "ɪz"),
    "will": ("wɪl", "wɪl"),
    "as": ("æz", "æz"),
    "but": ("bˌʌt", "bˌʌt"),
    "can": ("kæn", "kæn"),
    "from": ("fɹʌm", "fɹʌm"),
    "has": ("hɐz", "hɐz"),
    "have": ("hæv", "hæv"),
    "had": ("hæd", "hæd"),
    "in": ("ɪn", "ɪn"),
    "on": ("ˌɔn", "ˌɔn"),
    "or": ("ɔːɹ", "ɔːɹ"),
    "than": ("ðɐn", "ðɐn"),
    "that": ("ðæt", "ðæt"),
    "them": ("ðˌɛm", "ðˌɛm"),
    "was": ("wʌz", "wʌz"),
    "were": ("wɜː", "wɜːɹ"),  # linking r before a vowel
    "with": ("wɪð", "wɪð"),
    "you": ("juː", "juː"),
    "your": ("jʊɹ", "jʊɹ"),
    "he": ("hiː", "hiː"),
    "she": ("ʃiː", "ʃiː"),
    "we": ("wiː", "wiː"),
    "they": ("ðeɪ", "ðeɪ"),
    "be": ("biː", "biː"),
    "been": ("bˌɪn", "bˌɪn"),
    "by": ("baɪ", "baɪ"),
    "his": ("hɪz", "hɪz"),
    "her": ("hɜː", "hɜːɹ"),
    "its": ("ɪts", "ɪts"),
    "my": ("maɪ", "maɪ"),
    "our": ("ˌaʊɚ", "ˌaʊɚɹ"),
    "their": ("ðɛɹ", "ðɛɹ"),
    "so": ("sˌoʊ", "sˌoʊ"),
    "if": ("ɪf", "ɪf"),
    "are": ("ɑːɹ", "ɑːɹ"),
    "am": ("æm", "æm"),
    "would": ("wʊd", "wʊd"),
    "should": ("ʃˌʊd", "ʃˌʊd"),
    "could": ("kʊd", "kʊd"),
    "shall": ("ʃˌæl", "ʃˌæl"),
    "into": ("ˌɪntʊ", "ˌɪntʊ"),
    "onto": ("ˌɑːntʊ", "ˌɑːntʊ"),
    "upon": ("əpˌɑːn", "əpˌɑːn"),
    "me": ("mˌiː", "mˌiː"),
    "him": ("hˌɪm", "hˌɪm"),
    "us": ("ˌʌs", "ˌʌs"),
    "i": ("aɪ", "aɪ"),
    "this": ("ðɪs", "ðɪs"),
    "there": ("ðɛɹ", "ðɛɹ"),
    "what": ("wʌt", "wʌt"),
    "when": ("wɛn", "wɛn"),
    "where": ("wˌɛɹ", "wˌɛɹ"),
    "who": ("hˌuː", "hˌuː"),
    "which": ("wˌɪtʃ", "wˌɪtʃ"),
    "how": ("hˌaʊ", "hˌaʊ"),
    "some": ("sˌʌm", "sˌʌm"),
    "any": ("ˌɛni", "ˌɛni"),
    "not": ("nˌɑːt", "nˌɑːt"),
}

# (spelling ending, ARPAbet consonants after the last vowel, espeak's vowel) for espeak_unstressed_vowels.
UNSTRESSED_ENDINGS = (
    ("ed", ["D"], "ᵻ"), ("es", ["Z"], "ᵻ"),
    ("age", ["JH"], "ɪ"), ("ages", ["JH", "IH0", "Z"], "ɪ"), ("et", ["T"], "ɪ"), ("ets", ["T", "S"], "ɪ"),
    ("est", ["S", "T"], "ɪ"), ("id", ["D"], "ɪ"),
)
# Clause-final particles espeak stresses ("sat on it" vs "put it in" ˈɪn).
STRESSED_AT_CLAUSE_END = frozenset({"in", "on"})
# espeak flaps a word-final t across a word boundary only in these weak
# words ("not at all" æɾ ˈɔːl, "put it in" ɪɾ ˈɪn; but "sat on", "what I").
CROSS_WORD_FLAP_WORDS = frozenset({"it", "at"})

# Punctuation the voice uses for prosody; other marks g2p_en passes through
# ("'", "-", '"') are not spoken and espeak never emits them.
SPOKEN_PUNCTUATION = frozenset(",.?!;:")
WORD_FINAL_T = re.compile(r"t$")
# espeak links a word ending in an i-vowel to a vowel-initial word with a
# palatal glide: "the end" ðɪʲ ˈɛnd, "city is" sˈɪɾiʲ ɪz, "see it" sˈiːʲ ɪt.
LINKING_GLIDE = "ʲ"
I_VOWEL_ENDINGS = ("iː", "i", "ɪ")
# ...but not after the diphthongs that end in ɪ ("day it" dˈeɪ ɪɾ).
DIPHTHONG_ENDINGS = ("eɪ", "aɪ", "ɔɪ")
HAS_LETTER = re.compile("[A-Za-z]")


@dataclass(frozen=True)
class Clause:
    """One unit of synthesis: what is said, and what the voice is fed."""

    text: str  # the clause text after normalisation (what will be spoken)
    phonemes: str  # IPA string as fed to the voice (for logging / tests)
    ids: list[int]  # phoneme ids with bos/pad/eos exactly as Piper lays them out


@dataclass(frozen=True)
class _Word:
    """A g2p_en word with its ARPAbet, or a punctuation mark (arpabet empty)."""

    text: str | None  # lower-case spelling, None when it could not be aligned
    arpabet: list[str]
    punctuation: str = ""


class EnglishFrontend:
    """Turns English text into Piper phoneme ids, one clause at a time."""

    def __init__(self, phoneme_id_map: dict[str, list[int]], g2p: Callable[[str], list[str]],
                 max_clause_words: int = DEFAULT_MAX_CLAUSE_WORDS) -> None:
        self.phoneme_id_map = phoneme_id_map
        self.g2p = g2p
        self.max_clause_words = max_clause_words
        missing = sorted(symbol for symbol in all_output_symbols() if symbol not in phoneme_id_map)
        if missing:
            raise ValueError(f"voice phoneme map lacks symbols the English front-end emits: {missing}")

    def clauses(self, text: str, first_clause_words: int | None = None) -> Iterator[Clause]:
        """Yield clauses as each is ready; raises NothingToSpeak up front.

        first_clause_words: if set, cut a long first clause after about that
        many words so the first audio comes quickly.
        """
        normalized = normalize_whitespace_and_punct(text)
        # A Latin letter is always spoken; only text without one needs the full (length-proportional:
        # ~5 ms per kB) normalisation to know, which the first clause must not wait for.
        if not HAS_LETTER.search(normalized) and not any(HAS_LETTER.search(token)
                                                         for token in g2p_tokens(normalize_english(normalized))):
            raise NothingToSpeak(f"no speakable English words in the text {text[:40]!r}")
        return self._generate(normalized, first_clause_words)

    def _generate(self, normalized: str, first_clause_words: int | None) -> Iterator[Clause]:
        first = True
        for sentence in split_sentences(normalized):
            clause_texts = split_clauses(normalize_english(sentence), self.max_clause_words)
            if first and first_clause_words:
                clause_texts = first_clause_short(clause_texts, first_clause_words)
                size = first_group_size(clause_texts, first_clause_words)
                groups = [clause_texts[:size]] + group_short_clauses(clause_texts[size:], self.max_clause_words)
            else:
                groups = group_short_clauses(clause_texts, self.max_clause_words)
            for group in groups:
                clause_text = " ".join(group)
                phonemes = " ".join(p for p in (self.phonemize(text) for text in group) if p)
                if not any(char.isalpha() for char in phonemes):
                    continue  # e.g. a clause that was only symbols
                first = False
                yield Clause(text=clause_text, phonemes=phonemes, ids=self.to_ids(phonemes))

    def phonemize(self, clause_text: str) -> str:
        """IPA for one clause: words separated by spaces, punctuation attached."""
        words = self._words(clause_text)
        spoken = [word for word in words if word.arpabet]
        pieces: list[str] = []
        for index, word in enumerate(words):
            if word.punctuation:
                if pieces and word.punctuation in SPOKEN_PUNCTUATION:
                    pieces[-1] += word.punctuation
                continue
            if not word.arpabet:
                continue
            following = _next_word(words, index)
            is_last = word is spoken[-1]
            pieces.append(word_to_ipa(word, following, is_last))
        phonemes = " ".join(pieces)
        # g2p_en drops ';' and ':', but the voice uses them for prosody.
        final_mark = clause_text.rstrip()[-1:] if clause_text.strip() else ""
        if phonemes and final_mark in SPOKEN_PUNCTUATION and not phonemes.endswith(final_mark):
            phonemes += final_mark
        return phonemes

    def to_ids(self, phonemes: str) -> list[int]:
        """Piper layout: BOS PAD, then each symbol followed by PAD, then EOS."""
        id_map = self.phoneme_id_map
        ids = list(id_map[BOS]) + list(id_map[PAD])
        for symbol in unicodedata.normalize("NFD", phonemes):
            if symbol not in id_map:
                LOGGER.warning("symbol %r not in the voice's phoneme map; skipped", symbol)
                continue
            ids.extend(id_map[symbol])
            ids.extend(id_map[PAD])
        ids.extend(id_map[EOS])
        return ids

    def _words(self, clause_text: str) -> list[_Word]:
        """Pair g2p's per-word ARPAbet with the words it came from."""
        tokens = [token.lower() for token in g2p_tokens(clause_text)]
        groups: list[list[str]] = [[]]
        for phone in self.g2p(clause_text):
            if phone == " ":
                groups.append([])
            else:
                groups[-1].append(phone)
        if groups == [[]]:
            return []
        if len(groups) != len(tokens):
            # A g2p that tokenises differently: still speak, without weak forms.
            LOGGER.debug("g2p words do not line up with %r; weak forms skipped", clause_text)
            tokens = [None] * len(groups)
        words = []
        for token, group in zip(tokens, groups):
            if len(group) == 1 and not HAS_LETTER.search(group[0]) and not _is_arpabet(group[0]):
                words.append(_Word(text=token, arpabet=[], punctuation=group[0]))
            else:
                words.append(_Word(text=token, arpabet=[phone for phone in group if _is_arpabet(phone)]))
        return words


def _is_arpabet(phone: str) -> bool:
    return phone.rstrip("012") in ARPABET_VOWELS or phone in ARPABET_CONSONANTS


def _next_word(words: list[_Word], index: int) -> _Word | None:
    """The next spoken word in the same clause, if no punctuation comes first."""
    for word in words[index + 1:]:
        if word.punctuation:
            return None
        if word.arpabet:
            return word
    return None


def _starts_with_vowel(word: _Word | None) -> bool:
    return word is not None and word.arpabet[0].rstrip("012") in ARPABET_VOWELS


def word_to_ipa(word: _Word, following: _Word | None, is_last: bool) -> str:
    """IPA for one word, using its weak form when it is an unstressed function word."""
    before_vowel = _starts_with_vowel(following)
    spelled_letter = word.text == "a" and word.arpabet == ["EY1"]    # "Plan A", "Q and A" (g2p_data.is_letter_a)
    if word.text in WEAK_FORMS and not spelled_letter and not (is_last and word.text in STRESSED_AT_CLAUSE_END):
        weak_before_consonant, weak_before_vowel = WEAK_FORMS[word.text]
        ipa = weak_before_vowel if before_vowel else weak_before_consonant
    else:
        ipa = arpabet_to_ipa(word.arpabet, word.text)
    if before_vowel and word.text in CROSS_WORD_FLAP_WORDS:
        ipa = WORD_FINAL_T.sub(FLAP, ipa)
    if before_vowel and ipa.endswith(I_VOWEL_ENDINGS) and not ipa.endswith(DIPHTHONG_ENDINGS):
        ipa += LINKING_GLIDE
    if before_vowel and ipa.endswith("ɚ"):
        ipa += LINKING_R      # across words too: "after all" ˈæftɚɹ ˈɔːl, "water over" wˈɔːɾɚɹ ˈoʊvɚ
    return ipa


def arpabet_to_ipa(phones: list[str], spelling: str | None = None) -> str:
    """Map one word's ARPAbet (with stress digits) to espeak-style IPA."""
    reduced = espeak_unstressed_vowels(phones, spelling or "")
    glottal = _glottal_n_index(phones, spelling or "")
    pieces = []
    for index, phone in enumerate(phones):
        base, stress = phone.rstrip("012"), phone[len(phone.rstrip("012")):]
        if glottal is not None and glottal <= index <= glottal + 2:
            if index == glottal:
                pieces.append(GLOTTAL_N)
        elif base in ARPABET_VOWELS:
            stressed, unstressed = ARPABET_VOWELS[base]
            if base in VOWELS_BEFORE_R and index + 1 < len(phones) and phones[index + 1] == "R":
                stressed = unstressed = VOWELS_BEFORE_R[base]
            if (base == "AO" and index + 1 < len(phones) and phones[index + 1] == "R"
                    and FORCE_SPELLING.search((spelling or "").lower())):
                stressed = unstressed = FORCE_VOWEL
            if index in reduced:
                pieces.append(reduced[index])
            elif stress == "2" and base == "IY" and index == len(phones) - 1 and any(p.endswith("1") for p in phones):
                pieces.append(unstressed)   # "thirty", "company": g2p_en gives IY2, espeak the unstressed final -y
            elif stress == "2" and _follows_primary(phones, index):
                pieces.append(stressed)     # "airport" ˈɛɹpɔːɹt, "nobody": espeak never stresses two syllables in a row
            elif stress in ("1", "2"):
                pieces.append(STRESS_MARKS[stress] + stressed)
            else:
                pieces.append(unstressed)
            if base == "ER" and index + 1 < len(phones) and _is_vowel(phones[index + 1]):
                pieces.append(LINKING_R)
        elif base == "T" and _is_flapped(phones, index):
            pieces.append(FLAP)
        elif base in ARPABET_CONSONANTS:
            pieces.append(ARPABET_CONSONANTS[base])
    return "".join(pieces)


def espeak_unstressed_vowels(phones: list[str], spelling: str) -> dict[int, str]:
    """Unstressed vowels espeak-ng (en-us) writes differently from the dictionary's schwa or short i,
    by spelling: {index in phones: IPA}. From a word-by-word comparison with espeak over the bench
    and evaluation texts: initial a- is ɐ ("about", "again"), initial u- ʌ ("until"), initial ex-, es-
    and en- before a consonant ɛ ("example", "escape", "entire"; "enough", "effect" keep ɪ); the first vowel
    of de-/re- ("degrees", "remember") and of the suffixes -ed/-es ("expected", "images") is ᵻ
    (be- varies: "before" bᵻ, "because" bɪ); -age, -et after a consonant, -est, -id have ɪ
    ("message", "ticket", "nearest", "rapid"; "quiet" keeps ə)."""
    vowels = [index for index, phone in enumerate(phones) if _is_vowel(phone)]
    if not vowels or not spelling.isalpha():
        return {}
    reduced = {}
    first = vowels[0]
    if phones[first] == "AH0" and first == 0 and spelling[0] in "au":
        reduced[first] = "ɐ" if spelling[0] == "a" else "ʌ"
    if (phones[first] == "IH0" and first == 0 and len(vowels) > 1
            and (spelling[:2] in ("ex", "es") or (spelling[:2] == "en" and spelling[2:3] not in "aeiouy"))):
        reduced[first] = "ɛ"
    if (first == 1 and len(vowels) > 1 and phones[first] in ("IH0", "IY0", "AH0")
            and spelling[:2] in ("de", "re")):
        reduced[first] = "ᵻ"
    last = vowels[-1]
    if len(vowels) > 1 and phones[last] in ("IH0", "AH0"):
        tail = phones[last + 1:]
        for ending, consonants, ipa in UNSTRESSED_ENDINGS:
            if not spelling.endswith(ending) or tail != consonants:
                continue
            letter_before = spelling[-len(ending) - 1:-len(ending)]
            if not (ending.startswith("et") and letter_before in "aeiouy"):
                reduced[last] = ipa
            break
    return reduced


def _glottal_n_index(phones: list[str], spelling: str) -> int | None:
    """Where T AH0 N becomes GLOTTAL_N in this word, or None."""
    for ending in GLOTTAL_N_ENDINGS:
        index = len(phones) - 3 - len(ending)
        if (index >= 1 and tuple(phones[index + 3:]) == ending and phones[index:index + 3] == ["T", "AH0", "N"]
                and _is_flapped(phones, index) and GLOTTAL_N_SPELLING.search(spelling.lower())):
            return index
    return None


def _follows_primary(phones: list[str], index: int) -> bool:
    """Whether the vowel before this one is the word's primary stress."""
    previous = [phone for phone in phones[:index] if _is_vowel(phone)]
    return bool(previous) and previous[-1].endswith("1")


def _is_vowel(phone: str) -> bool:
    return phone.rstrip("012") in ARPABET_VOWELS


def _is_flapped(phones: list[str], index: int) -> bool:
    """T after a vowel (or vowel + R) and before an unstressed vowel."""
    if index == 0 or index + 1 >= len(phones):
        return False
    following = phones[index + 1]
    if not (_is_vowel(following) and following.endswith("0")):
        return False
    previous = phones[index - 1]
    if _is_vowel(previous):
        return True
    return previous == "R" and index >= 2 and _is_vowel(phones[index - 2])


def all_output_symbols() -> set[str]:
    """Every single symbol the front-end can emit (for checking a voice's map)."""
    texts = [FLAP, GLOTTAL_N, LINKING_R, FORCE_VOWEL, LINKING_GLIDE, PRIMARY_STRESS, SECONDARY_STRESS, " ",
             *SPOKEN_PUNCTUATION, "ɐ", "ʌ", "ᵻ", "ɪ"]
    for stressed, unstressed in ARPABET_VOWELS.values():
        texts += [stressed, unstressed]
    texts += list(ARPABET_CONSONANTS.values())
    for before_consonant, before_vowel in WEAK_FORMS.values():
        texts += [before_consonant, before_vowel]
    return {symbol for text in texts for symbol in unicodedata.normalize("NFD", text)}
