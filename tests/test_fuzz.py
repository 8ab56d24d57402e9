"""Fuzzing the client socket of a real daemon: thousands of malformed messages over real ZeroMQ.

Every malformed message must get one error reply {"status": "error", "errno": <known>, "reason": ...};
the daemon must stay up, keep its memory bounded, keep its workers, and still speak afterwards.
The generator is seeded (random.Random(SEED)): a failure names the case index and kind, and the
same seed regenerates the same message.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass

import psutil
import pytest
import zmq

from ipc import messages
from ipc.client import Client
from tests.test_daemon import raw_exchange

SEED = 1234
PIPELINED_CASES = 10_400        # checked one by one; at least 10,000 must be answered
BATCH = 100                     # pipeline this many, then read this many replies
REQ_CASES = 300                 # the same kinds of cases, one at a time over REQ sockets
REPLY_TIMEOUT_MS = 15_000
RSS_GROWTH_LIMIT = 50 * 1024 * 1024

KNOWN_ERRNOS = frozenset(value for name, value in vars(messages).items()
                         if name.startswith("E_") and isinstance(value, int))
MAX_BYTES = messages.MAX_MESSAGE_BYTES
MAX_TEXT = messages.MAX_TEXT_CHARS
BAD = frozenset({messages.E_BAD_MESSAGE})
UNKNOWN_TYPE = frozenset({messages.E_UNKNOWN_TYPE})
BAD_ARGUMENT = frozenset({messages.E_BAD_ARGUMENT})
TOO_LARGE = frozenset({messages.E_TOO_LARGE})
NOTHING = frozenset({messages.E_NOTHING_TO_SPEAK})
UNKNOWN_VOICE = frozenset({messages.E_UNKNOWN_VOICE})

# Field kinds of the four client messages (ipc/messages.py) and values of the wrong type for each.
FIELDS = {
    "speak": {"text": "str", "id": "str", "voice": "opt_str", "lang": "opt_str", "rate": "opt_num",
              "volume": "opt_num", "pitch": "opt_num", "output": "str", "priority": "str"},
    "stop": {"id": "str", "all": "bool"},
    "status": {"id": "str"},
    "voices": {"id": "str"},
}
WRONG_VALUES = {
    "str": [0, 1, -1, 3.5, True, False, None, [], ["text"], {}, {"text": "hi"}],
    "opt_str": [0, 2.5, True, False, [], ["en_US-joe-medium"], {}, {"name": "x"}],
    "opt_num": ["1.0", "fast", "NaN", "", True, False, [], [1.0], {}, {"value": 1}],
    "bool": [0, 1, 1.0, "true", "false", "", None, [], [True], {}],
}
WORKER_TYPES = [name for name in messages.MESSAGE_TYPES if name not in messages.CLIENT_MESSAGES]
VALID_PRIORITIES = ["important", "message", "text", "notification", "progress"]
CONTROL_CHARS = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]]
INVALID_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
                b"\xe2\x82", b"\xf0\x9f\x98", b"\xf8\x88\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xc3\x28"]
WORDS = ["hello", "world", "ttsd", "speaks", "the", "quick", "brown", "fox", "Dr.", "$12", "1998", "café",
         "naïve", "東京", "Привет", "مرحبا", "🙂", "e\u0301", "a\u200bb", "c\u2028d", "&", "<b>", "'", '"', "\\"]


@dataclass
class Case:
    index: int
    kind: str
    frames: list[bytes]
    errnos: frozenset[int] | None     # None: the message may be valid by chance

    def describe(self) -> str:
        shown = [frame[:160] + (b"...(%d bytes)" % len(frame) if len(frame) > 160 else b"") for frame in self.frames]
        return f"case {self.index} ({self.kind}, seed {SEED}): frames {shown!r}"


class Fuzzer:
    """Builds one random client message at a time; every builder says which errors may answer it."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.count = 0
        self.built: dict[str, int] = {}     # cases per builder, for the report
        self.builders = [   # (weight, builder)
            (8, self.random_bytes), (6, self.invalid_utf8), (5, self.non_object), (14, self.wrong_type),
            (3, self.missing_field), (6, self.bad_type), (7, self.unknown_field), (5, self.deep_nesting),
            (4, self.huge), (6, self.control_chars), (6, self.multipart), (12, self.numbers),
            (6, self.bad_argument), (4, self.surrogates),
        ]
        self.weights = [weight for weight, _ in self.builders]

    # ---- helpers ------------------------------------------------------------------------------

    def dumps(self, obj) -> bytes:
        ascii_only = self.rng.random() < 0.5
        try:
            return json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8")
        except UnicodeEncodeError:     # lone surrogates can only travel as \\u escapes
            return json.dumps(obj, ensure_ascii=True).encode("utf-8")

    def words(self, low: int = 1, high: int = 8) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(low, high)))

    def request_id(self) -> str:
        return self.rng.choice(["", f"fz{self.count}", "x" * self.rng.randint(1, 64), "ид-🙂", "a\x00b", " "])

    def spoken_text(self) -> str:
        return self.rng.choice(["Hello.", "Hi there", self.words(), "One, two, three."])

    def base(self, kind: str) -> dict:
        """A valid message of this kind, meant to be broken by the caller."""
        data = {"type": kind}
        if self.rng.random() < 0.7:
            data["id"] = self.request_id()
        if kind == "speak":
            data["text"] = self.spoken_text()
        return data

    def case(self, kind: str, frames: list[bytes], errnos) -> Case:
        self.count += 1
        return Case(self.count, kind, frames, errnos)

    def next(self) -> Case:
        builder = self.rng.choices(self.builders, weights=self.weights)[0][1]
        self.built[builder.__name__] = self.built.get(builder.__name__, 0) + 1
        return builder()

    # ---- builders -------------------------------------------------------------------------------

    def random_bytes(self) -> Case:
        size = self.rng.choice([0, 1, 2, 8, 64, self.rng.randint(0, 4096)])
        body = self.rng.randbytes(size)
        if body[:1] == b"{":       # keep it garbage: a chance object would be a different test
            body = b"\x00" + body
        return self.case("random bytes", [body], BAD)

    def invalid_utf8(self) -> Case:
        body = self.dumps(self.base(self.rng.choice(list(FIELDS))))
        if self.rng.random() < 0.3:
            body = body.replace(b'"}', 'é"}'.encode("latin-1"), 1) if b'"}' in body else body + b"\xe9"
            return self.case("latin-1 text", [body], BAD)
        at = self.rng.randint(0, len(body))
        return self.case("invalid UTF-8", [body[:at] + self.rng.choice(INVALID_UTF8) + body[at:]], BAD)

    def non_object(self) -> Case:
        value = self.rng.choice([0, -1.5, 1e300, "status", "", None, True, False, [], [1, 2, 3],
                                 [{"type": "status"}], '{"type": "status"}', [[[]]]])
        raw = self.rng.choice([self.dumps(value), b"NaN", b"-Infinity", b"1e309", b"-0", b'"\\ud800"',
                               b" ", b"\n\t", b"nul", b"{", b"}", b'{"type": "status"', b'{"type" "status"}',
                               b"{'type': 'status'}", b'{"type": "status"}}', b'{"type": "status",}',
                               b'{"type": "status"} {"type": "status"}', b"\x00", b"\xef\xbb\xbf{}"])
        return self.case("JSON non-object", [raw], BAD)

    def wrong_type(self) -> Case:
        kind = self.rng.choice(list(FIELDS))
        field = self.rng.choice(list(FIELDS[kind]))
        data = self.base(kind)
        data[field] = self.rng.choice(WRONG_VALUES[FIELDS[kind][field]])
        return self.case(f"wrong type {kind}.{field}", [self.dumps(data)], BAD)

    def missing_field(self) -> Case:
        data = self.base("speak")
        del data["text"]
        if self.rng.random() < 0.5:
            data["rate"] = 1.0
        return self.case("speak without text", [self.dumps(data)], BAD)

    def bad_type(self) -> Case:
        data = self.base(self.rng.choice(list(FIELDS)))
        choice = self.rng.random()
        if choice < 0.25:
            data.pop("type")
            return self.case("no type", [self.dumps(data)], BAD)
        if choice < 0.5:
            data["type"] = self.rng.choice([None, 1, 0.5, True, [], ["speak"], {"speak": 1}])
            return self.case("non-string type", [self.dumps(data)], BAD)
        data["type"] = self.rng.choice(WORKER_TYPES + [
            "", "SPEAK", "Speak", " speak", "speak\x00", "stop ", "dance", "speak\n", "\ud800", "🙂",
            "x" * self.rng.randint(1, 5000), "".join(self.rng.choice(CONTROL_CHARS) for _ in range(5))])
        return self.case("unknown type", [self.dumps(data)], UNKNOWN_TYPE)

    def unknown_field(self) -> Case:
        kind = self.rng.choice(list(FIELDS))
        data = self.base(kind)
        name = self.rng.choice(["speed", "Text", "ID", "", " ", "\x00", "\ud800", "🙂", "__class__", "job",
                                "voice " if kind == "speak" else "text", "x" * 1000])
        data[name] = self.rng.choice([1, "x", None, [], {}, True])
        return self.case(f"unknown field in {kind}", [self.dumps(data)], BAD)

    def deep_nesting(self) -> Case:
        depth = self.rng.choice([2, 50, 900, 999, 1000, 1001, 3000, 20_000, 100_000, 131_072, 140_000])
        shape = self.rng.choice(["array", "object", "in id", "in rate", "in text", "unclosed"])
        if shape == "array":
            body = b"[" * depth + b"]" * depth
        elif shape == "object":
            body = b'{"a":' * depth + b"1" + b"}" * depth
        elif shape == "unclosed":
            body = b"[" * depth
        else:
            kind, field = {"in id": ("status", "id"), "in rate": ("speak", "rate"),
                           "in text": ("speak", "text")}[shape]
            data = self.base(kind)
            data.pop(field, None)
            body = self.dumps(data)[:-1] + b', "%s": ' % field.encode() + b"[" * depth + b"]" * depth + b"}"
        return self.case(f"nesting {shape} depth {depth}", [body], TOO_LARGE if len(body) > MAX_BYTES else BAD)

    def huge(self) -> Case:
        choice = self.rng.randrange(7)
        if choice == 0:     # over the raw message limit
            over = self.rng.choice([1, 2, 100, 4096, 100_000])
            body = self.rng.choice([b"x", b"[", b"\xff", b" "]) * (MAX_BYTES + over)
            return self.case("over the message limit", [body], TOO_LARGE)
        if choice == 1:     # a speak request whose text pushes the message over the limit
            body = self.dumps({"type": "speak", "text": "a" * (MAX_BYTES + self.rng.randint(0, 50))})
            return self.case("speak over the message limit", [body], TOO_LARGE)
        if choice == 2:     # exactly at the limit: parsed, refused for its unknown padding field
            head = b'{"type": "status", "pad": "'
            body = head + b"p" * (MAX_BYTES - len(head) - 2) + b'"}'
            assert len(body) == MAX_BYTES
            return self.case("exactly at the message limit", [body], BAD)
        if choice == 3:     # text over the character limit, message under the byte limit
            char = self.rng.choice(["a", "é", "東", "🙂", " "])
            text = char * (MAX_TEXT + self.rng.choice([1, 2, 100]))
            return self.case("text over the character limit", [self.dumps({"type": "speak", "text": text})],
                             TOO_LARGE)
        if choice == 4:     # text exactly at the limit, refused for its rate
            text = ("word " * MAX_TEXT)[:MAX_TEXT]
            body = self.dumps({"type": "speak", "text": text, "rate": self.rng.choice([0, 9, -1, 100])})
            return self.case("text at the limit, bad rate", [body], BAD_ARGUMENT)
        if choice == 5:     # text at the limit, nothing but white space and controls
            text = "".join(self.rng.choice(" \t\n\r\x00\x0b\x1b\x7f") for _ in range(MAX_TEXT))
            return self.case("limit-sized empty text", [self.dumps({"type": "speak", "text": text})], NOTHING)
        request_id = "i" * self.rng.choice([10_000, 100_000, 200_000])   # huge id echoed in the error
        body = self.dumps({"type": "speak", "id": request_id, "text": "hi", "volume": -1})
        return self.case("huge id, bad volume", [body], BAD_ARGUMENT)

    def control_chars(self) -> Case:
        controls = "".join(self.rng.choice(CONTROL_CHARS) for _ in range(self.rng.randint(1, 40)))
        choice = self.rng.randrange(5)
        if choice == 0:
            return self.case("only control characters", [self.dumps({"type": "speak", "text": controls})], NOTHING)
        if choice == 1:
            text = "hello" + "".join(self.rng.choice([word, controls]) for word in self.words(2, 6).split())
            body = self.dumps({"type": "speak", "text": text, "rate": self.rng.choice([0.1, 5.0, -3.0])})
            return self.case("controls in text, bad rate", [body], BAD_ARGUMENT)
        if choice == 2:
            body = self.dumps({"type": "speak", "text": "hi", "voice": "en_US-joe-medium" + controls})
            return self.case("controls in voice", [body], UNKNOWN_VOICE)
        if choice == 3:
            field = self.rng.choice(["priority", "output"])
            body = self.dumps({"type": "speak", "text": "hi", field: "message" + controls})
            return self.case(f"controls in {field}", [body], BAD_ARGUMENT)
        body = self.dumps({"type": self.rng.choice(["status", "voices"]), "id": controls, "x": 1})
        return self.case("controls in id, unknown field", [body], BAD)

    def multipart(self) -> Case:
        valid = self.dumps(self.base(self.rng.choice(["status", "voices"])))
        junk = self.rng.randbytes(self.rng.randint(0, 32))
        frames = self.rng.choice([
            [b""],                          # delimiter only: zero message frames
            [b"", b""],                     # one empty message frame
            [valid, b""], [valid, junk], [valid, valid],
            [b"", valid, junk], [b"", b"", valid], [b"", b"", b"", b""],
            [valid, junk, junk, junk, junk], [junk + b"\x01"] * 5, [b""] * 5,
            [b"", b"\x00"], [b"", b"not json"], [b"", self.rng.randbytes(100)],
        ])
        return self.case(f"{len(frames)} frames", frames, BAD)

    def numbers(self) -> Case:
        field = self.rng.choice(["rate", "volume"])
        bad = {
            "rate": ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "1E400", "-1", "-0.5", "0", "0.0",
                     "0.2499", "4.0001", "1e308", "-1e-300", "1e-320", "9" * 400, "-" + "9" * 400, "5"],
            "volume": ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "-0.01", "-1", "2.0001", "3",
                       "1e308", "-1e-300", "9" * 400, "-" + "9" * 400],
        }[field]
        choice = self.rng.random()
        if choice < 0.7:
            literal, errnos = self.rng.choice(bad), BAD_ARGUMENT
        elif choice < 0.85:     # not numbers at all: JSON-invalid literals, absurdly long integers
            literal, errnos = self.rng.choice(["nan", "inf", "+1", "01", ".5", "1.", "0x10", "1e", "--1",
                                                "9" * 5000, "-" + "9" * 4400, "1" + "0" * 4301]), BAD
        else:                   # bools and strings where a number belongs
            literal, errnos = self.rng.choice(["true", "false", '"1"', '"NaN"', "[NaN]", "{}"]), BAD
        if field == "volume" and self.rng.random() < 0.5:
            other = ', "rate": %s' % self.rng.choice(["1", "0.25", "4", "1.5"])
        else:
            other = ""
        body = '{"type": "speak", "text": %s, "%s": %s%s}' % (json.dumps(self.spoken_text()), field, literal, other)
        return self.case(f"{field}={literal[:20]}", [body.encode("utf-8")], errnos)

    def bad_argument(self) -> Case:
        choice = self.rng.randrange(4)
        data = {"type": "speak", "text": self.spoken_text(), "id": self.request_id()}
        if choice == 0:
            data["output"] = self.rng.choice(["speaker", "", "STREAM", "stream ", "file", "play\x00", "🙂"])
            return self.case("bad output", [self.dumps(data)], BAD_ARGUMENT)
        if choice == 1:
            data["priority"] = self.rng.choice(["urgent", "", "Important", "message ", "0", "low", "x" * 500])
            return self.case("bad priority", [self.dumps(data)], BAD_ARGUMENT)
        if choice == 2:
            data["voice"] = self.rng.choice(["nope", "en_US", "EN_US-JOE-MEDIUM", " en_US-joe-medium",
                                              "../../etc/passwd", "/dev/zero", "x" * 1000, "🙂"])
            return self.case("unknown voice", [self.dumps(data)], UNKNOWN_VOICE)
        data["text"] = self.rng.choice(["", " ", "\n\t", " " * 1000, "\u00a0", "\u3000 \u2003"])
        return self.case("empty text", [self.dumps(data)], NOTHING)

    def surrogates(self) -> Case:
        lone = self.rng.choice(["\ud800", "\udbff", "\udc00", "\udfff", "\ude00\ud83d"])
        kind = self.rng.choice(list(FIELDS))
        data = self.base(kind)
        field = self.rng.choice([f for f, k in FIELDS[kind].items() if k in ("str", "opt_str")])
        data[field] = "a" + lone + "b"
        return self.case(f"lone surrogate in {kind}.{field}", [self.dumps(data)], BAD)

    def maybe_valid(self) -> Case:
        """A message that may well be accepted (sent on its own socket; accepted speech is stopped)."""
        kind = self.rng.choice(["status", "voices", "stop", "speak", "speak"])
        data = self.base(kind)
        if kind == "stop" and self.rng.random() < 0.3:
            data["all"] = self.rng.random() < 0.5
        if kind == "speak":
            data["id"] = f"maybe-{self.count}"
            data["text"] = self.rng.choice([self.words(), "Hi.\tHow\nare you?", "a\x00b\x07c word"])
            for name, values in (("rate", [None, 0.25, 1, 4.0]), ("volume", [None, 0, 2, 0.5]),
                                 ("pitch", [None, 1.5, -3]), ("priority", VALID_PRIORITIES),
                                 ("voice", [None, "", "en_US-joe-medium"]), ("lang", [None, "en", ""])):
                if self.rng.random() < 0.3:
                    data[name] = self.rng.choice(values)
        body = self.dumps(data)
        return self.case(f"maybe valid {kind}", [b"", body] if self.rng.random() < 0.2 else [body], None)


