"""`sd_ttsd`: a speech-dispatcher output module that speaks through the ttsd daemon.

speech-dispatcher starts it as `sd_ttsd [config]` and talks the module protocol on stdin/stdout
(docs: speechd-module-protocol.md); this module talks ttsd's client protocol to the daemon and
hands the PCM back to speech-dispatcher as 705 blocks ("server audio"), so the daemon keeps its
models loaded and streams: the first block leaves before the message is synthesized.

One process, one loop: a zmq.Poller watches stdin and the daemon socket, so STOP is read while
audio flows; audio goes out one block (<= 100 ms) at a time with stdin checked between blocks.
Logs go to stderr only (speech-dispatcher's module log); stdout carries the protocol.

An SSML message is split at its marks and breaks into segments; each segment is its own speak
request, a few sent ahead of the one playing so the daemon pipelines them. Audio is emitted in
message order, marks (`700`) between the audio they separate, breaks as silence.
"""

from __future__ import annotations

import html.parser
import json
import math
import os
import re
import select
import shlex
import subprocess
import sys
import time

from dataclasses import dataclass, field, replace
from pathlib import Path

import zmq
from zmq.utils.monitor import recv_monitor_message

from frontends.language import detect_language
from models.paths import default_endpoint, runtime_dir

BLOCK_SAMPLES = 2205            # at most 100 ms at 22050 Hz per 705 block
DEFAULT_SAMPLE_RATE = 22050
LOOKAHEAD = 3                   # speak requests of a message in flight at once (see Message)
DAEMON_SILENCE_LIMIT = 30.0     # seconds without any daemon message while waiting: give up on it
# With no connection to the daemon (it went away and nothing restarts it here), a message waits this
# long for one to come back (systemd restarting it), then ends: a screen reader must not hang.
DAEMON_ABSENT_LIMIT = 3.0
RESTART_WAIT = 2.0              # a daemon this module started gets this long to exit once its socket closed
READY_TIMEOUT = 120.0
MAX_BREAK_MS = 10_000
# Typing echo: after a CHAR or KEY the daemon's audio cache is filled with these characters and
# then the key names at that message's voice, speed and volume, once the module has been idle this
# long (see CacheWarmer).
WARM_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
WARM_IDLE_SECONDS = 0.5

LETTER_NAMES = {
    "a": "ay", "b": "bee", "c": "see", "d": "dee", "e": "ee", "f": "eff", "g": "gee", "h": "aitch",
    "i": "eye", "j": "jay", "k": "kay", "l": "el", "m": "em", "n": "en", "o": "oh", "p": "pee",
    "q": "cue", "r": "ar", "s": "ess", "t": "tee", "u": "you", "v": "vee", "w": "double you",
    "x": "ex", "y": "why", "z": "zee",
}
PUNCTUATION_NAMES = {
    ".": "dot", ",": "comma", "?": "question mark", "!": "exclamation mark", ";": "semicolon",
    ":": "colon", "'": "apostrophe", '"': "quote", "(": "left paren", ")": "right paren",
    "[": "left bracket", "]": "right bracket", "{": "left brace", "}": "right brace",
    "-": "dash", "_": "underscore", "/": "slash", "\\": "backslash", "|": "bar", "@": "at",
    "#": "number sign", "$": "dollar", "%": "percent", "^": "caret", "&": "and", "*": "star",
    "+": "plus", "=": "equals", "<": "less than", ">": "greater than", "~": "tilde", "`": "grave",
}
# "most" leaves the marks that shape a sentence's prosody to the voice; "all" names every one.
PROSODY_PUNCTUATION = set(".,?!;:'\"()-")
KEY_NAMES = {
    "space": "space", "underscore": "underscore", "double-quote": "quote", "kp-enter": "keypad enter",
    "control": "control", "ctrl": "control", "alt": "alt", "shift": "shift", "super": "super",
    "hyper": "hyper", "meta": "meta", "escape": "escape", "backspace": "backspace", "tab": "tab",
    "enter": "enter", "return": "return", "delete": "delete", "insert": "insert", "home": "home",
    "end": "end", "page-up": "page up", "page-down": "page down", "next": "page down",
    "prior": "page up", "up": "up", "down": "down", "left": "left", "right": "right",
    "menu": "menu", "pause": "pause", "break": "break", "print": "print screen",
}
BREAK_STRENGTH_MS = {"none": 0, "x-weak": 100, "weak": 200, "medium": 400, "strong": 700, "x-strong": 1000}


