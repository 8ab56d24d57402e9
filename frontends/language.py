"""Which language a text is in, from its script: what `lang: "auto"` means when no voice is named.

Why script and not a statistical detector: the choice is between voices, and a voice can only speak
its own script. Han characters mean Mandarin (a Chinese sentence with a few Latin words, "我用Linux",
is still Chinese; "I met 王伟 today" is English); otherwise English, the default voice's language.
Kept apart from frontends/mandarin.py so the supervisor can decide without loading pypinyin.
"""

from __future__ import annotations

import re
import unicodedata

HAN = re.compile("[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
LATIN_WORD = re.compile("[A-Za-z]+")
MIN_HAN_SHARE = 0.3       # each Han character counts like a word


def is_mandarin_text(text: str) -> bool:
    han = len(HAN.findall(text))
    if han == 0:
        return False
    latin_words = len(LATIN_WORD.findall(unicodedata.normalize("NFKC", text)))
    return han / (han + latin_words) >= MIN_HAN_SHARE


def detect_language(text: str) -> str:
    """"zh" or "en", from the script (see is_mandarin_text)."""
    return "zh" if is_mandarin_text(text) else "en"
