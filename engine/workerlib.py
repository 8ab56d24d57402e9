"""What every worker process shares: start-up, the control socket, heartbeats, dying with the parent.

Paranoid Pirate: heartbeats on their own clock, the poll timeout is the heartbeat interval, and a
worker that hears nothing from the supervisor for too long exits (the supervisor restarts it).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import zmq

from engine.config import WorkerConfig
from ipc import messages
from models.manifest import Manifest

PR_SET_PDEATHSIG = 1
MAX_REMEMBERED_CANCELS = 4096   # cancelled job ids a worker remembers to drop late work
AUDIO_POLL_SECONDS = 0.001


def die_with_parent() -> None:
    """Ask Linux to SIGKILL us when the supervisor dies, so no worker is ever orphaned."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def start_worker(argv: list[str]) -> WorkerConfig:
    """Common process set-up; returns the config named on the command line."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C goes to the supervisor, which stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if len(argv) != 2:
        sys.exit(f"usage: {argv[0]} WORKER_CONFIG.json (workers are started by `ttsd serve`)")
    return WorkerConfig.load(argv[1])


def log(worker: str, text: str) -> None:
    print(f"ttsd[{worker}:{os.getpid()}]: {text}", file=sys.stderr, flush=True)


@dataclass
class ControlChannel:
    """The worker's DEALER socket to the supervisor, with its heartbeat clocks."""

    config: WorkerConfig
    context: zmq.Context
    socket: zmq.Socket = None
    next_heartbeat: float = 0.0
    supervisor_seen: float = 0.0
    cancelled: deque = field(default_factory=lambda: deque(maxlen=MAX_REMEMBERED_CANCELS))

    def __post_init__(self):
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.IDENTITY, self.config.name.encode())
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(self.config.control_endpoint)
        self.supervisor_seen = time.monotonic()

    def send(self, msg, payload: bytes | None = None) -> None:
        if payload is None:
            self.socket.send(messages.encode(msg))
        else:
            self.socket.send_multipart([messages.encode(msg), payload], copy=False)

    def receive_all(self) -> list:
        """Every message waiting now (non-blocking), decoded; supervisor liveness is refreshed and
        cancelled jobs are remembered in self.cancelled (Cancel messages are still returned)."""
        received = []
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return received
            self.supervisor_seen = time.monotonic()
            msg = messages.decode(frames[0])
            if isinstance(msg, messages.Cancel):
                self.cancelled.extend(msg.jobs)
            if not isinstance(msg, messages.Heartbeat):
                received.append(msg)

    def tick(self) -> None:
        """Send our heartbeat when due; exit if the supervisor has gone quiet."""
        now = time.monotonic()
        if now >= self.next_heartbeat:
            self.send(messages.Heartbeat(worker=self.config.name))
            self.next_heartbeat = now + self.config.heartbeat_interval
        if now - self.supervisor_seen > self.config.supervisor_timeout:
            log(self.config.name, "supervisor silent; exiting")
            sys.exit(3)


def load_voices(config: WorkerConfig, load: Callable[[Path, Manifest], object]) -> tuple[dict[int, object], dict[str, str]]:
    """Load (and warm up) each voice's model with `load`; one broken voice must not silence the others.

    Returns models by voice index and failure reasons by voice name."""
    models: dict[int, object] = {}
    failed: dict[str, str] = {}
    for index, voice in enumerate(config.voices):
        try:
            models[index] = load(Path(voice.path), Manifest.load(Path(voice.path), voice.manifest_sha256))
        except Exception as error:
            failed[voice.name] = f"{type(error).__name__}: {error}"
            log(config.name, f"voice {voice.name} failed to load: {error}")
    return models, failed


def announce_ready(control: "ControlChannel", models: dict[int, object], failed: dict[str, str],
                   degraded: dict[str, str] | None = None) -> None:
    config = control.config
    control.send(messages.Ready(worker=config.name, pid=os.getpid(), voices=[config.voices[i].name for i in models],
                                failed_voices=failed, degraded_voices=degraded or {}))


def make_bell_pull(context: zmq.Context, endpoint: str) -> zmq.Socket:
    socket = context.socket(zmq.PULL)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind(endpoint)
    return socket


def make_bell_push(context: zmq.Context, endpoint: str) -> zmq.Socket:
    socket = context.socket(zmq.PUSH)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SNDHWM, 4)
    socket.connect(endpoint)
    return socket


def ring(bell: zmq.Socket) -> None:
    """Wake the next stage; when its doorbell is already full it is awake anyway."""
    try:
        bell.send(b"", zmq.NOBLOCK)
    except zmq.Again:
        pass


def drain(bell: zmq.Socket) -> None:
    while True:
        try:
            bell.recv(zmq.NOBLOCK)
        except zmq.Again:
            return


def wait_for_audio(pcm_ring, written_before: int, seconds: float, stop_waiting: Callable[[], bool],
                   poll_seconds: float = AUDIO_POLL_SECONDS) -> None:
    """Sleep until the PCM ring moves past written_before (audio is out), stop_waiting() says so or
    `seconds` pass: a stage steps aside so the first audio of a message has both cores."""
    deadline = time.monotonic() + seconds
    while pcm_ring.write_pos == written_before and time.monotonic() < deadline and not stop_waiting():
        time.sleep(poll_seconds)