# ---- settings --------------------------------------------------------------------------------

@dataclass
class ModuleConfig:
    """Where the daemon is and whether to start one; read once at start."""
    endpoint: str
    autostart: bool = True
    ready_timeout: float = READY_TIMEOUT


@dataclass
class SpeechSettings:
    """speech-dispatcher's SET keys as last received; copied into each message at SPEAK."""
    rate: int = 0
    volume: int = 0
    pitch: int = 0
    pitch_range: int = 0
    punctuation_mode: str = "none"
    spelling_mode: str = "off"
    cap_let_recogn: str = "none"
    voice: str = "male1"
    language: str | None = None
    synthesis_voice: str | None = None
    other: dict[str, str] = field(default_factory=dict)

    def speed(self) -> float:
        """rate -100..100 -> speed multiplier 0.25..4, 0 -> 1 (each 50 doubles)."""
        return min(4.0, max(0.25, 2.0 ** (self.rate / 50.0)))

    def gain(self) -> float:
        """volume -100..100 -> gain 0..1, 100 -> 1 (the voice's normal level).

        Why not 0 -> 1: speech-dispatcher's shipped DefaultVolume is 100, so nearly every user
        sends 100; mapping it to 2x would clip."""
        return min(1.0, max(0.0, (self.volume + 100) / 200.0))


def read_config(argv: list[str]) -> ModuleConfig:
    """Endpoint from the module config file (argv[1], `TtsdEndpoint "ipc://..."`), else
    TTSD_ENDPOINT, else the user's default socket. Unknown lines are ignored."""
    endpoint = None
    autostart = True
    if len(argv) > 1 and Path(argv[1]).is_file():
        for line in Path(argv[1]).read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            if len(words) >= 2 and words[0].lower() == "ttsdendpoint":
                endpoint = words[1]
            elif len(words) >= 2 and words[0].lower() == "ttsdautostart":
                autostart = words[1].lower() in ("1", "yes", "true", "on")
    return ModuleConfig(endpoint=endpoint or default_endpoint(), autostart=autostart)


# ---- text ------------------------------------------------------------------------------------

@dataclass
class Segment:
    """One piece of a message in audio order: text to synthesize, a mark, or silence/tone."""
    kind: str                       # "text", "mark", "break", "tone"
    text: str = ""
    name: str = ""
    ms: int = 0
    request_id: str = ""
    sent: bool = False
    done: bool = False
    pcm: bytearray = field(default_factory=bytearray)


