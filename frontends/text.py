"""Language-independent text clean-up and splitting.

The daemon speaks one clause at a time so that audio can start before the
whole message is processed. This module turns raw text into tidy sentences
and clauses; language modules (english_numbers, english) do the rest.
"""

import math
import re
import unicodedata

from frontends.english_numbers import MONTH_ABBREVIATIONS, MONTHS, WEEKDAYS

# Characters replaced by plain ASCII before anything else looks at the text.
# Curly quotes and dashes would otherwise be dropped as stray symbols.
ASCII_EQUIVALENTS = {
    "\u2018": "'",  # left single quote
    "\u2019": "'",  # right single quote / apostrophe
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",  # prime
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2033": '"',
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash (between digits)
    "\u2212": "-",  # minus sign
    "\u2026": "...",  # ellipsis
    "\u00a0": " ",  # no-break space (also caught by the whitespace rule)
}

# En/em dashes and bars mark a break in the sentence; written with spaces
# around them they become a clause boundary (see split_clauses).
DASH_CHARACTERS = "\u2013\u2014\u2015"
# A dash between two numbers is a range ("1990–1995", "9am–5pm", "$5–$10"), not a break.
DIGIT_RANGE_DASH = re.compile(r"(?:(?<=\d)|(?<=\d[ap]m))[\u2013\u2014\u2015](?=[$£€¥]?\d)", re.IGNORECASE)

# Symbols that a language normaliser may read aloud; every other symbol
# (emoji, arrows, box drawing, ...) is dropped.
KEPT_SYMBOLS = frozenset("$£€¥%&+@#/°=")
# Punctuation that carries meaning for splitting or reading.
KEPT_PUNCTUATION = frozenset(".,!?;:'\"-")

SENTENCE_END = frozenset(".!?")
CLAUSE_END = frozenset(",;:")
# Characters that may follow the sentence-final mark ("Stop!" he said).
CLOSING_QUOTES = "\"')"

# Lower-case abbreviations (without the final dot) after which a dot does
# not end the sentence. English by default; other languages pass their own.
DEFAULT_ABBREVIATIONS = frozenset(
    {
        "dr", "mr", "mrs", "ms", "st", "vs", "etc", "e.g", "i.e", "jr", "sr",
        "prof", "mt", "no", "inc", "ltd", "co", "corp", "gen", "gov", "sgt",
        "capt", "col", "lt", "rev", "hon", "approx", "dept", "est", "fig",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
        "nov", "dec", "a.m", "p.m", "u.s", "u.k", "ph.d",
    }
)

# Weekday abbreviations: "Tue. March 3", "Wed. at noon", "Sat. 9 am" go on; "See you Wed. The ..." ends.
# Their dot ends a sentence only before a capitalised word that is not a month (English defaults, like
# DEFAULT_ABBREVIATIONS; the names come from english_numbers, which reads them).
WEEKDAY_ABBREVIATIONS = frozenset(name.lower() for name in WEEKDAYS)
MONTH_WORDS = frozenset(name.lower() for name in [*MONTHS, *MONTH_ABBREVIATIONS])

# Words before which an over-long clause may be split: a pause there
# sounds natural.
DEFAULT_CONJUNCTIONS = frozenset(
    {
        "and", "but", "or", "nor", "so", "yet", "because", "although",
        "though", "while", "whereas", "which", "who", "where", "when",
        "unless", "until", "since", "if", "then", "that",
    }
)

DEFAULT_MAX_CLAUSE_WORDS = 20
DEFAULT_FIRST_CLAUSE_WORDS = 6
# A first clause only a little longer than the limit is left alone: cutting
# two words off the end gains nothing.
FIRST_CLAUSE_SLACK = 2
# Short words before which the first clause may be cut for quick audio.
FIRST_CLAUSE_BREAK_WORDS = DEFAULT_CONJUNCTIONS | frozenset(
    {"to", "of", "in", "on", "at", "for", "with", "from", "by", "about", "into", "as", "over", "under",
     "near", "after", "before", "through", "across", "behind", "during", "without", "against", "between",
     "around", "along", "toward", "towards", "upon", "onto", "like", "than"}
)