# ---- sockets ------------------------------------------------------------------------------------

def socket_for(endpoint: str, kind: int = zmq.DEALER) -> zmq.Socket:
    socket = zmq.Context.instance().socket(kind)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, 0)
    socket.connect(endpoint)
    return socket


def wait_for_reply(socket: zmq.Socket, daemon, what: str) -> None:
    """Poll in short slices so a dead daemon fails the test at once, with its log."""
    deadline = time.monotonic() + REPLY_TIMEOUT_MS / 1000
    while not socket.poll(200):
        if daemon.process.poll() is not None:
            pytest.fail(f"daemon exited ({daemon.process.returncode}) before answering {what}:\n"
                        f"{daemon.log()[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no reply within {REPLY_TIMEOUT_MS} ms to {what}")


def receive(socket: zmq.Socket, daemon, what: str) -> tuple[dict, list[bytes]]:
    wait_for_reply(socket, daemon, what)
    frames = socket.recv_multipart()
    while frames and frames[0] == b"":      # a REQ-style envelope on a DEALER keeps its delimiter
        frames = frames[1:]
    assert frames, f"empty reply to {what}"
    return json.loads(frames[0]), frames[1:]


def check_error(reply: dict, case: Case) -> None:
    assert reply.get("status") == "error", f"expected an error, got {reply!r} for {case.describe()}"
    assert reply.get("errno") in KNOWN_ERRNOS, f"unknown errno in {reply!r} for {case.describe()}"
    assert isinstance(reply.get("reason"), str) and reply["reason"].strip(), \
        f"error without a reason {reply!r} for {case.describe()}"
    if case.errnos is not None:
        assert reply["errno"] in case.errnos, \
            f"errno {reply['errno']} ({reply['reason'][:200]}), expected {sorted(case.errnos)}, for {case.describe()}"