class SsmlSplitter(html.parser.HTMLParser):
    """SSML -> segments: text between marks and breaks; unknown tags dropped, their text kept."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.segments: list[Segment] = []
        self.text: list[str] = []

    def _flush(self) -> None:
        if self.text:
            self.segments.append(Segment("text", text="".join(self.text)))
            self.text = []

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_starttag(self, tag: str, attrs) -> None:
        values = dict(attrs)
        if tag == "mark" and values.get("name"):
            self._flush()
            self.segments.append(Segment("mark", name=values["name"]))
        elif tag == "break":
            self._flush()
            self.segments.append(Segment("break", ms=break_ms(values)))

    handle_startendtag = handle_starttag

    def close(self) -> list[Segment]:
        super().close()
        self._flush()
        return self.segments


def break_ms(values: dict) -> int:
    time_value = (values.get("time") or "").strip().lower()
    match = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*(ms|s)?", time_value)
    if match:
        number = float(match.group(1))
        ms = number if match.group(2) == "ms" else number * 1000 if match.group(2) == "s" else number
        return int(min(MAX_BREAK_MS, ms))
    return BREAK_STRENGTH_MS.get((values.get("strength") or "medium").lower(), 400)


def letter_words(char: str, settings: SpeechSettings) -> str:
    """How one character is read when spelled: letter names, 'capital' when asked, symbol names."""
    if char.lower() in LETTER_NAMES:
        name = LETTER_NAMES[char.lower()]
        return f"capital {name}" if char.isupper() and settings.cap_let_recogn == "spell" else name
    if char.isspace():
        return "space"
    return PUNCTUATION_NAMES.get(char, char)


def language_family(language: str) -> str:
    """"en" for en-US, en_GB, EN; "zh" for zh-CN."""
    return language.lower().replace("_", "-").split("-")[0]


def speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def prepare_text(text: str, settings: SpeechSettings) -> str:
    """Apply spelling and punctuation modes; the daemon gets plain words."""
    text = " ".join(text.split())
    if settings.spelling_mode == "on":
        return " ".join(letter_words(ch, settings) for ch in text if not ch.isspace())
    mode = settings.punctuation_mode
    if mode in ("all", "most"):
        named = {ch for ch in PUNCTUATION_NAMES if mode == "all" or ch not in PROSODY_PUNCTUATION}
        text = "".join(f" {PUNCTUATION_NAMES[ch]} " if ch in named else ch for ch in text)
        text = " ".join(text.split())
    return text


def ssml_segments(ssml: str, settings: SpeechSettings) -> list[Segment]:
    splitter = SsmlSplitter()
    splitter.feed(ssml)
    segments = []
    for segment in splitter.close():
        if segment.kind == "text":
            segment.text = prepare_text(segment.text, settings)
            if not speakable(segment.text):
                continue
        segments.append(segment)
    return segments


def char_segments(data: str, settings: SpeechSettings) -> list[Segment]:
    char = "space" if data in ("space", " ") else data
    if char == "space" or len(char) != 1:
        return [Segment("text", text=char)]
    segments = []
    if char.isupper() and settings.cap_let_recogn == "icon":
        segments.append(Segment("tone", ms=60))
    spoken = letter_words(char, settings)
    if speakable(spoken):
        segments.append(Segment("text", text=spoken))
    return segments or [Segment("tone", ms=60)]


def key_text(name: str) -> str:
    """KEY names: parts joined by '_' (shift_a, control_alt_delete); '_' itself is 'underscore'."""
    words = []
    for part in name.strip().split("_"):
        lower = part.lower()
        if not part:
            continue
        if lower in KEY_NAMES:
            words.append(KEY_NAMES[lower])
        elif len(part) == 1:
            words.append(LETTER_NAMES.get(lower) or PUNCTUATION_NAMES.get(part) or part)
        elif re.fullmatch(r"f[0-9]{1,2}", lower):
            words.append(f"F {lower[1:]}")
        elif lower.startswith("kp-"):
            rest = lower[3:]
            words.append("keypad " + (PUNCTUATION_NAMES.get(rest) or KEY_NAMES.get(rest) or rest.replace("-", " ")))
        else:
            words.append(part.replace("-", " "))
    return " ".join(words) or name


def escape_pcm(pcm: bytes) -> bytes:
    """The 705 payload escaping: 0x7D and 0x0A become 0x7D, byte ^ 0x20 (0x7D first)."""
    return pcm.replace(b"\x7d", b"\x7d\x5d").replace(b"\x0a", b"\x7d\x2a")


def audio_block(pcm: bytes, sample_rate: int) -> bytes:
    header = (f"705-bits=16\n705-num_channels=1\n705-sample_rate={sample_rate}\n"
              f"705-num_samples={len(pcm) // 2}\n705-big_endian=0\n705-AUDIO\x00").encode("ascii")
    return header + escape_pcm(pcm) + b"\n705 AUDIO\n"


def tone(ms: int, sample_rate: int, hz: float = 880.0) -> bytes:
    """A short soft beep (capital-letter icon)."""
    count = int(sample_rate * ms / 1000)
    samples = (int(6000 * math.sin(2 * math.pi * hz * i / sample_rate) * min(1.0, i / 200, (count - i) / 200))
               for i in range(count))
    return b"".join(s.to_bytes(2, "little", signed=True) for s in samples)


# ---- I/O helpers ------------------------------------------------------------------------------

class LineReader:
    """Lines from a raw fd without blocking the loop (the poller says when bytes are there)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = b""
        self.eof = False

    def fill(self) -> None:
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.eof = True
        self.buffer += chunk

    def pop_line(self) -> str | None:
        if b"\n" not in self.buffer:
            return None
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode("utf-8", errors="replace")

    def read_line(self) -> str | None:
        """Blocking: used for the data lines that follow SET/SPEAK/AUDIO (sent right after them)."""
        while True:
            line = self.pop_line()
            if line is not None or self.eof:
                return line
            select.select([self.fd], [], [])
            self.fill()


@dataclass
class Message:
    """The message being spoken. At most LOOKAHEAD of its text segments are in flight at the
    daemon: enough to pipeline, few enough that the daemon's rule "new requests' first clauses
    go first" cannot starve the sentence that is playing."""
    number: int
    segments: list[Segment]
    voice: str | None
    speed: float
    gain: float
    index: int = 0
    last_daemon_message: float = field(default_factory=time.monotonic)
    audio_received: bool = False    # some of its audio came from the daemon
    resent: bool = False            # sent again to a new daemon after the old one went away


