"""English numbers, symbols and abbreviations spelled out as words.

This runs before G2P: g2p_en would guess at digits and abbreviations on its
own, and gets some wrong ("Dr." -> "drive"). Output words never contain
hyphens because g2p_en treats "forty-two" as one unknown word and mangles it.
"""

import re

ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
    "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
    "sixteen", "seventeen", "eighteen", "nineteen",
)
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
# (value, name) from the largest scale down.
SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
# Numbers this large are read digit by digit (account numbers, not amounts).
MAX_CARDINAL = 10**15

# Irregular ordinal endings of the last word; others just add "th".
ORDINAL_WORDS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth",
    "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}

# symbol -> (singular major, plural major, singular minor, plural minor)
CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "sen", "sen"),
}

# Unit abbreviations read after a number: abbreviation -> (singular, plural).
# Only unambiguous ones: a bare "m" could be metres or million.
UNITS = {
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "tsp": ("teaspoon", "teaspoons"),
    "tbsp": ("tablespoon", "tablespoons"),
    "gal": ("gallon", "gallons"),
    "ft": ("foot", "feet"),
    "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kb": ("kilobyte", "kilobytes"),
    "mb": ("megabyte", "megabytes"),
    "gb": ("gigabyte", "gigabytes"),
    "tb": ("terabyte", "terabytes"),
    "kbps": ("kilobit per second", "kilobits per second"),
    "mbps": ("megabit per second", "megabits per second"),
    "gbps": ("gigabit per second", "gigabits per second"),
    "kb/s": ("kilobyte per second", "kilobytes per second"),
    "mb/s": ("megabyte per second", "megabytes per second"),
    "gb/s": ("gigabyte per second", "gigabytes per second"),
    "mah": ("milliamp hour", "milliamp hours"),
    "nm": ("nanometer", "nanometers"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "kcal": ("kilocalorie", "kilocalories"),
    "ms": ("millisecond", "milliseconds"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "ml": ("milliliter", "milliliters"),
    "mg/dl": ("milligram per deciliter", "milligrams per deciliter"),
    "m/s": ("meter per second", "meters per second"),
    "mi": ("mile", "miles"),
    "yd": ("yard", "yards"),
    "mhz": ("megahertz", "megahertz"),
    "ghz": ("gigahertz", "gigahertz"),
    "kw": ("kilowatt", "kilowatts"),
    "kwh": ("kilowatt hour", "kilowatt hours"),
    "fps": ("frame per second", "frames per second"),
    "px": ("pixel", "pixels"),
    "hz": ("hertz", "hertz"),
    "khz": ("kilohertz", "kilohertz"),
    "°c": ("degree celsius", "degrees celsius"),
    "°f": ("degree fahrenheit", "degrees fahrenheit"),
    "°": ("degree", "degrees"),
}

# Abbreviations that always read the same way. Keys are lower case and
# include the dot; the match is case-insensitive.
ABBREVIATIONS = {
    "mr.": "mister",
    "mrs.": "missus",
    "ms.": "miz",
    "vs.": "versus",
    "etc.": "et cetera",
    "e.g.": "for example",
    "i.e.": "that is",
    "jr.": "junior",
    "sr.": "senior",
    "prof.": "professor",
    "mt.": "mount",
    "approx.": "approximately",
    "dept.": "department",
    "apt.": "apartment",
    "ave.": "avenue",
    "blvd.": "boulevard",
    "blvd": "boulevard",
    "hwy.": "highway",
    "hwy": "highway",
    "fwy.": "freeway",
    "fwy": "freeway",
    "pkwy.": "parkway",
    "pkwy": "parkway",
    "rd.": "road",
    "ext.": "extension",
    "fig.": "figure",
    "vol.": "volume",
    "ch.": "chapter",
    "para.": "paragraph",
    "pp.": "pages",
    "inc.": "incorporated",
    "ltd.": "limited",
    "corp.": "corporation",
    "co.": "company",
    "govt.": "government",
    "avg.": "average",
    "misc.": "miscellaneous",
    "sgt.": "sergeant",
    "capt.": "captain",
    "lt.": "lieutenant",
    "gov.": "governor",
    "sen.": "senator",
    "rev.": "reverend",
    "pres.": "president",
    "a.m.": "ay em",
    "p.m.": "pee em",
}
# Abbreviations whose reading depends on whether a name follows:
# "Dr. Smith" -> doctor, "Elm Dr." -> drive. (before a name, otherwise)
NAME_TITLES = {
    "dr": ("doctor", "drive"),
    "st": ("saint", "street"),
}

# Key names as people say them. Everywhere: the ones that are no word ("Press Esc", "Ctrl+S"; the
# dictionary lacks them, so they were spelled or guessed: "Ctrl" as C-T-R-L, "PgUp" as "jup").
KEY_WORDS = {"ctrl": "control", "esc": "escape", "cmd": "command", "pgup": "page up", "pgdn": "page down",
             "wi-fi": "wifi"}
# Only inside a key combination, where they cannot be a name or a word ("Ctrl+Alt+Del", "Shift+Ins").
COMBINATION_KEY_WORDS = {**KEY_WORDS, "del": "delete", "ins": "insert", "bksp": "backspace", "opt": "option",
                         "win": "windows"}
MODIFIER_KEYS = ("ctrl", "control", "alt", "shift", "cmd", "command", "win", "super", "meta", "fn", "option", "opt")

# Words after which a four-digit number is a year ("in 1999").
YEAR_CONTEXT_WORDS = frozenset(
    {"in", "since", "by", "from", "until", "till", "of", "during", "before",
     "after", "year", "circa", "around", "early", "late", "mid", "summer",
     "winter", "spring", "autumn", "fall"}
)

SYMBOL_WORDS = {
    "&": " and ",
    "+": " plus ",
    "=": " equals ",
    "@": " at ",
    "%": " percent ",
}
# Symbols with no reading of their own once the rules above have run
# ("24/7", a stray "#" or "$"): a space keeps the words apart.
SILENT_SYMBOLS = "/#°$£€¥"

NUMBER = r"\d{1,3}(?:,\d{3})+|\d+"
KEY_COMBINATION_PATTERN = re.compile(r"\b(?:" + "|".join(MODIFIER_KEYS) + r")(?:\s*\+\s*[A-Za-z0-9]+)+\b",
                                     re.IGNORECASE)
KEY_WORD_PATTERN = re.compile(r"(?<![\w-])(" + "|".join(re.escape(key) for key in KEY_WORDS) + r")(?![\w-])",
                              re.IGNORECASE)
ABBREVIATION_PATTERN = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(key) for key in ABBREVIATIONS) + r")(?=\W|$)",
    re.IGNORECASE,
)
NAME_TITLE_PATTERN = re.compile(r"\b(Dr|St)\.?(?=[\s,;:!?)]|$)(?:(\s+)(\S+))?", re.IGNORECASE)
# "$2.5 million", "$50k", "$3bn": a scale word or its short form after the amount.
SCALE_WORDS = {"thousand": "thousand", "million": "million", "billion": "billion", "trillion": "trillion",
               "k": "thousand", "m": "million", "mn": "million", "bn": "billion", "b": "billion", "tn": "trillion"}