# How far past max_words a first-clause cut may look for a break word, and how many words it
# must leave for the next clause.
FIRST_CLAUSE_REACH = 4
FIRST_CLAUSE_MIN_TAIL = 3
FIRST_CLAUSE_MIN_WORDS = 3     # a shorter first clause is spoken with what follows it (first_group_size)
# Words that lean on the next one: a cut right after them leaves them phrase-final, and the
# listener hears a different word ("two | days" heard as "too. Days").
LEANING_WORDS = frozenset(
    {"a", "an", "the", "my", "your", "his", "her", "its", "our", "their", "this", "that", "these", "those",
     "some", "any", "no", "every", "each", "very", "more", "most", "less", "not", "one", "two", "three",
     "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "twenty", "thirty",
     "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "million",
     "billion", "point", "minus", "mister", "missus", "doctor", "saint", "is", "are", "was", "were", "be",
     "been", "am", "has", "have", "had", "will", "would", "can", "could", "should", "shall", "may", "might",
     "must", "do", "does", "did"}
) | FIRST_CLAUSE_BREAK_WORDS

WHITESPACE_RUN = re.compile(r"\s+")
SENTENCE_MARK_RUN = re.compile(r"[.!?]{2,}")
CLAUSE_MARK_RUN = re.compile(r"([,;:])[,;:]+")
# A clause mark directly followed by a sentence mark: the sentence mark wins.
CLAUSE_THEN_SENTENCE = re.compile(r"[,;:]+\s*([.!?])")
# ...and a sentence mark followed by clause marks ("?:") keeps only itself.
# A period right after a word and before a clause mark is an abbreviation's ("Elm Ave., Springfield",
# "Sun., Dec. 7", "Widgets Co.,"): it stays, so the sentence does not end there; the English rules read
# the abbreviation and drop the period.
SENTENCE_THEN_CLAUSE = re.compile(r"((?<![^\W\d_])\.|[!?])[,;:]+")
SPACE_BEFORE_MARK = re.compile(r"\s+([,;:.!?])")
# "a ,b" -> "a, b"; not between digits ("1,234", "7:45").
MISSING_SPACE_AFTER_MARK = re.compile(r"([,;:])(?=[^\W\d_])")
# "a--b" is a dash too; it becomes a token of its own.
DOUBLE_HYPHEN = re.compile(r"\s*--+\s*")
# A token made only of dashes (maybe with a mark: "-:") is a clause break.
DASH_TOKEN = re.compile(r"^-+([,;:.!?]?)[,;:.!?]*$")
INITIAL = re.compile(r"^[A-Za-z]\.$")
DOTTED_ACRONYM = re.compile(r"^(?:[A-Za-z]\.){2,}$")


def normalize_whitespace_and_punct(text: str) -> str:
    """Return text in a canonical form so later rules see one spelling only."""
    text = unicodedata.normalize("NFC", text)
    text = DIGIT_RANGE_DASH.sub("-", text)
    pieces = []
    for char in text:
        if char in ASCII_EQUIVALENTS:
            pieces.append(ASCII_EQUIVALENTS[char])
        elif char in DASH_CHARACTERS:
            pieces.append(" - ")
        elif char.isspace():
            pieces.append(" ")
        else:
            category = unicodedata.category(char)
            if category in ("Cc", "Cf", "Co", "Cs", "Cn"):
                continue  # control, format (zero-width), private, unassigned
            if category[0] in ("L", "N", "M"):
                pieces.append(char)
            elif char in KEPT_PUNCTUATION or char in KEPT_SYMBOLS:
                pieces.append(char)
            elif category[0] == "Z":
                pieces.append(" ")
            else:
                # Brackets, '*', '~', emoji...: a space keeps words apart.
                pieces.append(" ")
    text = "".join(pieces)
    text = SENTENCE_MARK_RUN.sub(_collapse_sentence_marks, text)
    text = CLAUSE_MARK_RUN.sub(r"\1", text)
    text = CLAUSE_THEN_SENTENCE.sub(r"\1", text)
    text = SENTENCE_THEN_CLAUSE.sub(r"\1", text)
    text = WHITESPACE_RUN.sub(" ", text).strip()
    text = SPACE_BEFORE_MARK.sub(r"\1", text)
    text = MISSING_SPACE_AFTER_MARK.sub(r"\1 ", text)
    return text