@dataclass
class CacheWarmer:
    """Screen-reader users hear every typed character echoed; a character the daemon has said before
    at the same voice, speed and volume comes from its audio cache at once (~12 ms to sound, like
    espeak-ng, against ~100 ms synthesized). After a CHAR, the other letters and digits are spoken
    into the cache, one request at a time, only while the module is idle, as `notification`s: the
    daemon drops a notification when anything else is queued and cancels it for any newer request,
    so warming never delays speech. A cancelled text is tried again later."""
    texts: list[str]
    voice: str | None
    speed: float
    gain: float
    in_flight: tuple[str, str] | None = None      # (request id, text)
    sent: int = 0

    def next_request(self, pid: int) -> dict | None:
        if self.in_flight is not None or not self.texts:
            return None
        text = self.texts.pop(0)
        self.sent += 1
        request_id = f"warm{pid}-{self.sent}"
        self.in_flight = (request_id, text)
        request = {"type": "speak", "id": request_id, "text": text, "rate": self.speed, "volume": self.gain,
                   "priority": "notification"}
        if self.voice:
            request["voice"] = self.voice
        return request

    def on_reply(self, reply: dict) -> bool:
        """Handle a daemon reply if it is about the warming request; True when the reply was its last
        (done, or an error; a cancelled text goes back on the list)."""
        if self.in_flight is None or reply.get("id") != self.in_flight[0] or reply.get("event") in ("queued", "audio"):
            return False
        if reply.get("status") != "ok" and reply.get("errno") == 9:
            self.texts.append(self.in_flight[1])
        self.in_flight = None
        return True


# ---- the module -------------------------------------------------------------------------------