MONEY_PATTERN = re.compile(
    r"([$£€¥])\s?(" + NUMBER + r")(?:\.(\d+))?(?:\s?(thousand|million|billion|trillion)\b|(k|m|mn|bn|b|tn)\b)?",
    re.IGNORECASE,
)
# "7k followers", "2.3bn people" (a capital K is left alone: "4K video").
SHORT_SCALE_PATTERN = re.compile(r"\b(\d+(?:\.\d+)?)(k|bn)\b")
TIME_PATTERN = re.compile(
    r"\b(\d{1,2}):(\d{2})(?!\d)(?:\s?([ap])\.?\s?m\b\.?)?", re.IGNORECASE
)
AM_PM_PATTERN = re.compile(r"\b(\d{1,2})\s?([ap])\.?\s?m\b\.?", re.IGNORECASE)
PERCENT_PATTERN = re.compile(r"(-?)(" + NUMBER + r")(?:\.(\d+))?\s?%")
ORDINAL_PATTERN = re.compile(r"\b(" + NUMBER + r")(st|nd|rd|th)\b", re.IGNORECASE)
DECADE_PATTERN = re.compile(r"\b(1[1-9]|20)(\d)0'?s\b")
# Not inside "1,999,000" or "1999.5"; a comma after the year is fine ("in 1984, he").
YEAR_PATTERN = re.compile(r"(?<![\d,.$£€¥-])\b(1[1-9]\d\d|20\d\d)\b(?!\d|[,.]\d)")
# "10-12", "$5-$10", "9am-5pm" (text.py already turned such en dashes into hyphens).
RANGE_PATTERN = re.compile(r"(?:(?<=\d)|(?<=\d[ap]m))-(?=[$£€¥]?\d)", re.IGNORECASE)
# "16:9", "a 3:1 ratio" (what the time rule left: not a clock time).
RATIO_PATTERN = re.compile(r"(?<![\d:])(\d+):(\d+)(?![\d:])")
# "5 x 10", "1920x1080"
DIMENSION_PATTERN = re.compile(r"(?<=\d)\s*x\s*(?=\d)")
# 6'2" -> six foot two
FEET_INCHES_PATTERN = re.compile(r"\b(\d{1,2})['′]\s?(\d{1,2})(?:\"|″|'')")
# "UA123", "A380": digits glued to letters are a code, read digit by digit.
CODE_DIGITS_PATTERN = re.compile(r"(?<=[A-Za-z])(?<!\dx)(\d{3,})\b")   # not 1920x1080
# "CO2", "NO2", "PS5": capitals glued to digits are letters ("CO" and "NO" were read as words).
CAPITALS_BEFORE_DIGITS_PATTERN = re.compile(r"\b([A-Z]{2,3})(?=\d)")
WEEKDAYS = {"Mon": "Monday", "Tue": "Tuesday", "Tues": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday",
            "Thur": "Thursday", "Thurs": "Thursday", "Fri": "Friday", "Sat": "Saturday", "Sun": "Sunday"}