def _collapse_sentence_marks(match: re.Match) -> str:
    """'?!' and '!?' read as questions; '!!!' as one '!'; '...' as '.'."""
    marks = match.group(0)
    if "?" in marks:
        return "?"
    if "!" in marks:
        return "!"
    return "."


def split_sentences(text: str, abbreviations: frozenset[str] = DEFAULT_ABBREVIATIONS) -> list[str]:
    """Split normalised text at . ! ? that really end a sentence."""
    sentences = []
    current: list[str] = []
    tokens = [token for token in text.split(" ") if token]
    for token, next_token in zip(tokens, [*tokens[1:], ""]):
        current.append(token)
        if _ends_sentence(token, abbreviations) and not _weekday_goes_on(token, next_token):
            sentences.append(" ".join(current))
            current = []
    if current:
        sentences.append(" ".join(current))
    return sentences


def _weekday_goes_on(token: str, next_token: str) -> bool:
    """A capitalised weekday abbreviation's dot before a number, a lower-case word or a month."""
    word = token.rstrip(".")
    if not (token.endswith(".") and word[:1].isupper() and word.lower() in WEEKDAY_ABBREVIATIONS and next_token):
        return False
    return not next_token[0].isupper() or next_token.rstrip(".,").lower() in MONTH_WORDS


def _ends_sentence(token: str, abbreviations: frozenset[str]) -> bool:
    """True when the token's final mark closes a sentence."""
    core = token.rstrip(CLOSING_QUOTES)
    if not core or core[-1] not in SENTENCE_END:
        return False
    if core[-1] in "!?":
        return True
    word = core.rstrip(".").lstrip("\"'(").lower()
    if not word:
        return False  # a lone "." token
    if word in abbreviations:
        return False
    if INITIAL.match(core.lstrip("\"'(")) or DOTTED_ACRONYM.match(core.lstrip("\"'(")):
        return False  # "J." in "J. R. R. Tolkien", "U.S.A."
    return True


def split_clauses(sentence: str, max_words: int = DEFAULT_MAX_CLAUSE_WORDS,
                  conjunctions: frozenset[str] = DEFAULT_CONJUNCTIONS) -> list[str]:
    """Split a sentence at , ; : and spaced dashes, keeping each clause's mark.

    Clauses longer than max_words are cut again before a conjunction, or
    evenly, so one synthesis run never gets an unbounded input.
    """
    sentence = DOUBLE_HYPHEN.sub(" - ", sentence)
    clauses = []
    current: list[str] = []
    for token in sentence.split(" "):
        if not token:
            continue
        dash = DASH_TOKEN.match(token)
        if dash:
            if current:
                if current[-1][-1] not in CLAUSE_END and current[-1][-1] not in SENTENCE_END:
                    current[-1] += dash.group(1) or ","
                clauses.append(current)
                current = []
            continue
        current.append(token)
        if token[-1] in CLAUSE_END:
            clauses.append(current)
            current = []
    if current:
        clauses.append(current)
    result = []
    for words in clauses:
        for piece in _split_long(words, max_words, conjunctions):
            result.append(" ".join(piece))
    return [clause for clause in result if clause.strip(",;:.!? ")]


