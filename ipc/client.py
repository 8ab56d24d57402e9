"""The Python client library: talk to a running ttsd over its ZeroMQ endpoint.

    client = Client()                         # TTSD_ENDPOINT or the user's default socket
    for chunk in client.speak("Hello."):      # streamed int16 PCM as it is synthesized
        ...
"""

from __future__ import annotations

import json
import time
import uuid
import wave
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import zmq
from zmq.utils.monitor import recv_monitor_message

from ipc.curve import ENV_CLIENT_SECRET, ENV_SERVER_PUBLIC, ClientCurve, CurveError
from models.paths import default_endpoint

DEFAULT_TIMEOUT = 30.0     # seconds without any message from the daemon before giving up
# A stream starts at the first sound (the daemon cuts the voice's leading silence: heard latency).
# A file is not live: it gets the short silence players and speech recognizers expect before
# speech (Whisper tiny.en, 52 sentences x 3: WER 2.7 % starting at the first sound, 1.3 % with this).
FILE_LEAD_IN_SECONDS = 0.1
# Connection events that end a wait at once, with the reason (instead of waiting out the timeout).
CONNECTION_EVENTS = (zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED
                     | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                     | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)


class DaemonUnavailable(ConnectionError):
    """No daemon answers at the endpoint."""


class RequestFailed(RuntimeError):
    """The daemon refused or failed the request; `errno` and `reason` say why."""

    def __init__(self, reply: dict):
        super().__init__(reply.get("reason", "request failed"))
        self.reply = reply
        self.errno = reply.get("errno")
        self.reason = reply.get("reason", "")
        self.cancelled = reply.get("event") == "cancelled"


@dataclass
class AudioChunk:
    pcm: bytes              # little-endian int16 mono
    sample_rate: int
    seq: int


@dataclass
class SpeechResult:
    pcm: bytes = b""
    sample_rate: int = 0
    voice: str = ""
    request_sent: float = 0.0
    first_audio: float | None = None
    finished: float = 0.0
    chunks: int = 0
    played_seconds: float = 0.0          # output="play": audio the device played
    events: list[dict] = field(default_factory=list)

    @property
    def audio_seconds(self) -> float:
        if not self.pcm:
            return self.played_seconds
        return len(self.pcm) / 2 / self.sample_rate if self.sample_rate else 0.0

    def write_wav(self, path: Path | str) -> None:
        """The speech as a 16-bit mono WAV file, after FILE_LEAD_IN_SECONDS of silence."""
        lead_in = bytes(2 * int(FILE_LEAD_IN_SECONDS * self.sample_rate))
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate)
            out.writeframes(lead_in + self.pcm)

    def stats(self) -> dict:
        ttfa = None if self.first_audio is None else round(1000 * (self.first_audio - self.request_sent), 1)
        return {"ttfa_ms": ttfa, "total_ms": round(1000 * (self.finished - self.request_sent), 1),
                "audio_s": round(self.audio_seconds, 3), "voice": self.voice, "chunks": self.chunks,
                "sample_rate": self.sample_rate}