def run_maybe_valid(socket: zmq.Socket, daemon, case: Case) -> str:
    """Send one maybe-valid message; stop it if it was accepted speech. Returns what happened."""
    socket.send_multipart(case.frames)
    reply, _ = receive(socket, daemon, case.describe())
    if reply.get("status") != "ok":
        check_error(reply, case)
        return "error"
    if reply.get("event") != "queued":
        return "ok"
    socket.send(json.dumps({"type": "stop", "id": reply["id"]}).encode())
    while True:                             # job events first, the stop reply ("cancelled") last
        event, _ = receive(socket, daemon, f"stop after {case.describe()}")
        if "cancelled" in event and event.get("status") == "ok":
            return "spoken and stopped"
        assert event.get("id") == reply["id"], f"stray reply {event!r} after {case.describe()}"
        assert event.get("event") in ("audio", "done", "cancelled", "failed", "playing"), event
        if event.get("status") == "error":
            assert event.get("errno") in KNOWN_ERRNOS and event.get("reason"), event


def supervisor_rss(daemon) -> int:
    return psutil.Process(daemon.process.pid).memory_info().rss


# ---- tests --------------------------------------------------------------------------------------

def test_fuzz_client_socket(shared_daemon):
    daemon = shared_daemon
    with Client(daemon.endpoint) as client:        # warm up before the first memory reading
        assert client.status()["state"] == "ready"
        assert client.synthesize("Warming up.").audio_seconds > 0.3
    rss_before = supervisor_rss(daemon)
    fuzzer = Fuzzer(SEED)
    started = time.monotonic()
    answered = 0
    outcomes: dict[str, int] = {}

    # 1. pipelined over DEALER sockets: BATCH messages out, BATCH replies in (a new socket every 20 batches)
    maybe_socket = socket_for(daemon.endpoint)
    socket = None
    batches = 0
    while answered < PIPELINED_CASES:
        if batches % 20 == 0:
            if socket is not None:
                socket.close(0)
            socket = socket_for(daemon.endpoint)
        batches += 1
        batch = []
        while len(batch) < BATCH:
            if fuzzer.rng.random() < 0.01:       # rare, and never pipelined
                case = fuzzer.maybe_valid()
                outcome = run_maybe_valid(maybe_socket, daemon, case)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                continue
            case = fuzzer.next()
            socket.send_multipart(case.frames)
            batch.append(case)
        for case in batch:
            reply, _ = receive(socket, daemon, case.describe())
            check_error(reply, case)
            answered += 1
    socket.close(0)
    maybe_socket.close(0)
    pipelined_s = time.monotonic() - started

    # 2. clients that send a batch and vanish without reading: the daemon must not care
    for _ in range(3):
        gone = socket_for(daemon.endpoint)
        for _ in range(BATCH):
            gone.send_multipart(fuzzer.next().frames)
        gone.close(0)

    # 3. one at a time over REQ sockets (REQ adds the empty delimiter frame itself)
    req = socket_for(daemon.endpoint, zmq.REQ)
    req_answered = 0
    while req_answered < REQ_CASES:
        case = fuzzer.next()
        req.send_multipart(case.frames)
        wait_for_reply(req, daemon, f"{case.describe()} over REQ")
        reply = json.loads(req.recv_multipart()[0])
        check_error(reply, case)
        req_answered += 1
    req.close(0)

    # 4. still alive, still ready, workers untouched, memory bounded, still speaking
    assert daemon.process.poll() is None, f"daemon died:\n{daemon.log()[-4000:]}"
    with Client(daemon.endpoint, timeout=30) as client:
        status = client.status()
        assert status["state"] == "ready" and status["pid"] == daemon.process.pid
        assert all(w["state"] == "ready" and w["restarts"] == 0 for w in status["workers"]), status["workers"]
        assert status["queue"]["jobs"] == 0, status["queue"]
        result = client.synthesize("The fuzzing is over, and the daemon still speaks clearly.")
        assert result.audio_seconds > 0.5, result.audio_seconds
    rss_after = supervisor_rss(daemon)
    assert "Traceback" not in daemon.log(), daemon.log()[-4000:]
    total_s = time.monotonic() - started
    print(f"\nfuzz: {answered} pipelined + {req_answered} REQ messages answered, {3 * BATCH} sent by vanished "
          f"clients, maybe-valid {outcomes}; {pipelined_s:.1f} s pipelined, {total_s:.1f} s total; "
          f"supervisor RSS {rss_before / 2**20:.1f} MiB -> {rss_after / 2**20:.1f} MiB; cases by builder {fuzzer.built}")
    assert answered >= 10_000
    assert sum(outcomes.values()) < answered * 0.02, "valid messages must stay rare"
    assert rss_after - rss_before < RSS_GROWTH_LIMIT, \
        f"supervisor RSS grew {(rss_after - rss_before) / 2**20:.1f} MiB ({rss_before} -> {rss_after} bytes)"


