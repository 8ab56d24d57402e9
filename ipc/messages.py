"""Control-plane messages: one dataclass per message, JSON on the wire, validated on the way in.

Every ZeroMQ message is one JSON frame (UTF-8 object with a "type"), optionally followed by one
binary frame (PCM). Replies to clients follow circus: {"status": "ok"|"error", "id", "reason",
"errno"} with the short list of error numbers below.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import MISSING, dataclass, field, fields

# Error numbers: a short fixed list, stable for scripts.
E_BAD_MESSAGE = 1        # not UTF-8, not JSON, not an object, missing/ill-typed fields
E_UNKNOWN_TYPE = 2       # "type" names no message
E_BAD_ARGUMENT = 3       # a field has a value out of range
E_TOO_LARGE = 4          # text or message over the configured limit
E_UNKNOWN_VOICE = 5      # no such voice installed
E_NOTHING_TO_SPEAK = 6   # empty text, only punctuation or whitespace
E_VOICE_UNAVAILABLE = 7  # voice exists but cannot speak now (quarantined, failed to load)
E_WORKER_FAILED = 8      # a worker died or failed while handling the request
E_CANCELLED = 9          # stopped by the client or by a higher-priority message
E_UNKNOWN_JOB = 10       # no such request to act on
E_NO_DEVICE = 11         # no audio output device could be opened

MAX_MESSAGE_BYTES = 256 * 1024   # raw limit on one incoming client frame
MAX_TEXT_CHARS = 20_000          # limit on the text of one speak request


class MessageError(ValueError):
    """A message that cannot be accepted; carries the errno to reply with."""

    def __init__(self, errno: int, reason: str):
        super().__init__(reason)
        self.errno = errno
        self.reason = reason


MESSAGE_TYPES: dict[str, type] = {}


def message(name: str):
    """Register a dataclass as the message with wire type `name`."""

    def register(cls):
        cls = dataclass(cls)
        cls.TYPE = name
        # Resolved once here, not per message: get_type_hints costs ~0.2 ms a call, on every hop.
        cls.FIELD_HINTS = typing.get_type_hints(cls)
        cls.FIELDS = fields(cls)
        MESSAGE_TYPES[name] = cls
        return cls

    return register


# ---- client -> supervisor --------------------------------------------------------------------

@message("speak")
class Speak:
    """Speak text. None means "the voice's or the daemon's default"."""
    text: str
    id: str = ""
    voice: str | None = None
    lang: str | None = None
    rate: float | None = None      # speed multiplier: 2.0 is twice as fast
    volume: float | None = None    # gain multiplier, 0..2
    pitch: float | None = None     # accepted; Piper voices cannot change pitch (see README)
    output: str = "stream"         # "stream": PCM comes back to the client; "play": the daemon's device
    priority: str = "message"      # important, message, text, notification, progress (SSIP rules)
    vocoder: str | None = None     # mel voices: "neural" (default) or "griffin-lim"


@message("stop")
class Stop:
    """Cancel requests: one by id, every request of this client when id is empty, or with
    all=true every request of every client (what `ttsd stop` does)."""
    id: str = ""
    all: bool = False


@message("pause")
class Pause:
    """Pause requests (same addressing as stop): output stops at once, the position is kept."""
    id: str = ""
    all: bool = False


@message("resume")
class Resume:
    """Resume paused requests: speech continues from the clause after the one that was cut off."""
    id: str = ""
    all: bool = False


@message("status")
class Status:
    """Daemon, workers, voices and queue as JSON."""
    id: str = ""


@message("voices")
class Voices:
    """Voices the daemon has loaded."""
    id: str = ""


CLIENT_MESSAGES = ("speak", "stop", "pause", "resume", "status", "voices")

# ---- supervisor <-> workers ------------------------------------------------------------------

@message("heartbeat")
class Heartbeat:
    worker: str = ""


@message("ready")
class Ready:
    worker: str
    pid: int
    voices: list[str] = field(default_factory=list)
    failed_voices: dict[str, str] = field(default_factory=dict)
    degraded_voices: dict[str, str] = field(default_factory=dict)   # loaded, but speaking through a fallback


@message("shutdown")
class Shutdown:
    reason: str = ""


@message("cancel")
class Cancel:
    jobs: list[int]


@message("phonemize")
class Phonemize:
    job: int
    voice: int
    text: str
    first_clause_words: int = 6


@message("clause")
class ClauseReady:
    job: int
    index: int
    ids: list[int]
    text: str


@message("phonemized")
class PhonemizeDone:
    job: int
    clauses: int


@message("synthesize")
class Synthesize:
    job: int
    clause: int
    voice: int
    ids: list[int]
    length_scale: float
    noise_scale: float
    noise_w: float
    gain: float = 1.0
    vocoder: str = "neural"     # mel voices: "neural" or "griffin-lim"


@message("sink_job")
class SinkJob:
    """Tells the sink where a job's audio goes, before any of it arrives."""
    job: int
    output: str