class Client:
    def __init__(self, endpoint: str | None = None, timeout: float = DEFAULT_TIMEOUT, curve: ClientCurve | None = None):
        self.endpoint = endpoint or default_endpoint()
        self.timeout = timeout
        if self.endpoint.startswith("ipc://") and not Path(self.endpoint[len("ipc://"):]).exists():
            raise DaemonUnavailable(f"no ttsd daemon at {self.endpoint} (socket file missing); "
                                    "start one with `ttsd serve` or pass --endpoint")
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        if self.endpoint.startswith("tcp://"):
            curve = curve or ClientCurve.from_environment()
            if curve is None:
                raise DaemonUnavailable(f"{self.endpoint} is TCP: ttsd requires CURVE there; set "
                                        f"{ENV_CLIENT_SECRET} and {ENV_SERVER_PUBLIC} (see `ttsd keys curve-generate`)")
            try:
                curve.apply(self.socket)
            except CurveError as error:
                raise DaemonUnavailable(str(error)) from None
        self.monitor = self.socket.get_monitor_socket(CONNECTION_EVENTS)
        self.connected = False
        self.poller = zmq.Poller()       # replies and connection events, made once: receive() runs per chunk
        self.poller.register(self.socket, zmq.POLLIN)
        self.poller.register(self.monitor, zmq.POLLIN)
        self.socket.connect(self.endpoint)
        self.mailbox: dict[str, deque] = {}   # replies that arrived for another of our requests

    def close(self) -> None:
        self.socket.disable_monitor()
        self.monitor.close(0)
        self.socket.close(0)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- low level --------------------------------------------------------------------------

    def send(self, message: dict) -> None:
        self.socket.send(json.dumps(message).encode("utf-8"))

    def receive(self, timeout: float | None = None) -> tuple[dict, bytes | None]:
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not self.socket.poll(0):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DaemonUnavailable(f"ttsd at {self.endpoint} did not answer within {timeout:.0f} s; "
                                        "is the daemon running (`ttsd status`)?")
            self.poller.poll(int(remaining * 1000) + 1)
            self.check_connection()
        frames = self.socket.recv_multipart()
        return json.loads(frames[0]), (frames[1] if len(frames) > 1 else None)

    def check_connection(self) -> None:
        """Raise DaemonUnavailable for a connection event that means no answer will come: the daemon
        went away (exited or crashed), refused the connection (nothing listens), or the CURVE
        handshake failed (a wrong server key, or this client's key is not trusted)."""
        while True:
            try:
                event = recv_monitor_message(self.monitor, zmq.NOBLOCK)["event"]
            except zmq.Again:
                return
            if event == zmq.EVENT_CONNECTED:
                self.connected = True
            elif event == zmq.EVENT_DISCONNECTED and self.connected:
                raise DaemonUnavailable(f"ttsd at {self.endpoint} went away (the daemon exited or crashed) "
                                        "before answering; see `ttsd status` or its log")
            elif event == zmq.EVENT_CONNECT_RETRIED and not self.connected:
                raise DaemonUnavailable(f"no ttsd daemon listens at {self.endpoint} (connection refused); "
                                        "start one with `ttsd serve` or pass --endpoint")
            elif event in (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                           zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
                raise DaemonUnavailable(f"the CURVE handshake with {self.endpoint} failed: check the server's "
                                        f"public key ({ENV_SERVER_PUBLIC}) and that the daemon trusts this "
                                        "client's key (`ttsd keys curve-trust`)")

    def receive_for(self, request_id: str) -> tuple[dict, bytes | None]:
        """Next reply for this request; replies for our other requests wait in the mailbox."""
        waiting = self.mailbox.get(request_id)
        if waiting:
            return waiting.popleft()
        while True:
            reply, payload = self.receive()
            owner = reply.get("id", "")
            if owner in (request_id, ""):
                return reply, payload
            self.mailbox.setdefault(owner, deque()).append((reply, payload))

    def call(self, message: dict) -> dict:
        """One request, one reply; raises RequestFailed on an error reply."""
        message.setdefault("id", uuid.uuid4().hex[:12])
        self.send(message)
        reply, _ = self.receive_for(message["id"])
        if reply.get("status") != "ok":
            raise RequestFailed(reply)
        return reply

    # ---- API --------------------------------------------------------------------------------

    def status(self) -> dict:
        return self.call({"type": "status"})

    def voices(self) -> list[dict]:
        return self.call({"type": "voices"})["voices"]

    def stop(self, request_id: str = "", everyone: bool = False) -> list[str]:
        """Cancel this client's requests (or one by id); everyone=True cancels all clients' requests."""
        return self.call({"type": "stop", "id": request_id, "all": everyone})["cancelled"]

    def pause(self, request_id: str = "", everyone: bool = False) -> list[str]:
        """Pause this client's requests (or one by id, or with everyone=True all clients'): output stops
        at once; resume() continues from the clause after the one that was cut off."""
        return self.call({"type": "pause", "id": request_id, "all": everyone})["paused"]

    def resume(self, request_id: str = "", everyone: bool = False) -> list[str]:
        return self.call({"type": "resume", "id": request_id, "all": everyone})["resumed"]

    def wait_ready(self, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status["state"] == "ready":
                return status
            if time.monotonic() > deadline:
                raise DaemonUnavailable(f"ttsd did not become ready within {timeout:.0f} s: {status}")
            time.sleep(0.1)

    def speak_events(self, text: str, voice: str | None = None, rate: float | None = None,
                     volume: float | None = None, request_id: str | None = None,
                     priority: str | None = None, output: str | None = None, lang: str | None = None,
                     vocoder: str | None = None) -> Iterator[tuple[dict, bytes | None]]:
        """Send a speak request and yield every (event, payload) for it until it ends."""
        request = {"type": "speak", "id": request_id or uuid.uuid4().hex[:12], "text": text}
        for key, value in (("voice", voice), ("rate", rate), ("volume", volume), ("priority", priority),
                           ("output", output), ("lang", lang), ("vocoder", vocoder)):
            if value is not None:
                request[key] = value
        self.send(request)
        try:
            while True:
                reply, payload = self.receive_for(request["id"])
                if reply.get("status") != "ok":
                    raise RequestFailed(reply)
                yield reply, payload
                if reply.get("event") == "done":
                    return
        finally:
            self.mailbox.pop(request["id"], None)

    def speak(self, text: str, **options) -> Iterator[AudioChunk]:
        for event, payload in self.speak_events(text, **options):
            if event.get("event") == "audio":
                yield AudioChunk(pcm=payload or b"", sample_rate=event["sample_rate"], seq=event["seq"])

    def synthesize(self, text: str, on_chunk=None, **options) -> SpeechResult:
        """Speak and collect the whole result, with timings for --stats and benchmarks."""
        result = SpeechResult(request_sent=time.monotonic())
        pieces = []
        for event, payload in self.speak_events(text, **options):
            kind = event.get("event")
            if kind == "queued":
                result.voice = event.get("voice", "")
            elif kind == "audio":
                if result.first_audio is None:
                    result.first_audio = time.monotonic()
                result.sample_rate = event["sample_rate"]
                result.chunks += 1
                pieces.append(payload or b"")
                if on_chunk is not None:
                    on_chunk(payload or b"", event["sample_rate"])
            elif kind == "playing" and result.first_audio is None:
                result.first_audio = time.monotonic()     # output="play": first sample at the device
            elif kind == "done":
                result.voice = event.get("voice", result.voice)
                if not pieces:
                    result.played_seconds = event.get("audio_s", 0.0)
        result.finished = time.monotonic()
        result.pcm = b"".join(pieces)
        return result