@pytest.mark.parametrize("field", ["rate", "volume"])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e309", "-1e309"])
def test_non_finite_rate_and_volume_are_bad_arguments(shared_daemon, field, literal):
    assert not math.isfinite(json.loads(literal))      # Python's json accepts these: the daemon must refuse
    body = '{"type": "speak", "id": "nf", "text": "Hello.", "%s": %s}' % (field, literal)
    reply = raw_exchange(shared_daemon.endpoint, [body.encode()])
    assert reply["status"] == "error" and reply["errno"] == messages.E_BAD_ARGUMENT, reply
    assert field in reply["reason"] and reply["id"] == "nf"


@pytest.mark.parametrize("body", [
    b"[" * 200_000,                                               # RecursionError in json.loads
    b'{"type": "status", "id": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"type": "speak", "text": "hi", "rate": ' + b"9" * 5000 + b"}",   # over Python's int digit limit
    b'{"type": "status", "id": "\\ud800"}',                       # lone surrogate: reply cannot be encoded
    b'{"type": "speak", "id": "s", "text": "caf\\udce9"}',
    b'{"type": "voices", "id": "\\udfff\\ud83d"}',
], ids=["deep-array", "deep-id", "huge-int", "surrogate-id", "surrogate-text", "reversed-pair"])
def test_parser_edge_cases_are_bad_messages(shared_daemon, body):
    reply = raw_exchange(shared_daemon.endpoint, [body])
    assert reply["status"] == "error" and reply["errno"] == messages.E_BAD_MESSAGE and reply["reason"], reply
    assert shared_daemon.process.poll() is None
    with Client(shared_daemon.endpoint) as client:
        assert client.status()["state"] == "ready"