WEEKDAY = "(" + "|".join(WEEKDAYS) + ")"
# "Mon-Fri", "Sat – Sun": a range of abbreviated weekdays (alone, "Sat" and "Sun" are words).
WEEKDAY_RANGE_PATTERN = re.compile(r"\b" + WEEKDAY + r"\.?\s?[-–]\s?" + WEEKDAY + r"(?!\w)")
# Screen-reader strings found misread by Whisper: "5G" was "five grams", "C#" "C", "iOS" "ee-ose",
# "w/o" "double-u oh", "911" "nine hundred eleven", "00:05:23" "zero oh five: twenty three".
NETWORK_GENERATION_PATTERN = re.compile(r"(?<![\w.])([2-6])G\b")
SHARP_PATTERN = re.compile(r"\b([A-G])#(?!\w)")
SYSTEM_NAMES = {"iOS": "eye O S", "iPadOS": "eye pad O S", "macOS": "mac O S", "watchOS": "watch O S",
                "tvOS": "T V O S", "iPhone": "eye phone", "iPad": "eye pad", "iPod": "eye pod", "iCloud": "eye cloud"}
SYSTEM_NAME_PATTERN = re.compile(r"(?<![\w-])(" + "|".join(SYSTEM_NAMES) + r")(?=s?(?![\w-]))")
WITH_PATTERN = re.compile(r"(?<![\w/])[Ww]/(o\b)?(?=\s|$)")
SERVICE_NUMBER_PATTERN = re.compile(r"(?<![\w.,$£€¥-])([49]11)(?![\w,-]|[.:]\d)")
DURATION_PATTERN = re.compile(r"(?<![\d:])(\d{1,2}):([0-5]\d):([0-5]\d)(?![\d:])")
NEGATIVE_MONEY_PATTERN = re.compile(r"(?<![\w])-(?=[$£€¥]\d)")
# An abbreviation's period before a clause mark, once the abbreviation is read ("Co.,").
PERIOD_BEFORE_CLAUSE_MARK = re.compile(r"(?<=[^\W\d_])\.(?=[,;:])")
# "report.pdf", "setup.exe": a file name with a common extension, the extension as people say it.
FILE_EXTENSIONS = {
    "pdf": "P D F", "txt": "text", "doc": "doc", "docx": "doc X", "xls": "X L S", "xlsx": "X L S X",
    "csv": "C S V", "ppt": "P P T", "pptx": "P P T X", "odt": "O D T", "ods": "O D S", "rtf": "R T F",
    "jpg": "J peg", "jpeg": "J peg", "png": "P N G", "gif": "gif", "svg": "S V G", "webp": "web P",
    "mp3": "M P three", "mp4": "M P four", "wav": "wave", "ogg": "ogg", "flac": "flac", "mov": "mov",
    "zip": "zip", "tar": "tar", "gz": "G Z", "iso": "I S O", "exe": "E X E", "deb": "deb", "rpm": "R P M",
    "html": "H T M L", "css": "C S S", "js": "J S", "json": "jason", "xml": "X M L", "py": "P Y",
    "sh": "S H", "md": "M D", "log": "log", "ini": "I N I", "cfg": "config", "conf": "conf",
    "yaml": "yaml", "yml": "Y M L", "toml": "toml", "epub": "E pub", "apk": "A P K", "dll": "D L L",
}
FILE_NAME_PATTERN = re.compile(r"(?<![\w.@/])([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\.(" + "|".join(FILE_EXTENSIONS)
                               + r")\b(?![.@/-]\w)", re.IGNORECASE)
YEAR_RANGE_PATTERN = re.compile(r"\b(1[1-9]\d\d|20\d\d)\s?-\s?(1[1-9]\d\d|20\d\d)\b")
# A hyphen inside a word: g2p_en reads "well-known" as one unknown word.
WORD_HYPHEN_PATTERN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")
# Any other hyphen that is not spaced on both sides ("-a", "pre- and",
# ":-)") says nothing; a spaced " - " is kept, it is a clause break for
# split_clauses.
STRAY_HYPHEN_PATTERN = re.compile(r"(?<!\s)-|-(?!\s)")
DOUBLE_HYPHEN_PATTERN = re.compile(r"-{2,}")
UNIT_PATTERN = re.compile(
    r"(-?(?:" + NUMBER + r")(?:\.\d+)?)\s?("
    + "|".join(re.escape(unit) for unit in sorted(UNITS, key=len, reverse=True))
    + r")(?![\w])",
    re.IGNORECASE,
)
HASH_NUMBER_PATTERN = re.compile(r"#\s?(?=\d)")
# "#accessibility", "#TBT", "#BlackHistoryMonth": a hashtag (the "#" was dropped, unheard); not "C#", not "page#top".
HASHTAG_PATTERN = re.compile(r"(?<![\w#/.])#([A-Za-z][A-Za-z0-9_]*)")
NUMBER_NO_PATTERN = re.compile(r"\bNo\.\s?(?=\d)")
# Not part of a dotted sequence such as a version "1.2.3"; a sentence-final
# dot after the digits is fine ("Pi is 3.14.").
DECIMAL_PATTERN = re.compile(r"(?<!\d)(?<!\d\.)(-?)(" + NUMBER + r")?\.(\d+)(?!\d|\.\d)")
# "1.2.3" (versions, dotted numbers) read as "one point two point three".
DOTTED_NUMBER_PATTERN = re.compile(r"\b\d+(?:\.\d+){2,}\b")
NEGATIVE_PATTERN = re.compile(r"(?<![\w])-(?=\d)")
CARDINAL_PATTERN = re.compile(NUMBER)

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
MONTH_ABBREVIATIONS = {"Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April", "Jun": "June",
                       "Jul": "July", "Aug": "August", "Sep": "September", "Sept": "September",
                       "Oct": "October", "Nov": "November", "Dec": "December"}
