"""Text front-ends: text -> normalised clauses -> phonemes -> voice phoneme ids."""


class NothingToSpeak(ValueError):
    """The request's text has no speakable content (empty, or only punctuation/symbols)."""