def test_valid_surrogate_pair_is_accepted(shared_daemon):
    reply = raw_exchange(shared_daemon.endpoint, [b'{"type": "status", "id": "\\ud83d\\ude42"}'])
    assert reply["status"] == "ok" and reply["id"] == "\U0001f642"


@pytest.mark.parametrize("text", ["\x00", "\x00\x01\x02\x1b\x7f", "\x07 \x0b\x0c \x1c\x1d\x1e\x1f", "\x85\x9f\x80"])
def test_text_of_control_characters_is_nothing_to_speak(shared_daemon, text):
    reply = raw_exchange(shared_daemon.endpoint, [json.dumps({"type": "speak", "id": "c", "text": text}).encode()])
    assert reply["status"] == "error" and reply["errno"] == messages.E_NOTHING_TO_SPEAK, reply
    assert reply.get("event") != "queued"


def test_text_with_control_characters_is_spoken(shared_daemon):
    plain = "Hello there, my friend. This line has a few words."
    noisy = "Hello\tthere,\x00 my\x07 friend.\r\nThis\x1b line\x7f has\x0b a\x0c few\x85 words.\x00"
    with Client(shared_daemon.endpoint) as client:
        clean = client.synthesize(plain)
        dirty = client.synthesize(noisy)
    assert dirty.audio_seconds > 0.5
    # the controls are dropped (or read as spaces), not spoken: about as long as the clean text
    assert abs(dirty.audio_seconds - clean.audio_seconds) < 0.35 * clean.audio_seconds, \
        (dirty.audio_seconds, clean.audio_seconds)