# "Sun., Dec. 7", "Tue. March 3", "Sat 9 am", "Wed. at noon", "See you Fri.": a capitalised weekday
# abbreviation before a comma, a date, a time or a lower-case word, or with its period at the end
# ("Sat" and "Sun" only before a comma, a date or a time: alone they are words).
WEEKDAY_ABBREVIATION_PATTERN = re.compile(
    r"\b" + WEEKDAY + r"\.?(?=,|\s+(?:" + "|".join([*MONTHS, *MONTH_ABBREVIATIONS]) + r")\b|\s+\d)"
    r"|\b(Mon|Tues?|Wed|Thu|Thurs?|Fri)\.(?=\s+[a-z]|\s*$)"
)
# "Dec. 5", "Jan 12": an abbreviated month only before a day number (else "Mar" and "Dec" are names).
MONTH_ABBREVIATION_PATTERN = re.compile(r"\b(" + "|".join(MONTH_ABBREVIATIONS) + r")\.?(?=\s\d{1,2}(?![\d:]))")
# "December 5" is read "December fifth", as Americans say it; "5th" is already an ordinal.
MONTH_DAY_PATTERN = re.compile(r"\b(" + "|".join(MONTHS) + r")\s(\d{1,2})(?![\d:]|\.\d|st|nd|rd|th)")
# 12/05/2026 and 12/5/26: month first (en-US); a first number above 12 is a day.
TWO_DIGIT_YEAR_PIVOT = 40     # 5/6/99 is 1999, 5/6/26 is 2026
SLASH_DATE_PATTERN = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\d/])")
ISO_DATE_PATTERN = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")
# Phone numbers: digits read one by one, in their groups.
PHONE_PATTERN = re.compile(r"(?<![\d-])(?:(1)[-. ])?(?:\((\d{3})\)\s?|(\d{3})[-. ])(\d{3})[-.](\d{4})(?![\d-])")
LOCAL_PHONE_PATTERN = re.compile(r"(?<![\d-])(\d{3})-(\d{4})(?![\d-])")
# "+44 20 7946 0958", "+1 (415) 555-0100": a country code, then groups.
INTERNATIONAL_PHONE_PATTERN = re.compile(r"(?<![\w+])\+(\d{1,3})((?:[ .-]?\(?\d{1,4}\)?){2,5})(?![\d])")
# "0800-123-456", "020 7946 0958": three or more digit groups (a trunk 0 for spaced ones). Runs
# after the date rules (2026-12-05 is a date).
DIGIT_GROUPS_PATTERN = re.compile(
    r"(?<![\d,.-])(?:\d{1,4}(?:-\d{2,4}){2,4}|0\d{1,4}(?: \d{3,4}){1,3})(?![\d-]|[,.]\d)")
# Simple fractions, with the denominators recipes and measures use (not 9/11 or 24/7); n/5 and
# n/10 are ratings ("4/5 stars": four out of five).
FRACTION_DENOMINATORS = {2: ("half", "halves"), 3: ("third", "thirds"), 4: ("quarter", "quarters"),
                         8: ("eighth", "eighths"), 16: ("sixteenth", "sixteenths")}
RATING_DENOMINATORS = frozenset({5, 10})
RATING_DECIMAL_PATTERN = re.compile(r"(?<![\d/.,])(\d+\.\d+)/(5|10)(?![\d/]|\.\d)")
FRACTION_PATTERN = re.compile(r"(?<![\d/.,])(?:(\d+)\s)?(\d{1,2})/(\d{1,2})(?![\d/]|\.\d)")
# Web and mail addresses: "example dot com slash page", "bob at example dot org". The scheme is
# not read; the address must end in a common top-level domain, in lower case (not "fine.It").
TOP_LEVEL_DOMAINS = ("com", "org", "net", "edu", "gov", "mil", "int", "io", "co", "ai", "dev", "app", "info",
                     "biz", "us", "uk", "ca", "au", "de", "fr", "es", "it", "nl", "eu", "cn", "jp", "in", "ru",
                     "br", "ch", "se", "no", "me", "tv", "ly")
DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:" + "|".join(TOP_LEVEL_DOMAINS) + r")\b"
EMAIL_PATTERN = re.compile(r"\b([\w.+-]+)@(" + DOMAIN + r")")
URL_PATTERN = re.compile(r"(?:\bhttps?://)?\b(" + DOMAIN + r")((?:/[^\s]*)?)")
URL_TRAILING_MARKS = ".,;:!?)\"'"
# "the '80s", "80s music": a decade of the 20th century.
SHORT_DECADE_PATTERN = re.compile(r"(?<![\w'])'?([2-9])0'?s\b")
# "3x faster"
TIMES_PATTERN = re.compile(r"\b(\d+(?:\.\d+)?)x(?=\s|$|[,;:.!?])")
# Roman numerals II-XXXIX after a capitalised word: "Henry VIII" -> Henry the eighth, but
# "World War II" -> War two after the nouns in COUNTED_NOUNS. A lone I, V or X is left alone
# ("Malcolm X", the pronoun I), and so is one after a capitalised function word ("The IV bag").
ROMAN_PATTERN = re.compile(r"\b([A-Z][a-z]+)\s(?=[IVX]{2})(X{0,3}(?:IX|IV|VI{0,3}|I{1,3})|X{1,3})\b(?!['-])")
NOT_BEFORE_ROMAN = frozenset(
    {"The", "A", "An", "And", "Or", "But", "If", "When", "Then", "So", "In", "On", "At", "To", "For", "Of",
     "By", "With", "From", "My", "His", "Her", "Our", "Their", "Its", "Your", "This", "That", "These",
     "Those", "Is", "Was", "Are", "No", "Not", "All", "Any", "Some", "As"})
ROMAN_VALUES = {"I": 1, "V": 5, "X": 10}
COUNTED_NOUNS = frozenset(
    {"War", "Chapter", "Part", "Volume", "Vol", "Act", "Scene", "Book", "Phase", "Type", "Class", "Level",
     "Stage", "Title", "Article", "Section", "Episode", "Season", "Apollo", "Vatican", "Gemini", "Schedule",
     "Appendix", "Grade", "Category", "Division", "Bowl", "Round", "Step", "Figure", "Table", "Tier", "Mark",
     "Series", "Rocky", "Star", "Unit", "Wave", "Track", "Game", "Olympiad", "Congress", "Amendment"})
WHITESPACE_RUN = re.compile(r"\s+")
# Not after a spaced dash: gluing "- ." into "-." would hide the dash.
SPACE_BEFORE_MARK = re.compile(r"(?<=[^\s-])\s+([,;:.!?])")


def number_to_words(number: int) -> str:
    """Cardinal reading, e.g. 1234 -> 'one thousand two hundred thirty four'."""
    if number < 0:
        return "minus " + number_to_words(-number)
    if number >= MAX_CARDINAL:
        return digits_to_words(str(number))
    if number < 20:
        return ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return TENS[tens] if ones == 0 else f"{TENS[tens]} {ONES[ones]}"
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        words = f"{ONES[hundreds]} hundred"
        return words if rest == 0 else f"{words} {number_to_words(rest)}"
    for value, name in SCALES:
        if number >= value:
            high, rest = divmod(number, value)
            words = f"{number_to_words(high)} {name}"
            return words if rest == 0 else f"{words} {number_to_words(rest)}"
    raise AssertionError("unreachable")


def digits_to_words(digits: str) -> str:
    """Read a digit string one digit at a time ('007' -> 'zero zero seven')."""
    return " ".join(ONES[int(digit)] for digit in digits if digit.isdigit())


def ordinal_to_words(number: int) -> str:
    """Ordinal reading, e.g. 23 -> 'twenty third'."""
    words = number_to_words(number).split(" ")
    last = words[-1]
    if last in ORDINAL_WORDS:
        words[-1] = ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_to_words(year: int) -> str:
    """Year reading: 1999 -> nineteen ninety nine, 2005 -> two thousand five."""
    if 2000 <= year <= 2009:
        return number_to_words(year)
    high, low = divmod(year, 100)
    if low == 0:
        return f"{number_to_words(high)} hundred"
    if low < 10:
        return f"{number_to_words(high)} oh {ONES[low]}"
    return f"{number_to_words(high)} {number_to_words(low)}"


def _plural_noun(words: str) -> str:
    """'nineteen ninety' -> 'nineteen nineties' (decades)."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    return words + "s"


def _cardinal_text(text: str) -> str:
    """Words for a digit string that may hold thousands separators."""
    digits = text.replace(",", "")
    if len(digits) > 1 and digits.startswith("0"):
        return digits_to_words(digits)
    return number_to_words(int(digits))


def _fraction_text(digits: str) -> str:
    return digits_to_words(digits)


def _money(symbol: str, whole: str, fraction: str | None, scale: str | None) -> str:
    major_one, major_many, minor_one, minor_many = CURRENCIES[symbol]
    amount = int(whole.replace(",", ""))
    if scale:
        # "$2.5 million" -> two point five million dollars
        number = _cardinal_text(whole)
        if fraction:
            number += " point " + _fraction_text(fraction)
        return f" {number} {scale.lower()} {major_many} "
    if fraction and len(fraction) != 2:
        return f" {_cardinal_text(whole)} point {_fraction_text(fraction)} {major_many} "
    cents = int(fraction) if fraction else 0
    parts = []
    if amount or not cents:
        parts.append(f"{_cardinal_text(whole)} {major_one if amount == 1 else major_many}")
    if cents:
        parts.append(f"{number_to_words(cents)} {minor_one if cents == 1 else minor_many}")
    return " " + " and ".join(parts) + " "


def _am_pm(letter: str | None) -> str:
    if not letter:
        return ""
    return " ay em" if letter.lower() == "a" else " pee em"


def _file_name(match: re.Match) -> str:
    """"report.pdf" -> "report dot P D F"."""
    return f" {_dotted_words(match.group(1))} dot {FILE_EXTENSIONS[match.group(2).lower()]} "


def _duration(match: re.Match) -> str:
    """A player's "00:05:23" or "1:10:00": hours, minutes and seconds, the zero ones left out."""
    parts = [(int(match.group(index)), name) for index, name in ((1, "hour"), (2, "minute"), (3, "second"))]
    words = [f"{number_to_words(value)} {name}{'' if value == 1 else 's'}" for value, name in parts if value]
    return " " + (" ".join(words) if words else "zero seconds") + " "