@message("playing")
class Playing:
    """A clause of the job started playing on the audio device (clause 0 first: its first sample)."""
    job: int
    clause: int = 0


@message("silenced")
class Silenced:
    """The device was aborted for cancelled jobs at `at` (CLOCK_MONOTONIC, comparable across processes)."""
    jobs: list[int]
    at: float


@message("run_stopped")
class RunStopped:
    """A model run of a cancelled job was stopped part-way (see engine/interrupt.py)."""
    job: int


@message("end_job")
class EndJob:
    """Sent to the acoustic stage after a job's last clause: it marks the end in the frame ring."""
    job: int
    voice: int


@message("synthesized")
class ClauseSynthesized:
    job: int
    clause: int
    frames: int


@message("audio")
class Audio:
    """Followed by one binary frame of little-endian int16 mono PCM."""
    job: int
    seq: int
    sample_rate: int
    samples: int
    clause: int = 0


@message("job_finished")
class JobFinished:
    job: int
    samples: int


@message("job_failed")
class JobFailed:
    job: int
    errno: int
    reason: str


# ---- encoding and validation -----------------------------------------------------------------

def encode(msg) -> bytes:
    data = {f.name: getattr(msg, f.name) for f in msg.FIELDS}   # values are JSON types: no deep copy
    data["type"] = msg.TYPE
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode(frame: bytes, allowed: tuple[str, ...] | None = None, max_bytes: int | None = None):
    """Parse and validate one JSON frame into its message dataclass, or raise MessageError."""
    if max_bytes is not None and len(frame) > max_bytes:
        raise MessageError(E_TOO_LARGE, f"message is {len(frame)} bytes; the limit is {max_bytes} bytes")
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MessageError(E_BAD_MESSAGE, f"message is not valid UTF-8 (byte {error.start}); send UTF-8 JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise MessageError(E_BAD_MESSAGE, f"message is not JSON ({error.msg} at {error.pos})") from None
    except RecursionError:
        raise MessageError(E_BAD_MESSAGE, "message is nested too deeply to parse") from None
    except ValueError as error:   # e.g. an integer literal longer than Python's 4300-digit limit
        raise MessageError(E_BAD_MESSAGE, f"message has an unparsable value ({str(error)[:80]})") from None
    if not isinstance(data, dict):
        raise MessageError(E_BAD_MESSAGE, "message must be a JSON object with a \"type\" field")
    kind = data.pop("type", None)
    if not isinstance(kind, str):
        raise MessageError(E_BAD_MESSAGE, "message has no string \"type\" field")
    if kind not in MESSAGE_TYPES or (allowed is not None and kind not in allowed):
        known = ", ".join(allowed if allowed is not None else sorted(MESSAGE_TYPES))
        raise MessageError(E_UNKNOWN_TYPE, f"unknown message type {kind[:40]!r}; known types: {known}")
    return from_dict(MESSAGE_TYPES[kind], data)


def from_dict(cls, data: dict):
    hints = cls.FIELD_HINTS
    known = hints.keys()
    extra = sorted(set(data) - known)
    if extra:
        raise MessageError(E_BAD_MESSAGE, f"{cls.TYPE}: unknown field {str(extra[0])[:40]!r}; "
                           f"fields are: {', '.join(sorted(known))}")
    values = {}
    for f in cls.FIELDS:
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise MessageError(E_BAD_MESSAGE, f"{cls.TYPE}: missing required field {f.name!r}")
            continue
        value = data[f.name]
        if not _matches(value, hints[f.name]):
            raise MessageError(E_BAD_MESSAGE, f"{cls.TYPE}: field {f.name!r} has the wrong type "
                               f"({type(value).__name__}); expected {_type_name(hints[f.name])}")
        if isinstance(value, str) and not _is_unicode(value):
            # "\ud800" escapes parse to lone surrogates, which cannot be encoded back (replies, workers)
            raise MessageError(E_BAD_MESSAGE, f"{cls.TYPE}: field {f.name!r} holds a lone UTF-16 surrogate "
                               "escape; send valid Unicode")
        values[f.name] = value
    return cls(**values)


def _is_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _matches(value, hint) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(hint)
        if item is int:     # phoneme ids: the long lists, checked without a call per item
            return isinstance(value, list) and all(type(v) is int for v in value)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(_matches(k, key) and _matches(v, item) for k, v in value.items())
    return isinstance(value, hint)


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def reply_ok(request_id: str, **extra) -> bytes:
    return json.dumps({"status": "ok", "id": request_id, **extra}, ensure_ascii=False).encode("utf-8")


def reply_error(request_id: str, errno: int, reason: str, **extra) -> bytes:
    return json.dumps({"status": "error", "id": request_id, "errno": errno, "reason": reason, **extra},
                      ensure_ascii=False).encode("utf-8")