def _split_long(words: list[str], max_words: int, conjunctions: frozenset[str]) -> list[list[str]]:
    """Cut a word list into pieces of at most max_words, preferring conjunctions."""
    if len(words) <= max_words:
        return [words]
    middle = len(words) / 2
    best = None
    for index in range(1, len(words)):
        if words[index].lower().strip("\"'") in conjunctions:
            if best is None or abs(index - middle) < abs(best - middle):
                best = index
    # Only use the conjunction if both halves are worth a run of their own.
    if best is not None and min(best, len(words) - best) >= max(3, max_words // 4):
        return (_split_long(words[:best], max_words, conjunctions)
                + _split_long(words[best:], max_words, conjunctions))
    count = math.ceil(len(words) / max_words)
    size = math.ceil(len(words) / count)
    return [words[start:start + size] for start in range(0, len(words), size)]


def first_clause_short(clauses: list[str], max_words: int = DEFAULT_FIRST_CLAUSE_WORDS) -> list[str]:
    """Cut the first clause early so the first synthesis run is quick.

    Time to first audio grows with the length of the first run; the rest of
    the message is synthesised while the first piece plays.
    """
    if not clauses:
        return []
    words = clauses[0].split(" ")
    if len(words) <= max_words + FIRST_CLAUSE_SLACK:
        return list(clauses)
    cut = None
    for index in range(1, max_words + 1):
        if words[index - 1][-1] in CLAUSE_END:
            cut = index  # an inner comma, e.g. kept inside a number phrase
            break
    # Cut positions nearest max_words first, then a little past it (leaving a real next clause).
    last_cut = len(words) - FIRST_CLAUSE_MIN_TAIL
    candidates = [*range(max_words, 2, -1), *range(max_words + 1, min(max_words + FIRST_CLAUSE_REACH, last_cut) + 1)]
    if cut is None:
        # Before a break word.
        cut = next((index for index in candidates if words[index].lower() in FIRST_CLAUSE_BREAK_WORDS), None)
    if cut is None:
        # After a word that does not lean on the next.
        cut = next((index for index in candidates if words[index - 1].lower().strip("'\"") not in LEANING_WORDS),
                   max_words)
    head = " ".join(words[:cut])
    tail = " ".join(words[cut:])
    return [head, tail] + list(clauses[1:])


def first_group_size(clauses: list[str], max_words: int = DEFAULT_FIRST_CLAUSE_WORDS) -> int:
    """How many of the first sentence's clauses go into the first synthesis unit. A first clause of
    FIRST_CLAUSE_MIN_WORDS or more stands alone for quick audio; a shorter one ("Button,", "Link,")
    takes the clauses after it while the unit stays within max_words + FIRST_CLAUSE_SLACK: with
    "Button," spoken alone, the rest of "Button, Submit, dimmed." started afresh (Whisper, 8 takes:
    29 % WER on it, 17 % as one unit; 14 screen-reader strings 7.5 % -> 5.9 %)."""
    count, words = 1, len(clauses[0].split()) if clauses else 0
    if words >= FIRST_CLAUSE_MIN_WORDS:
        return count
    while count < len(clauses) and words + len(clauses[count].split()) <= max_words + FIRST_CLAUSE_SLACK:
        words += len(clauses[count].split())
        count += 1
    return count


def group_short_clauses(clauses: list[str], max_words: int) -> list[list[str]]:
    """Group a sentence's clauses into synthesis units of at most max_words.

    Why: the voice was trained on whole sentences; synthesizing a comma clause on its own
    swallows its last consonant ("March third," heard as "March three") and flattens prosody.
    Only long sentences are cut at their commas."""
    groups: list[list[str]] = []
    for clause in clauses:
        if groups and sum(len(c.split()) for c in groups[-1]) + len(clause.split()) <= max_words:
            groups[-1].append(clause)
        else:
            groups.append([clause])
    return groups