def _time(match: re.Match) -> str:
    hours, minutes, letter = int(match.group(1)), int(match.group(2)), match.group(3)
    if hours > 24 or minutes > 59:
        return match.group(0)  # not a time, e.g. a ratio; left for the digit rules
    # 24-hour clock ("17:00", "08:15", "00:30"): said as "seventeen hundred", "oh eight fifteen".
    twenty_four = not letter and (hours > 12 or hours == 0 or match.group(1).startswith("0"))
    hour_words = number_to_words(hours)
    if twenty_four and match.group(1).startswith("0") and hours > 0:
        hour_words = "oh " + hour_words
    if minutes == 0 and twenty_four:
        words = f"{hour_words} hundred"
    elif minutes == 0:
        words = hour_words + (" o'clock" if not letter else "")
    elif minutes < 10:
        words = f"{hour_words} oh {ONES[minutes]}"
    else:
        words = f"{hour_words} {number_to_words(minutes)}"
    return " " + words + _am_pm(letter) + _kept_final_dot(match)


def _hour_am_pm(match: re.Match) -> str:
    return f" {number_to_words(int(match.group(1)))}{_am_pm(match.group(2))}{_kept_final_dot(match)}"


def _kept_final_dot(match: re.Match) -> str:
    """The dot of a final "a.m." also ends the sentence: keep one."""
    if match.group(0).endswith(".") and match.end() == len(match.string):
        return "."
    return " "


def _percent(match: re.Match) -> str:
    sign, whole, fraction = match.groups()
    words = _cardinal_text(whole)
    if fraction:
        words += " point " + _fraction_text(fraction)
    if sign:
        words = "minus " + words
    return f" {words} percent "


def _ordinal(match: re.Match) -> str:
    return " " + ordinal_to_words(int(match.group(1).replace(",", ""))) + " "


def _unit(match: re.Match) -> str:
    amount, unit = match.groups()
    singular, plural = UNITS[unit.lower()]
    name = singular if amount.lstrip("-") == "1" else plural
    return f" {amount} {name} "


def _decimal(match: re.Match) -> str:
    sign, whole, fraction = match.groups()
    words = (_cardinal_text(whole) if whole else "zero") + " point " + _fraction_text(fraction)
    return (" minus " if sign else " ") + words + " "


def _name_title(match: re.Match) -> str:
    abbreviation, space, following = match.group(1), match.group(2), match.group(3)
    before_name, otherwise = NAME_TITLES[abbreviation.lower()]
    full = match.group(0)
    has_dot = full[len(abbreviation):len(abbreviation) + 1] == "."
    if following and following[0].isupper():
        return f"{before_name}{space}{following}"
    if not has_dot:
        return full  # a bare "st" or "dr" not before a name: leave it alone
    if not following:
        # At the end, the dot also ended the sentence; before a comma it was only the abbreviation's.
        return f"{otherwise}." if match.end() == len(match.string) else otherwise
    return f"{otherwise}{space}{following}"


def _years(text: str) -> str:
    """Read four-digit numbers as years where the context says so."""
    pieces = []
    position = 0
    for match in YEAR_PATTERN.finditer(text):
        before = text[:match.start()].rstrip()
        previous_word = before.split(" ")[-1].lower().strip("\"'(") if before else ""
        after = text[match.end():].lstrip()
        alone = not before or before[-1] in ".,;:!?\"(" or not after or after[0] in ".,;:!?\")"
        year = int(match.group(1))
        is_year_range = 1100 <= year <= 1999 or 2000 <= year <= 2099
        if is_year_range and (previous_word in YEAR_CONTEXT_WORDS or alone):
            pieces.append(text[position:match.start()])
            pieces.append(year_to_words(year))
            position = match.end()
    pieces.append(text[position:])
    return "".join(pieces)


def _abbreviation(match: re.Match) -> str:
    words = ABBREVIATIONS[match.group(1).lower()]
    at_end = match.end() == len(match.string)
    return words + "." if at_end else words  # "etc." closing a sentence


def _dotted_words(text: str) -> str:
    return " dot ".join(part.replace("-", " ").replace("_", " ") for part in text.split(".") if part)


