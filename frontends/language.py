"""Which language a text is in, from its script: what `lang: "auto"` means when no voice is named.

Why script and not a statistical detector: the choice is between voices, and a voice can only speak
its own script. Han characters mean Mandarin (a Chinese sentence with a few Latin words, "我用Linux",
is still Chinese); otherwise English, the default voice's language.
"""

from __future__ import annotations

HAN_RANGES = (
    (0x3400, 0x4DBF),     # CJK extension A
    (0x4E00, 0x9FFF),     # CJK unified ideographs
    (0xF900, 0xFAFF),     # CJK compatibility ideographs
    (0x20000, 0x2FA1F),   # extensions B-F and compatibility supplement
)
MIN_HAN_SHARE = 0.3       # of the letters: "Hello 世界" is Chinese enough to need the Mandarin voice


def is_han(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in HAN_RANGES)


def detect_language(text: str) -> str:
    """"zh" when Han characters make up a fair share of the letters, else "en"."""
    han = sum(1 for char in text if is_han(char))
    if han == 0:
        return "en"
    latin_words = sum(1 for word in "".join(c if c.isascii() and c.isalpha() else " " for c in text).split())
    return "zh" if han / (han + latin_words) >= MIN_HAN_SHARE else "en"
