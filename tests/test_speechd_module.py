"""sd_ttsd driven over its pipes the way speech-dispatcher drives it, against a real ttsd daemon."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ipc.client import Client
from ipc.speechd_module import KEY_NAMES, escape_pcm, key_text, prepare_text, SpeechSettings, ssml_segments
from tests.conftest import remove_segments_left_by

REPLY_TIMEOUT = 60.0
LONG_TEXT = " ".join(["The old lighthouse stood at the edge of the cliff for more than a hundred years, "
                      "and every night its beam swept across the dark water."] * 8)


def unescape(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for byte in it:
        out.append(next(it) ^ 0x20 if byte == 0x7D else byte)
    return bytes(out)


@dataclass
class Event:
    lines: list[bytes]
    pcm: bytes = b""

    @property
    def code(self) -> str:
        return self.lines[-1][:3].decode()

    @property
    def text(self) -> str:
        return self.lines[-1][4:].decode(errors="replace").strip()


@dataclass
class ModuleProcess:
    """One sd_ttsd process and a reader for its replies/events (multi-line, binary 705 blocks)."""
    process: subprocess.Popen
    buffer: bytes = b""
    stderr_path: Path | None = None
    seen: list[Event] = field(default_factory=list)

    def write(self, text: str) -> None:
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def _line(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.process.stdout], [], [], remaining)[0]:
                raise TimeoutError(f"no complete line from sd_ttsd; got {self.buffer[:200]!r}")
            chunk = self.process.stdout.read1(65536)
            if not chunk:
                raise EOFError("sd_ttsd closed stdout")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def read(self, timeout: float = REPLY_TIMEOUT) -> Event:
        """One reply or event: lines until one whose 4th character is a space."""
        lines = []
        while True:
            line = self._line(timeout)
            if line.startswith(b"705-AUDIO\x00"):
                # The payload is escaped so it holds no LF: the line ends the block's data.
                lines.append(b"705-AUDIO")
                pcm = unescape(line[len(b"705-AUDIO\x00"):])
                closing = self._line(timeout)
                assert closing == b"705 AUDIO", closing
                lines.append(closing)
                event = Event(lines, pcm)
                self.seen.append(event)
                return event
            lines.append(line)
            if len(line) < 4 or line[3:4] == b" ":
                event = Event(lines)
                self.seen.append(event)
                return event

    def command(self, text: str, data: list[str] | None = None) -> list[Event]:
        """Send a command (and its data block); return the replies it gets."""
        self.write(text + "\n")
        replies = [self.read()]
        if data is not None:
            assert replies[0].code in ("202", "203", "207"), replies[0].lines
            self.write("".join(("." + line if line.startswith(".") else line) + "\n" for line in data) + ".\n")
            replies.append(self.read())
        return replies

    def until_end(self, timeout: float = REPLY_TIMEOUT) -> list[Event]:
        events = []
        while True:
            event = self.read(timeout)
            events.append(event)
            if event.code in ("702", "703", "704"):
                return events

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path else ""


def start_module(tmp_path: Path, endpoint: str, name: str = "module") -> ModuleProcess:
    config = tmp_path / f"{name}.conf"
    config.write_text(f'# module config\nSomeUnknownOption 1\nTtsdEndpoint "{endpoint}"\n')
    stderr_path = tmp_path / f"{name}.stderr"
    process = subprocess.Popen([sys.executable, "-m", "ipc.speechd_module", str(config)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=open(stderr_path, "wb"))
    return ModuleProcess(process=process, stderr_path=stderr_path)


def initialised(tmp_path: Path, endpoint: str) -> ModuleProcess:
    module = start_module(tmp_path, endpoint)
    init = module.command("INIT")[0]
    assert init.code == "299" and init.lines[-1] == b"299 OK LOADED SUCCESSFULLY", (init.lines, module.stderr())
    assert [r.lines[-1] for r in module.command("AUDIO", ["audio_output_method=server"])] == [
        b"207 OK RECEIVING AUDIO SETTINGS", b"203 OK AUDIO INITIALIZED"]
    assert [r.lines[-1] for r in module.command("LOGLEVEL", ["log_level=5"])] == [
        b"207 OK RECEIVING LOGLEVEL SETTINGS", b"203 OK LOGLEVEL SET"]
    return module


SET_DEFAULTS = ["pitch=0", "pitch_range=0", "rate=0", "volume=0", "punctuation_mode=none", "spelling_mode=off",
                "cap_let_recogn=none", "voice=male1", "language=en", "synthesis_voice=NULL"]


def speak(module: ModuleProcess, kind: str, data: str, settings: list[str] | None = None) -> list[Event]:
    replies = module.command("SET", [*SET_DEFAULTS, *(settings or [])])
    assert [r.lines[-1] for r in replies] == [b"203 OK RECEIVING SETTINGS", b"203 OK SETTINGS RECEIVED"]
    replies = module.command(kind, data.split("\n"))
    assert replies[0].lines[-1] == b"202 OK RECEIVING MESSAGE"
    assert replies[1].lines[-1] == b"200 OK SPEAKING", replies[1].lines
    return module.until_end()


def check_message(events: list[Event]) -> None:
    """701 first, exactly one terminal event last, audio blocks well formed."""
    codes = [e.code for e in events]
    assert codes[0] == "701" and codes.count("701") == 1, codes
    assert codes[-1] in ("702", "703", "704") and sum(codes.count(c) for c in ("702", "703", "704")) == 1, codes
    for event in events:
        if event.code == "705":
            header = dict(line[4:].decode().split("=", 1) for line in event.lines if b"=" in line)
            assert header["bits"] == "16" and header["num_channels"] == "1" and header["big_endian"] == "0"
            assert int(header["sample_rate"]) == 22050
            assert 0 < int(header["num_samples"]) <= 2205
            assert len(event.pcm) == int(header["num_samples"]) * 2


def audio_samples(events: list[Event]) -> int:
    return sum(len(e.pcm) // 2 for e in events if e.code == "705")


@pytest.fixture(scope="module")
def endpoint(shared_daemon) -> str:
    return shared_daemon.endpoint


@pytest.fixture
def module(tmp_path, endpoint):
    module = initialised(tmp_path, endpoint)
    yield module
    if module.process.poll() is None:
        module.process.kill()
    module.process.wait(10)


# ---- pure functions ------------------------------------------------------------------------

def test_escape_round_trip():
    data = bytes(range(256)) * 3
    assert b"\n" not in escape_pcm(data)
    assert unescape(escape_pcm(data)) == data


def test_text_preparation():
    settings = SpeechSettings()
    segments = ssml_segments('<speak>Tom &amp; Jerry<mark name="a"/>, <break time="250ms"/>'
                             '<emphasis>loud</emphasis> &lt;x&gt;</speak>', settings)
    assert [(s.kind, s.text or s.name or s.ms) for s in segments] == [
        ("text", "Tom & Jerry"), ("mark", "a"), ("break", 250), ("text", "loud <x>")]
    assert prepare_text("a, b!", SpeechSettings(punctuation_mode="all")) == "a comma b exclamation mark"
    assert prepare_text("a, b @ c", SpeechSettings(punctuation_mode="most")) == "a, b at c"
    assert prepare_text("Ab1", SpeechSettings(spelling_mode="on")) == "ay bee 1"
    assert key_text("shift_a") == "shift ay"
    assert key_text("underscore") == "underscore"
    assert key_text("control_alt_delete") == "control alt delete"


# ---- protocol ------------------------------------------------------------------------------

def test_list_voices_and_unknown(module):
    reply = module.command("LIST VOICES")[0]
    assert reply.lines[-1] == b"200 OK VOICE LIST SENT"
    assert b"200-en_US-joe-medium\ten-US\tnone" in reply.lines
    assert module.command("FROBNICATE")[0].lines[-1] == b"300 ERR UNKNOWN COMMAND"
    # STOP and PAUSE while idle: no reply at all; the next command's reply comes next.
    module.write("STOP\nPAUSE\n")
    assert module.command("LIST VOICES")[0].lines[-1] == b"200 OK VOICE LIST SENT"
    assert module.command("QUIT")[0].lines[-1] == b"210 OK QUIT"
    assert module.process.wait(10) == 0


def test_speak_streams_audio_then_end(module):
    events = speak(module, "SPEAK", "<speak>Hello from the screen reader.\nSecond line of the message.</speak>",
                   ["pitch=20", "unknown_key=1"])
    check_message(events)
    assert events[-1].code == "702"
    assert audio_samples(events) > 22050 // 2
    assert "pitch" in module.stderr()


def test_marks_in_order_between_audio(module):
    ssml = ('<speak><mark name="start"/>First sentence here.<mark name="__spd_1"/> Second sentence '
            'follows.<mark name="__spd_2"/> <break time="200ms"/>Third and last.<mark name="end"/></speak>')
    events = speak(module, "SPEAK", ssml)
    check_message(events)
    marks = [(i, e.lines[0][4:].decode()) for i, e in enumerate(events) if e.code == "700"]
    assert [name for _, name in marks] == ["start", "__spd_1", "__spd_2", "end"]
    positions = [i for i, _ in marks]
    audio = [i for i, e in enumerate(events) if e.code == "705"]
    # audio before __spd_1, between each pair of marks, none after "end"
    assert positions[0] < min(audio)
    for before, after in zip(positions, positions[1:]):
        assert any(before < i < after for i in audio), (before, after)
    assert max(audio) < positions[-1]


def test_break_is_silence(module):
    plain = audio_samples(speak(module, "SPEAK", "<speak>Yes.</speak>"))
    with_break = speak(module, "SPEAK", '<speak>Yes.<break time="1s"/></speak>')
    check_message(with_break)
    silent = [e for e in with_break if e.code == "705" and not any(e.pcm)]
    # The 1 s break, plus at most the few trailing speech samples that can round to zero in a block
    # of their own (a CI run saw 22054).
    assert 22050 <= sum(len(e.pcm) // 2 for e in silent) < 22050 + 100
    assert audio_samples(with_break) > plain


def test_mark_only_and_punctuation_only_messages(module):
    events = speak(module, "SPEAK", '<speak>... <mark name="only"/> !</speak>')
    check_message(events)
    assert [e.code for e in events] == ["701", "700", "702"]


def test_char_key_sound_icon(module):
    for kind, data in (("CHAR", "a"), ("CHAR", "space"), ("CHAR", "?"), ("KEY", "shift_a"), ("KEY", "underscore"),
                       ("KEY", "control_alt_delete"), ("SOUND_ICON", "message")):
        events = speak(module, kind, data)
        check_message(events)
        assert events[-1].code == "702", (kind, data)
        assert audio_samples(events) > 0, (kind, data)
    module.command("SET", SET_DEFAULTS)
    replies = module.command("CHAR", ["a", "b"])
    assert replies[1].lines[-1] == b"305 DATA MORE THAN ONE LINE"


def test_typed_characters_are_warmed_into_the_audio_cache(module, endpoint):
    """After a CHAR, the idle module has the daemon say the other letters and digits, then the key
    names, into its audio cache at the same settings, so the next typed character or key is
    replayed, not synthesized."""
    typing = ["rate=13", "volume=-10"]                 # settings no other test uses: nothing cached yet
    with Client(endpoint) as client:
        before = client.status()["audio_cache"]
        check_message(speak(module, "CHAR", "k", typing))
        busy_until = time.monotonic() + 3       # warming replies that arrive while the module waits for
        while time.monotonic() < busy_until:     # another answer (LIST VOICES) must not stall it
            assert module.command("LIST VOICES")[0].lines[-1] == b"200 OK VOICE LIST SENT"
        deadline = time.monotonic() + 180
        while client.status()["audio_cache"]["entries"] < before["entries"] + len("abcdefghijklmnopqrstuvwxyz0123456789"):
            assert time.monotonic() < deadline, (client.status()["audio_cache"], module.stderr()[-2000:])
            time.sleep(0.5)
        warmed = client.status()["audio_cache"]
        events = speak(module, "CHAR", "q", typing)
        after = client.status()["audio_cache"]
        check_message(events)
        assert audio_samples(events) > 0
        assert after["hits"] == warmed["hits"] + 1 and after["misses"] == warmed["misses"]
        everything = len("abcdefghijklmnopqrstuvwxyz0123456789") + len(set(KEY_NAMES.values()))
        while client.status()["audio_cache"]["entries"] < before["entries"] + everything:
            assert time.monotonic() < deadline, (client.status()["audio_cache"], module.stderr()[-2000:])
            time.sleep(0.5)
        warmed = client.status()["audio_cache"]
        events = speak(module, "KEY", "page-down", typing)
        after = client.status()["audio_cache"]
    check_message(events)
    assert audio_samples(events) > 0
    assert after["hits"] == warmed["hits"] + 1 and after["misses"] == warmed["misses"]


def test_rate_and_spelling_change_the_audio(module):
    text = "<speak>Rate changes the length of this sentence.</speak>"
    slow = audio_samples(speak(module, "SPEAK", text, ["rate=-50"]))
    fast = audio_samples(speak(module, "SPEAK", text, ["rate=50"]))
    assert slow > fast * 2
    plain = audio_samples(speak(module, "SPEAK", "<speak>abc</speak>"))
    spelled = audio_samples(speak(module, "SPEAK", "<speak>abc</speak>", ["spelling_mode=on"]))
    assert spelled > plain
    quiet = speak(module, "SPEAK", "<speak>Quiet.</speak>", ["volume=-100"])
    assert not any(any(e.pcm) for e in quiet if e.code == "705")


@pytest.mark.parametrize("command, terminal", [("STOP", "703"), ("PAUSE", "704")])
def test_stop_and_pause_during_long_text(module, command, terminal):
    module.command("SET", SET_DEFAULTS)
    replies = module.command("SPEAK", [f"<speak>{LONG_TEXT}</speak>"])
    assert replies[1].lines[-1] == b"200 OK SPEAKING"
    assert module.read().code == "701"
    first = module.read()
    assert first.code == "705"
    module.write(command + "\n")
    events = [module.read()]
    while events[-1].code == "705":
        events.append(module.read())
    assert events[-1].code == terminal, [e.code for e in events]
    # Nothing after the terminal event; the module still answers commands.
    assert module.command("LIST VOICES")[0].lines[-1] == b"200 OK VOICE LIST SENT"
    assert module.buffer == b""
    # The daemon's requests for this message were cancelled: a new message speaks normally.
    events = speak(module, "SPEAK", "<speak>After the stop.</speak>")
    check_message(events)
    assert events[-1].code == "702"


def test_eof_exits(module):
    module.process.stdin.close()
    assert module.process.wait(10) == 0


def test_init_fails_cleanly_without_daemon_when_autostart_off(tmp_path):
    config = tmp_path / "off.conf"
    config.write_text(f'TtsdEndpoint "ipc://{tmp_path}/nobody.sock"\nTtsdAutostart 0\n')
    process = subprocess.Popen([sys.executable, "-m", "ipc.speechd_module", str(config)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out, _ = process.communicate(b"INIT\n", timeout=30)
    lines = out.decode().splitlines()
    assert lines[0].startswith("399-") and lines[-1] == "399 ERR CANT INIT MODULE"


def stop_daemon_in(runtime: Path) -> None:
    """Stop the daemon holding the runtime dir's lock (whichever the module started last), and
    remove the shared memory a SIGKILLed one left behind."""
    lock = runtime / "ttsd.lock"
    pid = int(lock.read_text() or 0) if lock.exists() else 0
    if pid and Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
    remove_segments_left_by(runtime)


def test_init_starts_a_daemon(tmp_path, data_dir, joe_voice, monkeypatch):
    """No daemon at the endpoint: INIT starts one (detached) and waits until it is ready."""
    runtime = tmp_path / "auto"
    endpoint = f"ipc://{runtime / 'ttsd.sock'}"
    monkeypatch.setenv("TTSD_DATA_DIR", str(data_dir))
    module = start_module(tmp_path, endpoint, "auto")
    pid = None
    try:
        init = module.command("INIT")[0]
        assert init.lines[-1] == b"299 OK LOADED SUCCESSFULLY", (init.lines, module.stderr())
        assert b"started ttsd" in init.lines[0]
        with Client(endpoint) as client:
            pid = client.status()["pid"]
        module.command("AUDIO", ["audio_output_method=server"])
        events = speak(module, "SPEAK", "<speak>Started on demand.</speak>")
        check_message(events)
        assert audio_samples(events) > 0
        assert (runtime / "ttsd-autostart.log").exists()
        # The daemon it started dies in the middle of a message: the message ends at once with the
        # audio already there, and the module starts a new daemon that speaks the next message.
        module.command("SET", SET_DEFAULTS)
        assert module.command("SPEAK", [LONG_TEXT])[1].lines[-1] == b"200 OK SPEAKING"
        while module.read().code != "705":
            pass
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        rest = module.until_end()
        assert rest[-1].code == "702" and time.monotonic() - killed_at < 5, [e.code for e in rest]
        events = speak(module, "SPEAK", "<speak>Speaking again after the crash.</speak>")
        check_message(events)
        assert audio_samples(events) > 0, module.stderr()[-2000:]
        assert "went away; starting a new one" in module.stderr()
        with Client(endpoint) as client:
            new_pid = client.status()["pid"]
        assert new_pid != pid
    finally:
        module.process.kill()
        module.process.wait(10)
        stop_daemon_in(runtime)