def _email(match: re.Match) -> str:
    return f" {_dotted_words(match.group(1))} at {_dotted_words(match.group(2))} "


def _url(match: re.Match) -> str:
    domain, path = match.group(1), match.group(2)
    trailing = path[len(path.rstrip(URL_TRAILING_MARKS)):]
    path = path[:len(path) - len(trailing)]
    if domain.lower().startswith("www."):
        domain = "w w w." + domain[4:]
    words = _dotted_words(domain)
    for part in path.split("/")[1:]:
        file_name = FILE_NAME_PATTERN.fullmatch(part)
        words += " slash " + (_file_name(file_name).strip() if file_name else re.sub(r"[^A-Za-z0-9]+", " ", part))
    return f" {words}{trailing} "


def _day_month_year(day: int, month: int, year: str) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    full_year = int(year) if len(year) == 4 else int(year) + (2000 if int(year) <= TWO_DIGIT_YEAR_PIVOT else 1900)
    return f" {MONTHS[month - 1]} {ordinal_to_words(day)}, {year_to_words(full_year)} "


def _slash_date(match: re.Match) -> str:
    first, second, year = int(match.group(1)), int(match.group(2)), match.group(3)
    month, day = (second, first) if first > 12 else (first, second)
    return _day_month_year(day, month, year) or match.group(0)


def _hashtag(match: re.Match) -> str:
    """"hashtag", then the tag's words: split at underscores and where a capital follows a lower-case letter."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", match.group(1).replace("_", " "))
    return f"hashtag {words}"


def _weekday_abbreviation(match: re.Match) -> str:
    """The weekday's name; a period that ends the sentence stays."""
    name = WEEKDAYS[match.group(1) or match.group(2)]
    return name + "." if match.group(2) and not match.string[match.end():].strip() else name


def _iso_date(match: re.Match) -> str:
    year, month, day = match.groups()
    return _day_month_year(int(day), int(month), year) or match.group(0)


def _digit_groups(*groups: str) -> str:
    return " " + ", ".join(digits_to_words(group) for group in groups if group) + " "


def _international_phone(match: re.Match) -> str:
    groups = re.findall(r"\d+", match.group(2))
    if not 6 <= sum(len(group) for group in groups) <= 14:
        return match.group(0)
    return " plus" + _digit_groups(match.group(1), *groups)


def _money_or_scaled(match: re.Match) -> str:
    short_scale = match.group(5)
    if short_scale:
        return _money(match.group(1), match.group(2), match.group(3), SCALE_WORDS[short_scale.lower()])
    return _money(*match.groups()[:4])


def _fraction(match: re.Match) -> str:
    whole, numerator, denominator = match.group(1), int(match.group(2)), int(match.group(3))
    if denominator in RATING_DENOMINATORS and not whole and numerator <= denominator:
        return f" {number_to_words(numerator)} out of {number_to_words(denominator)} "
    names = FRACTION_DENOMINATORS.get(denominator)
    if names is None or not 0 < numerator < denominator:
        return match.group(0)
    fraction = f"{number_to_words(numerator)} {names[0] if numerator == 1 else names[1]}"
    return f" {number_to_words(int(whole))} and {fraction} " if whole else f" {fraction} "


def _roman(match: re.Match) -> str:
    word, numeral = match.groups()
    if word in NOT_BEFORE_ROMAN:
        return match.group(0)
    values = [ROMAN_VALUES[letter] for letter in numeral]
    number = sum(-value if following > value else value for value, following in zip(values, values[1:] + [0]))
    if word in COUNTED_NOUNS:
        return f"{word} {number_to_words(number)}"
    return f"{word} the {ordinal_to_words(number)}"


def _key_combination(match: re.Match) -> str:
    """"Ctrl+Alt+Del" -> "control plus alt plus delete"."""
    keys = [key.strip() for key in match.group(0).split("+")]
    return " plus ".join(COMBINATION_KEY_WORDS.get(key.lower(), key) for key in keys)