class Module:
    def __init__(self, config: ModuleConfig, stdin_fd: int, stdout, stderr):
        self.config = config
        self.reader = LineReader(stdin_fd)
        self.out = stdout
        self.err = stderr
        self.log_level = 3
        self.settings = SpeechSettings()
        self.voices: list[dict] = []
        self.context = zmq.Context()
        self.socket: zmq.Socket | None = None
        self.monitor: zmq.Socket | None = None      # the socket's connect/disconnect events
        self.connected = False
        self.started_daemon = False                 # this module started the daemon: it restarts it too
        self.spawned: subprocess.Popen | None = None
        self.message: Message | None = None
        self.messages_started = 0
        self.sample_rate = DEFAULT_SAMPLE_RATE
        self.pitch_warned = False
        self.running = True
        self.warmer: CacheWarmer | None = None
        self.warmed: set[tuple[str | None, float, float]] = set()   # (voice, speed, gain) warmed or warming
        self.idle_since = time.monotonic()

    # ---- output ---------------------------------------------------------------------------

    def log(self, level: int, text: str) -> None:
        if level <= self.log_level:
            print(f"sd_ttsd: {text}", file=self.err, flush=True)

    def send(self, *lines: str) -> None:
        self.out.write("".join(line + "\n" for line in lines).encode("utf-8"))
        self.out.flush()

    def send_bytes(self, data: bytes) -> None:
        self.out.write(data)
        self.out.flush()

    # ---- daemon ---------------------------------------------------------------------------

    def _call(self, request: dict, timeout: float = 5.0) -> dict:
        """One request/reply on the session socket (only while no message is speaking)."""
        request.setdefault("id", f"ctl-{time.monotonic_ns()}")
        self.socket.send(json.dumps(request).encode("utf-8"))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.socket.poll(int(remaining * 1000)):
                raise TimeoutError(f"ttsd at {self.config.endpoint} did not answer within {timeout:.0f} s")
            reply = json.loads(self.socket.recv_multipart()[0])
            if reply.get("id") == request["id"]:
                return reply
            if self.warmer is not None:
                self.warmer.on_reply(reply)     # a warming request may finish meanwhile: keep it moving

    def _connect(self) -> None:
        """A fresh session socket (requests queued on an old one are not sent to a new daemon)."""
        if self.socket is not None:
            self.socket.disable_monitor()
            self.monitor.close(0)
            self.socket.close(0)
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.monitor = self.socket.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        self.connected = False
        self.socket.connect(self.config.endpoint)

    def on_monitor_events(self) -> None:
        while True:
            try:
                event = recv_monitor_message(self.monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            if event["event"] == zmq.EVENT_CONNECTED:
                self.connected = True
            elif event["event"] == zmq.EVENT_DISCONNECTED and self.connected:
                self.daemon_lost()
                return      # the monitor was replaced

    def daemon_lost(self) -> None:
        """The daemon's socket closed (it exited or crashed): end the message with the audio already
        here instead of waiting for more, forget what was warmed into its cache, and start a new
        daemon if this module started the old one (else its service manager restarts it)."""
        restart = self.started_daemon and self.config.autostart
        self.log(1, f"ttsd at {self.config.endpoint} went away" + ("; starting a new one" if restart else ""))
        message = self.message
        if message is not None and (message.audio_received or message.resent):
            for segment in message.segments:     # its rest would come seconds late: end it now
                if segment.kind == "text" and not segment.done:
                    segment.sent = segment.done = True
        elif message is not None:
            # None of it was heard yet (it came while the old daemon was dying): the new daemon
            # speaks it. Only once: a message that kills the daemon is not sent to the next one.
            message.resent = True
            for segment in message.segments:
                if segment.kind == "text" and not segment.done:
                    segment.sent = False
        self.warmer = None
        self.warmed.clear()
        if restart:
            self._reap_spawned()
        self._connect()
        if restart:
            self._spawn_daemon()
        if self.message is not None:
            self.request_ahead()

    def _reap_spawned(self) -> None:
        """A daemon's socket closes while its process is still exiting: wait until it is gone, so the
        new daemon can take the runtime dir's lock and the new socket cannot reach the dying one."""
        if self.spawned is None:
            return
        try:
            self.spawned.wait(RESTART_WAIT)
        except subprocess.TimeoutExpired:
            self.log(1, f"ttsd {self.spawned.pid} closed its socket but has not exited after "
                     f"{RESTART_WAIT:.0f} s; killing it")
            self.spawned.kill()
            self.spawned.wait()

    def _status(self, timeout: float) -> dict | None:
        path = self.config.endpoint[len("ipc://"):] if self.config.endpoint.startswith("ipc://") else None
        if path is not None and not Path(path).exists():
            return None
        self._connect()
        try:
            return self._call({"type": "status"}, timeout)
        except TimeoutError:
            return None

    def _spawn_daemon(self) -> Path:
        """Start `ttsd serve` in user mode, detached, logging to a file in its runtime dir."""
        endpoint = self.config.endpoint
        runtime = Path(endpoint[len("ipc://"):]).parent if endpoint.startswith("ipc://") else runtime_dir()
        runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_path = runtime / "ttsd-autostart.log"
        with open(log_path, "ab") as log_file:
            self.spawned = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--runtime-dir", str(runtime),
                                             "--endpoint", endpoint], stdin=subprocess.DEVNULL, stdout=log_file,
                                            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        return log_path

    def start_daemon_session(self) -> str:
        """Connect to the daemon, starting one if nobody answers; wait until it is ready."""
        status = self._status(timeout=3.0)
        started = ""
        if status is None:
            if not self.config.autostart:
                raise RuntimeError(f"no ttsd daemon answers at {self.config.endpoint}")
            log_path = self._spawn_daemon()
            self.started_daemon = True
            started = f" (started ttsd, log {log_path})"
            self.log(2, f"no daemon at {self.config.endpoint}; started one{started}")
        deadline = time.monotonic() + self.config.ready_timeout
        while status is None or status.get("state") != "ready":
            if time.monotonic() > deadline:
                raise RuntimeError(f"ttsd at {self.config.endpoint} not ready within "
                                   f"{self.config.ready_timeout:.0f} s{started}")
            time.sleep(0.25)
            status = self._status(timeout=2.0)
        self.voices = [v for v in status.get("voices", []) if v.get("state") not in ("refused", "quarantined", "failed")]
        self.connected = True
        return f"ttsd {status.get('pid')} at {self.config.endpoint}{started}"

    def refresh_voices(self) -> None:
        self.voices = [v for v in self._call({"type": "voices"})["voices"]
                       if v.get("state") not in ("refused", "quarantined", "failed")]

    def pick_voice(self, settings: SpeechSettings, text: str) -> str | None:
        """The voice SET asked for (synthesis_voice, else language), unless the text is in another
        script that an installed voice speaks: a screen reader set to English that meets a Chinese
        line would otherwise get silence (an English voice cannot say Han characters). None lets
        the daemon choose by script."""
        chosen = None
        if settings.synthesis_voice and any(v["name"] == settings.synthesis_voice for v in self.voices):
            chosen = settings.synthesis_voice
        elif settings.language:
            chosen = self.voice_for_language(settings.language.lower().replace("_", "-"))
        script_language = detect_language(text)
        if chosen is not None and language_family(self.voice_language(chosen)) != script_language:
            return self.voice_for_language(script_language) or chosen
        return chosen

    def voice_language(self, name: str) -> str:
        return next((str(v.get("language", "")) for v in self.voices if v["name"] == name), "")

    def voice_for_language(self, wanted: str) -> str | None:
        """An exact language match first, else the same family (en-GB asks, en-US answers)."""
        for same in (lambda language: language == wanted,
                     lambda language: language_family(language) == language_family(wanted)):
            for voice in self.voices:
                if same(str(voice.get("language", "")).lower().replace("_", "-")):
                    return voice["name"]
        return None

    # ---- commands -------------------------------------------------------------------------

    def read_block(self) -> list[str]:
        """Data lines up to the lone '.', with the server's extra leading dot removed."""
        lines = []
        while True:
            line = self.reader.read_line()
            if line is None or line == ".":
                return lines
            lines.append(line[1:] if line.startswith("..") else line)

    def handle(self, line: str) -> None:
        command = line.strip()
        upper = command.upper()
        self.log(5, f"command {command!r}")
        if upper == "INIT":
            self.cmd_init()
        elif upper == "AUDIO":
            self.send("207 OK RECEIVING AUDIO SETTINGS")
            values = dict(item.split("=", 1) for item in self.read_block() if "=" in item)
            if values.get("audio_output_method") == "server":
                self.send("203 OK AUDIO INITIALIZED")
            else:
                self.send("303 ERROR INVALID PARAMETER OR VALUE")
        elif upper == "LOGLEVEL":
            self.send("207 OK RECEIVING LOGLEVEL SETTINGS")
            for item in self.read_block():
                key, _, value = item.partition("=")
                if key == "log_level" and value.strip().lstrip("-").isdigit():
                    self.log_level = int(value)
            self.send("203 OK LOGLEVEL SET")
        elif upper.startswith("LIST VOICES"):
            self.cmd_list_voices(command.split()[2:])
        elif upper == "SET":
            self.send("203 OK RECEIVING SETTINGS")
            self.apply_settings(self.read_block())
            self.send("203 OK SETTINGS RECEIVED")
        elif upper in ("SPEAK", "CHAR", "KEY", "SOUND_ICON"):
            self.cmd_speak(upper)
        elif upper in ("STOP", "PAUSE"):
            self.interrupt("703 STOP" if upper == "STOP" else "704 PAUSE")
        elif upper == "QUIT":
            self.interrupt(None)
            self.send("210 OK QUIT")
            self.running = False
        else:
            self.send("300 ERR UNKNOWN COMMAND")

    def cmd_init(self) -> None:
        try:
            description = self.start_daemon_session()
        except (RuntimeError, OSError, zmq.ZMQError) as error:
            self.log(1, f"INIT failed: {error}")
            self.send(f"399-{error}", "399 ERR CANT INIT MODULE")
            self.running = False
            return
        names = ", ".join(v["name"] for v in self.voices) or "none"
        self.send(f"299-ttsd module: {description}; voices: {names}", "299 OK LOADED SUCCESSFULLY")

    def cmd_list_voices(self, filters: list[str]) -> None:
        if self.message is None:
            try:
                self.refresh_voices()
            except (TimeoutError, KeyError, zmq.ZMQError) as error:
                self.log(2, f"voice list from the daemon failed: {error}; using the list from INIT")
        if not self.voices:
            self.send("304 CANT LIST VOICES")
            return
        wanted = filters[0].lower().replace("_", "-") if filters else None
        lines = []
        for voice in self.voices:
            language = str(voice.get("language") or "none").replace("_", "-")
            if wanted and not language.lower().startswith(wanted.split("-")[0]):
                continue
            lines.append(f"200-{voice['name']}\t{language}\tnone")
        self.send(*lines, "200 OK VOICE LIST SENT")

    def apply_settings(self, items: list[str]) -> None:
        for item in items:
            key, _, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if key in ("rate", "volume", "pitch", "pitch_range"):
                try:
                    setattr(self.settings, key, max(-100, min(100, int(value))))
                except ValueError:
                    self.log(2, f"SET {key}={value!r} is not a number; ignored")
            elif key in ("punctuation_mode", "spelling_mode", "cap_let_recogn", "voice"):
                setattr(self.settings, key, value.lower())
            elif key in ("language", "synthesis_voice"):
                setattr(self.settings, key, None if value in ("", "NULL") else value)
            elif key:
                self.settings.other[key] = value
        if (self.settings.pitch or self.settings.pitch_range) and not self.pitch_warned:
            self.pitch_warned = True
            self.log(2, "pitch and pitch_range are recorded but not applied: ttsd's voices cannot shift pitch")

    def cmd_speak(self, kind: str) -> None:
        self.send("202 OK RECEIVING MESSAGE")
        data = "\n".join(self.read_block())
        if kind != "SPEAK" and "\n" in data.strip():
            self.send("305 DATA MORE THAN ONE LINE")
            return
        settings = replace(self.settings)
        if kind == "SPEAK":
            segments = ssml_segments(data, settings)
        elif kind == "CHAR":
            segments = char_segments(data.strip("\n") or "space", settings)
        elif kind == "KEY":
            segments = [Segment("text", text=key_text(data.strip()))]
        else:   # SOUND_ICON: ttsd has no icon sounds; the icon's name is spoken instead
            segments = [Segment("text", text=re.sub(r"[-_]+", " ", data.strip()) or "icon")]
        if self.message is not None:
            self.log(2, "new message while one is speaking: dropping the old one")
            self.cancel_requests()
            self.message = None
        self.messages_started += 1
        number = self.messages_started
        for position, segment in enumerate(segments):
            segment.request_id = f"sd{os.getpid()}-{number}-{position}"
        text = " ".join(segment.text for segment in segments if segment.kind == "text")
        self.message = Message(number=number, segments=segments, voice=self.pick_voice(settings, text),
                               speed=settings.speed(), gain=settings.gain())
        if kind in ("CHAR", "KEY"):
            self.plan_warming(settings, spoken=[s.text for s in segments if s.kind == "text"])
        self.send("200 OK SPEAKING")
        self.send("701 BEGIN")
        self.log(4, f"message {number}: {len(segments)} segments, voice {self.message.voice}, "
                 f"speed {self.message.speed:.2f}, gain {self.message.gain:.2f}")
        self.request_ahead()

    def plan_warming(self, settings: SpeechSettings, spoken: list[str]) -> None:
        key = (self.message.voice, self.message.speed, self.message.gain)
        if key in self.warmed:
            return
        if self.warmer is not None and self.warmer.texts:
            self.warmed.discard((self.warmer.voice, self.warmer.speed, self.warmer.gain))   # left unfinished
        self.warmed.add(key)
        texts = [letter_words(char, settings) for char in WARM_CHARACTERS] + list(dict.fromkeys(KEY_NAMES.values()))
        self.warmer = CacheWarmer(texts=[text for text in texts if text not in spoken], voice=key[0],
                                  speed=key[1], gain=key[2])

    def warm_step(self) -> None:
        """While idle, send the next warming request (after WARM_IDLE_SECONDS of quiet)."""
        if self.warmer is None or self.socket is None or time.monotonic() - self.idle_since < WARM_IDLE_SECONDS:
            return
        request = self.warmer.next_request(os.getpid())
        if request is not None:
            self.socket.send(json.dumps(request).encode("utf-8"))

    def cancel_requests(self) -> None:
        """Cancel every request of this session at the daemon; late replies are ignored by id."""
        if self.socket is not None:
            self.socket.send(json.dumps({"type": "stop", "id": ""}).encode("utf-8"))

    def interrupt(self, event: str | None) -> None:
        """STOP/PAUSE: no reply; drop the rest of the message at once and report the event."""
        if self.message is None:
            return
        self.cancel_requests()
        self.message = None
        if event:
            self.send(event)

    # ---- streaming ------------------------------------------------------------------------

    def request_ahead(self) -> None:
        message = self.message
        in_flight = sum(1 for s in message.segments if s.kind == "text" and s.sent and not s.done)
        for segment in message.segments[message.index:]:
            if in_flight >= LOOKAHEAD:
                break
            if segment.kind != "text" or segment.sent:
                continue
            request = {"type": "speak", "id": segment.request_id, "text": segment.text,
                       "rate": message.speed, "volume": message.gain}
            if message.voice:
                request["voice"] = message.voice
            self.socket.send(json.dumps(request).encode("utf-8"))
            segment.sent = True
            in_flight += 1
            message.last_daemon_message = time.monotonic()

    def on_daemon_frames(self, frames: list[bytes]) -> None:
        try:
            reply = json.loads(frames[0])
        except ValueError:
            return
        if self.warmer is not None and self.warmer.on_reply(reply):
            if reply.get("status") != "ok":
                self.idle_since = time.monotonic()    # dropped or cancelled: wait for quiet again
            return
        message = self.message
        if message is None:
            return
        segment = next((s for s in message.segments if s.request_id == reply.get("id") and s.kind == "text"), None)
        if segment is None:
            return
        message.last_daemon_message = time.monotonic()
        if reply.get("status") != "ok":
            if reply.get("errno") != 6:   # "nothing to speak" is fine: the segment is silent
                self.log(1, f"segment {segment.text[:40]!r} failed: {reply.get('reason')} (errno {reply.get('errno')})")
            segment.done = True
        elif reply.get("event") == "audio":
            message.audio_received = True
            self.sample_rate = int(reply.get("sample_rate") or self.sample_rate)
            segment.pcm += frames[1] if len(frames) > 1 else b""
        elif reply.get("event") == "done":
            segment.done = True
        self.request_ahead()

    def pump(self) -> bool:
        """Emit the next thing of the message in order: one audio block, marks, or the end.
        Returns True when it emitted something (the loop then checks stdin before the next)."""
        message = self.message
        while message.index < len(message.segments):
            segment = message.segments[message.index]
            if segment.kind == "mark":
                self.send(f"700-{segment.name}", "700 INDEX MARK")
                message.index += 1
                return True
            if segment.kind in ("break", "tone") and not segment.done:
                ms = segment.ms
                segment.pcm += (tone(ms, self.sample_rate) if segment.kind == "tone"
                                else bytes(2 * int(self.sample_rate * ms / 1000)))
                segment.done = True
            if segment.pcm:
                size = min(len(segment.pcm), 2 * BLOCK_SAMPLES * self.sample_rate // DEFAULT_SAMPLE_RATE)
                block = bytes(segment.pcm[:size])
                del segment.pcm[:size]
                self.send_bytes(audio_block(block, self.sample_rate))
                return True
            if not segment.done:
                limit = self.wait_limit()
                if time.monotonic() - message.last_daemon_message > limit:
                    self.log(1, f"ttsd sent nothing for {limit:.0f} s"
                             + ("" if self.connected else f" and is not running at {self.config.endpoint}")
                             + "; ending the message")
                    self.cancel_requests()
                    break
                return False
            message.index += 1
            self.request_ahead()
        self.message = None
        self.send("702 END")
        return True

    def wait_limit(self) -> float:
        """How long a message waits for the daemon: a connected daemon may be busy; a missing one
        is either being started by this module (its start-up time) or gone."""
        if self.connected:
            return DAEMON_SILENCE_LIMIT
        return self.config.ready_timeout if self.started_daemon and self.config.autostart else DAEMON_ABSENT_LIMIT

    # ---- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        poller = zmq.Poller()
        poller.register(self.reader.fd, zmq.POLLIN)
        registered: tuple = ()
        while self.running:
            if self.socket is not None and registered != (self.socket, self.monitor):
                for old in registered:
                    poller.unregister(old)
                registered = (self.socket, self.monitor)
                for socket in registered:
                    poller.register(socket, zmq.POLLIN)
            busy = self.message is not None
            if busy:
                self.idle_since = time.monotonic()
            warming = self.warmer is not None and self.warmer.texts and self.warmer.in_flight is None
            idle_ms = int(WARM_IDLE_SECONDS * 1000) if warming else 1000
            events = dict(poller.poll(0 if busy else None if self.socket is None else idle_ms))
            if self.reader.fd in events:
                self.reader.fill()
            while self.running and (line := self.reader.pop_line()) is not None:
                self.handle(line)
            if self.reader.eof and not self.reader.buffer:
                self.log(3, "stdin closed; exiting")
                self.interrupt(None)
                break
            if self.socket is not None:
                while True:
                    try:
                        frames = self.socket.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.on_daemon_frames(frames)
                self.on_monitor_events()
            if self.message is not None and not self.pump():
                poller.poll(20)      # waiting for the daemon: sleep until something arrives
            if self.message is None:
                self.warm_step()
        if self.socket is not None:
            self.socket.disable_monitor()
            self.monitor.close(0)
            self.socket.close(0)
        self.context.term()
        return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    config = read_config(argv)
    module = Module(config, sys.stdin.fileno(), sys.stdout.buffer, sys.stderr)
    try:
        return module.run()
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