def normalize_english(text: str) -> str:
    """Spell out numbers, symbols and abbreviations of one sentence as words."""
    text = DOUBLE_HYPHEN_PATTERN.sub(" - ", text)
    # Written forms with dashes and slashes of their own go before the number rules.
    text = EMAIL_PATTERN.sub(_email, text)
    text = URL_PATTERN.sub(_url, text)
    text = SYSTEM_NAME_PATTERN.sub(lambda m: SYSTEM_NAMES[m.group(1)], text)
    text = WITH_PATTERN.sub(lambda m: "without" if m.group(1) else "with", text)
    text = DURATION_PATTERN.sub(_duration, text)
    text = SERVICE_NUMBER_PATTERN.sub(lambda m: " " + digits_to_words(m.group(1)) + " ", text)
    text = NETWORK_GENERATION_PATTERN.sub(lambda m: f"{ONES[int(m.group(1))]} G", text)
    text = SHARP_PATTERN.sub(lambda m: f"{m.group(1)} sharp", text)
    text = NEGATIVE_MONEY_PATTERN.sub("minus ", text)
    text = FILE_NAME_PATTERN.sub(_file_name, text)
    text = INTERNATIONAL_PHONE_PATTERN.sub(_international_phone, text)
    text = PHONE_PATTERN.sub(lambda m: _digit_groups(*m.groups()), text)
    text = LOCAL_PHONE_PATTERN.sub(lambda m: _digit_groups(*m.groups()), text)
    text = ISO_DATE_PATTERN.sub(_iso_date, text)
    text = SLASH_DATE_PATTERN.sub(_slash_date, text)
    text = DIGIT_GROUPS_PATTERN.sub(lambda m: _digit_groups(*re.findall(r"\d+", m.group(0))), text)
    text = RATING_DECIMAL_PATTERN.sub(lambda m: f" {m.group(1)} out of {number_to_words(int(m.group(2)))} ", text)
    text = FEET_INCHES_PATTERN.sub(lambda m: f" {m.group(1)} foot {m.group(2)} ", text)
    text = WEEKDAY_RANGE_PATTERN.sub(lambda m: f"{WEEKDAYS[m.group(1)]} to {WEEKDAYS[m.group(2)]}", text)
    text = WEEKDAY_ABBREVIATION_PATTERN.sub(_weekday_abbreviation, text)
    text = CODE_DIGITS_PATTERN.sub(lambda m: " " + digits_to_words(m.group(1)) + " ", text)
    text = CAPITALS_BEFORE_DIGITS_PATTERN.sub(lambda m: " ".join(m.group(1)) + " ", text)
    text = FRACTION_PATTERN.sub(_fraction, text)
    text = MONTH_ABBREVIATION_PATTERN.sub(lambda m: MONTH_ABBREVIATIONS[m.group(1)], text)
    text = MONTH_DAY_PATTERN.sub(lambda m: f"{m.group(1)} {ordinal_to_words(int(m.group(2)))}", text)
    text = ROMAN_PATTERN.sub(_roman, text)
    text = YEAR_RANGE_PATTERN.sub(
        lambda m: f" {year_to_words(int(m.group(1)))} to {year_to_words(int(m.group(2)))} ", text
    )
    # Ranges before times: "5-10 pm" is "five to ten pee em".
    text = RANGE_PATTERN.sub(" to ", text)
    # Times first: "a.m." after a time belongs to the time.
    text = TIME_PATTERN.sub(_time, text)
    text = RATIO_PATTERN.sub(lambda m: f" {m.group(1)} to {m.group(2)} ", text)
    text = AM_PM_PATTERN.sub(_hour_am_pm, text)
    text = ABBREVIATION_PATTERN.sub(_abbreviation, text)
    text = KEY_COMBINATION_PATTERN.sub(_key_combination, text)
    text = KEY_WORD_PATTERN.sub(lambda m: KEY_WORDS[m.group(1).lower()], text)
    text = NAME_TITLE_PATTERN.sub(_name_title, text)
    text = NUMBER_NO_PATTERN.sub("number ", text)
    text = HASHTAG_PATTERN.sub(_hashtag, text)
    text = HASH_NUMBER_PATTERN.sub("number ", text)
    text = MONEY_PATTERN.sub(_money_or_scaled, text)
    text = SHORT_SCALE_PATTERN.sub(lambda m: f" {m.group(1)} {SCALE_WORDS[m.group(2)]} ", text)
    text = PERCENT_PATTERN.sub(_percent, text)
    text = ORDINAL_PATTERN.sub(_ordinal, text)
    text = DECADE_PATTERN.sub(
        lambda m: " " + _plural_noun(year_to_words(int(m.group(1) + m.group(2) + "0"))) + " ", text
    )
    text = SHORT_DECADE_PATTERN.sub(lambda m: " " + _plural_noun(TENS[int(m.group(1))]) + " ", text)
    text = _years(text)
    text = UNIT_PATTERN.sub(_unit, text)
    text = TIMES_PATTERN.sub(lambda m: f" {m.group(1)} times ", text)
    text = DIMENSION_PATTERN.sub(" by ", text)
    text = DOTTED_NUMBER_PATTERN.sub(
        lambda m: " " + " point ".join(number_to_words(int(part)) for part in m.group(0).split(".")) + " ", text
    )
    text = DECIMAL_PATTERN.sub(_decimal, text)
    text = NEGATIVE_PATTERN.sub("minus ", text)
    text = CARDINAL_PATTERN.sub(lambda m: " " + _cardinal_text(m.group(0)) + " ", text)
    text = WORD_HYPHEN_PATTERN.sub(" ", text)
    for symbol, words in SYMBOL_WORDS.items():
        text = text.replace(symbol, words)
    for symbol in SILENT_SYMBOLS:
        text = text.replace(symbol, " ")
    text = PERIOD_BEFORE_CLAUSE_MARK.sub("", text)
    text = SPACE_BEFORE_MARK.sub(r"\1", WHITESPACE_RUN.sub(" ", text))
    text = STRAY_HYPHEN_PATTERN.sub(" ", text)
    text = WHITESPACE_RUN.sub(" ", text).strip(" -")  # a dash at either end breaks nothing
    return SPACE_BEFORE_MARK.sub(r"\1", text)
