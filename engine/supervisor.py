"""The supervisor (circus's arbiter): owns the client socket, the jobs, the workers and the rings.

One loop that never blocks: poll the client and worker sockets with the heartbeat interval as
timeout, handle what arrived, then reconcile on a tick (restart dead or hung workers with
exponential backoff, send heartbeats, dispatch queued work).
"""

from __future__ import annotations

import errno as errno_codes
import fcntl
import grp
import hashlib
import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from engine import notify
from engine.audio_cache import AudioCache, CachedChunk, cache_key
from engine.config import WORKER_NAMES, DaemonConfig, VoiceRef, WorkerConfig
from engine.integrity import IntegrityChecker
from engine.interrupt import publish_cancel
from engine.jobs import PRIORITY_RANK, Job, JobTable
from frontends.language import detect_language
from ipc import messages
from ipc.curve import make_server_socket, start_authenticator
from ipc.ring import VOCODERS, Ring, unlink_segments_with_prefix
from models.installed import ENGLISH_G2P_NAME, InstalledVoice, english_g2p_data_dir, installed_voices
from models.manifest import MANIFEST_NAME, Manifest, ManifestError
from models.signing import SignatureError, load_trusted_keys, trust_dirs, verify_manifest

SHUTDOWN_GRACE = 3.0
MAX_ACOUSTIC_IN_FLIGHT = 2      # clauses queued at the acoustic stage: keeps it busy, keeps cancel quick
LOCAL, TCP = b"local", b"tcp"   # first envelope frame: which client socket a request came in on
MAX_ATTEMPTS = 2                # a request whose worker died is continued once, then answered with an error
# Workers' malloc heap in transparent huge pages (glibc >= 2.35 madvises it; nothing changes where THP
# is "never"): a first clause streams ~60 MB of weights, far beyond the 8 MB L3, and with 4 KiB pages
# every few KB cost a TLB miss. Sentence TTFA 66.2/66.6/63.7 ms against 68.4/68.2/67.0 in paired runs.
WORKER_GLIBC_TUNABLE = "glibc.malloc.hugetlb=1"
CLIENT_SNDHWM = 100_000         # PCM chunks buffered for a slow client before ZeroMQ drops
# Control characters in speak text: tab, newline and carriage return stay; other whitespace controls
# (VT, FF, FS..US, NEL) become spaces; every other C0/C1 control and DEL (NUL, BEL, ESC...) is dropped.
_TEXT_CONTROLS = {code: (" " if chr(code).isspace() else None)
                  for code in [*range(0x20), *range(0x7F, 0xA0)] if chr(code) not in "\t\n\r"}


class StartupError(RuntimeError):
    """The daemon cannot start (another instance runs, no voices, bad directories)."""


@dataclass
class WorkerProcess:
    """One stage's OS process and what the supervisor knows about it."""
    name: str
    config_path: Path
    process: subprocess.Popen | None = None
    state: str = "stopped"          # starting, ready, backoff, stopped
    restarts: int = 0
    runs_stopped: int = 0        # model runs cut short by a cancel (engine/interrupt.py)
    started_at: float = 0.0
    last_seen: float = 0.0
    backoff: float = 1.0
    next_start: float = 0.0
    voices: list[str] = field(default_factory=list)
    failed_voices: dict[str, str] = field(default_factory=dict)
    degraded_voices: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None


def worker_environment() -> dict[str, str]:
    """Our environment plus WORKER_GLIBC_TUNABLE, unless the user set that tunable themselves."""
    env = dict(os.environ)
    tunables = env.get("GLIBC_TUNABLES", "")
    if WORKER_GLIBC_TUNABLE.split("=")[0] not in tunables:
        env["GLIBC_TUNABLES"] = f"{tunables}:{WORKER_GLIBC_TUNABLE}" if tunables else WORKER_GLIBC_TUNABLE
    return env


class Supervisor:
    def __init__(self, config: DaemonConfig):
        self.config = config
        self.context = zmq.Context()
        self.voices: list[VoiceRef] = []
        self.manifests: dict[str, Manifest] = {}
        self.workers: dict[str, WorkerProcess] = {}
        self.rings: list[Ring] = []
        self.jobs = JobTable()
        self.acoustic_in_flight: list[tuple[int, int]] = []
        self.stopping = False
        self.ready_announced = False
        self.lock_handle = None
        self.clients: zmq.Socket | None = None
        self.client_sockets: dict[bytes, zmq.Socket] = {}
        self.authenticator = None
        self.socket_gid: int | None = None
        self.control: zmq.Socket | None = None
        self.interrupts: zmq.Socket | None = None     # PUB: cancels, so workers stop model runs at once
        self.started_at = time.time()
        self.last_silenced_at: float | None = None     # CLOCK_MONOTONIC of the last device abort
        self.quarantined: dict[str, dict] = {}         # voice -> {"reason", "since"}
        self.degraded: dict[str, dict] = {}            # mel voice whose vocoder file failed -> {"reason", "since"}
        self.integrity: IntegrityChecker | None = None
        self.refused: dict[str, str] = {}              # voice -> why its signature check failed at start
        self.english_g2p: VoiceRef | None = None       # the G2P data English voices use, verified at start
        self.english_g2p_manifest: Manifest | None = None
        self.english_g2p_problem: dict | None = None   # {"reason", "since"}: its files changed since
        self.audio_cache = AudioCache(max_bytes=int(config.audio_cache_mb * (1 << 20)))

    # ---- start and stop -------------------------------------------------------------------

    def start(self) -> None:
        runtime = self.config.runtime_dir
        runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.socket_gid = self._socket_gid()
        # Only we (user mode), or we and the socket group (system mode), may enter the directory.
        os.chmod(runtime, 0o750 if self.socket_gid is not None else 0o700)
        if self.socket_gid is not None:
            os.chown(runtime, -1, self.socket_gid)
        self._take_lock()
        for stale in unlink_segments_with_prefix(self.config.segment_prefix):
            print(f"ttsd: removed stale shared-memory segment {stale} of a previous run", file=sys.stderr)
        installed = installed_voices(self.config.data_dir)
        if not installed:
            raise StartupError(f"no voices installed in {self.config.data_dir}; "
                               "run `ttsd voices install en_US-joe-medium` first")
        accepted = self._check_english_g2p(self._check_signatures(installed))
        self.voices = [VoiceRef(name=v.name, path=str(v.path), manifest_sha256=digest) for v, digest in accepted]
        self.manifests = {v.name: v.manifest for v, _digest in accepted}
        if not self.voices:
            raise StartupError("no voice passed the signature check: " + "; ".join(self.refused.values())
                               + f" (trusted keys are read from {', '.join(map(str, trust_dirs(self.config.system)))})")
        prefix = self.config.segment_prefix
        frames = Ring.create(prefix + "frames", self.config.frames_ring_bytes)
        pcm = Ring.create(prefix + "pcm", self.config.pcm_ring_bytes)
        self.rings = [frames, pcm]
        self.control = self._bind(zmq.ROUTER, self.config.control_endpoint)
        self.control.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self.control.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.clients = self._bind(zmq.ROUTER, self.config.endpoint)
        self.clients.setsockopt(zmq.SNDHWM, CLIENT_SNDHWM)
        self.clients.setsockopt(zmq.ROUTER_MANDATORY, 1)   # a send to a gone client fails: _send_client
        self.client_sockets = {LOCAL: self.clients}
        if self.config.tcp_endpoint:
            self.authenticator = start_authenticator(self.context, self.config.system)
            tcp, public_file = make_server_socket(self.context, self.config.tcp_endpoint, self.config.data_dir)
            tcp.setsockopt(zmq.SNDHWM, CLIENT_SNDHWM)
            tcp.setsockopt(zmq.ROUTER_MANDATORY, 1)
            self.client_sockets[TCP] = tcp
            print(f"ttsd: also listening on {self.config.tcp_endpoint} (CURVE; clients need {public_file} and a "
                  "key pair whose public half is in the trust store: `ttsd keys curve-trust`)", file=sys.stderr)
        self._restrict_socket(self.config.endpoint)
        self.interrupts = self._bind(zmq.PUB, self.config.interrupt_endpoint)
        for internal in (self.config.control_endpoint, self.config.interrupt_endpoint):
            self._private_socket(internal)
        stages = {"frontend": ("", ""), "acoustic": ("", "vocoder"), "vocoder": ("vocoder", "sink"),
                  "sink": ("sink", "")}
        for name in WORKER_NAMES:
            own, following = stages[name]
            worker_config = WorkerConfig(
                name=name,
                control_endpoint=self.config.control_endpoint,
                bell_endpoint=self.config.bell_endpoint(own) if own else "",
                next_bell_endpoint=self.config.bell_endpoint(following) if following else "",
                interrupt_endpoint=self.config.interrupt_endpoint if name in ("acoustic", "vocoder") else "",
                frames_ring=frames.name,
                pcm_ring=pcm.name,
                voices=self.voices,
                g2p_data_dir=str(english_g2p_data_dir(self.config.data_dir)),
                g2p_manifest_sha256=self.english_g2p.manifest_sha256 if self.english_g2p else "",
                onnx_threads=self.config.vocoder_threads if name == "vocoder" else self.config.onnx_threads,
                output_gain=self.config.output_gain,
                device=self.config.device,
                heartbeat_interval=self.config.heartbeat_interval,
                supervisor_timeout=max(10.0, 5 * self.config.heartbeat_interval),
            )
            path = runtime / f"{name}.json"
            worker_config.save(path)
            self.workers[name] = WorkerProcess(name=name, config_path=path, backoff=self.config.backoff_start)
        for worker in self.workers.values():
            self._spawn(worker)
        watched, manifests = list(self.voices), dict(self.manifests)
        if self.english_g2p is not None:
            watched.append(self.english_g2p)
            manifests[ENGLISH_G2P_NAME] = self.english_g2p_manifest
        self.integrity = IntegrityChecker(watched, manifests, self.config.integrity_interval)
        self.integrity.start()
        notify.send("STATUS=loading voices")

    def _check_signatures(self, installed: list) -> list[tuple[InstalledVoice, str]]:
        """Voices whose manifest is signed by a trusted key, each with the sha256 of the manifest bytes
        checked: workers load only that manifest, so weights swapped in later (with a rewritten
        manifest) never load, not even into a restarted worker. The others are refused (or, with
        --allow-unsigned, loaded with a warning)."""
        trusted = load_trusted_keys(self.config.system)
        accepted = []
        for voice in installed:
            try:
                data = (voice.path / MANIFEST_NAME).read_bytes()
                checked = InstalledVoice(voice.name, voice.path, Manifest.parse(data, voice.path / MANIFEST_NAME))
            except (OSError, ManifestError) as error:
                self.refused[voice.name] = f"cannot read its manifest: {error}"
                print(f"ttsd: REFUSED voice {voice.name}: {self.refused[voice.name]}", file=sys.stderr, flush=True)
                continue
            try:
                verify_manifest(voice.path, trusted, manifest=data)
            except SignatureError as error:
                if self.config.allow_unsigned:
                    print(f"ttsd: WARNING: --allow-unsigned: loading voice {voice.name} although its signature "
                          f"check failed: {error}", file=sys.stderr, flush=True)
                else:
                    self.refused[voice.name] = str(error)
                    print(f"ttsd: REFUSED voice {voice.name}: {error}", file=sys.stderr, flush=True)
                    continue
            accepted.append((checked, hashlib.sha256(data).hexdigest()))
        return accepted

    def _check_english_g2p(self, accepted: list[tuple[InstalledVoice, str]]) -> list[tuple[InstalledVoice, str]]:
        """English voices pronounce through the G2P data (tagger weights, CMU dictionary): its manifest
        must be signed by a trusted key like a voice's, or the English voices are refused. The
        front-end checks the files against that manifest when it loads them."""
        english = [voice.name for voice, _digest in accepted if voice.manifest.language.startswith("en")]
        if not english:
            return accepted
        g2p_dir = english_g2p_data_dir(self.config.data_dir)
        try:
            data = (g2p_dir / MANIFEST_NAME).read_bytes()
            manifest = Manifest.parse(data, g2p_dir / MANIFEST_NAME)
            try:
                verify_manifest(g2p_dir, load_trusted_keys(self.config.system), manifest=data)
            except SignatureError as error:
                if not self.config.allow_unsigned:
                    raise
                print(f"ttsd: WARNING: --allow-unsigned: using the English G2P data although its signature check "
                      f"failed: {error}", file=sys.stderr, flush=True)
        except (OSError, ManifestError, SignatureError) as error:
            detail = error.strerror if isinstance(error, OSError) and error.strerror else error
            reason = (f"the English G2P data in {g2p_dir} cannot be trusted ({detail}); restore it with "
                      f"`ttsd voices install {english[0]}`")
            for name in english:
                self.refused[name] = reason
                print(f"ttsd: REFUSED voice {name}: {reason}", file=sys.stderr, flush=True)
            return [(voice, digest) for voice, digest in accepted if voice.name not in english]
        self.english_g2p = VoiceRef(name=ENGLISH_G2P_NAME, path=str(g2p_dir),
                                    manifest_sha256=hashlib.sha256(data).hexdigest())
        self.english_g2p_manifest = manifest
        return accepted

    def _take_lock(self) -> None:
        path = self.config.runtime_dir / "ttsd.lock"
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            other = handle.read().strip() or "unknown"
            handle.close()
            raise StartupError(f"another ttsd (pid {other}) is running with runtime dir {self.config.runtime_dir}; "
                               "stop it or pass a different --runtime-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.lock_handle = handle

    def _bind(self, kind: int, endpoint: str) -> zmq.Socket:
        if endpoint.startswith("ipc://"):
            Path(endpoint[len("ipc://"):]).unlink(missing_ok=True)
        socket = self.context.socket(kind)
        socket.setsockopt(zmq.LINGER, 0)
        socket.bind(endpoint)
        return socket

    def _restrict_socket(self, endpoint: str) -> None:
        if endpoint.startswith("ipc://"):
            os.chmod(endpoint[len("ipc://"):], 0o660)
            if self.socket_gid is not None:
                os.chown(endpoint[len("ipc://"):], -1, self.socket_gid)

    @staticmethod
    def _private_socket(endpoint: str) -> None:
        """Sockets between the supervisor and its workers: the daemon's user only, even in group mode."""
        if endpoint.startswith("ipc://"):
            os.chmod(endpoint[len("ipc://"):], 0o600)

    def _socket_gid(self) -> int | None:
        """The group that shares the socket: configured, or "ttsd" for a system daemon when it exists."""
        name = self.config.socket_group or ("ttsd" if self.config.system else "")
        if not name:
            return None
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            if self.config.socket_group:
                raise StartupError(f"socket group {name!r} does not exist; create it or change socket_group") from None
            print("ttsd: no group 'ttsd': the socket directory is private to this user (0700)", file=sys.stderr)
            return None

    def shutdown(self) -> None:
        """Stop the workers, then remove every segment and socket we created."""
        if self.lock_handle is None:  # we never owned the runtime dir: touch nothing in it
            self.context.term()
            return
        notify.send("STOPPING=1")
        if self.integrity is not None:
            self.integrity.stop()
        for worker in self.workers.values():
            self._send_worker(worker.name, messages.Shutdown(reason="daemon stopping"))
        deadline = time.monotonic() + SHUTDOWN_GRACE
        for worker in self.workers.values():
            if worker.process is None:
                continue
            try:
                worker.process.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        for ring in self.rings:
            ring.close()
            ring.unlink()
        unlink_segments_with_prefix(self.config.segment_prefix)
        if self.authenticator is not None:
            self.authenticator.stop()
        for socket in [*self.client_sockets.values(), self.control, self.interrupts]:
            if socket is not None:
                socket.close(0)
        self.context.term()
        for endpoint in [self.config.endpoint, self.config.control_endpoint, self.config.interrupt_endpoint] + \
                [self.config.bell_endpoint(n) for n in ("vocoder", "sink")]:
            if endpoint.startswith("ipc://"):
                Path(endpoint[len("ipc://"):]).unlink(missing_ok=True)
        for name in WORKER_NAMES:
            (self.config.runtime_dir / f"{name}.json").unlink(missing_ok=True)
        if self.lock_handle is not None:
            (self.config.runtime_dir / "ttsd.lock").unlink(missing_ok=True)
            self.lock_handle.close()

    # ---- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        poller = zmq.Poller()
        for socket in self.client_sockets.values():
            poller.register(socket, zmq.POLLIN)
        poller.register(self.control, zmq.POLLIN)
        interval = self.config.heartbeat_interval
        next_tick = 0.0
        while not self.stopping:
            timeout_ms = max(0, int((next_tick - time.monotonic()) * 1000))
            events = dict(poller.poll(min(timeout_ms, int(interval * 1000))))
            if self.control in events:
                self._drain_control()
            for tag, socket in self.client_sockets.items():
                if socket in events:
                    self._drain_clients(tag, socket)
            if time.monotonic() >= next_tick:
                self._tick()
                next_tick = time.monotonic() + interval

    def request_stop(self, *_args) -> None:
        self.stopping = True

    def _tick(self) -> None:
        now = time.monotonic()
        for worker in self.workers.values():
            self._reconcile(worker, now)
            if worker.state in ("starting", "ready"):
                self._send_worker(worker.name, messages.Heartbeat(worker="supervisor"))
        if self.all_ready() and not self.ready_announced:
            self.ready_announced = True
            print(f"ttsd: ready, {len(self.voices)} voice(s), listening on {self.config.endpoint}",
                  file=sys.stderr, flush=True)
            notify.send("READY=1", f"STATUS=ready: {len(self.voices)} voice(s)")
        if self.ready_announced:                    # systemd's watchdog runs once start-up is over
            notify.send("WATCHDOG=1")
        self.audio_cache.keep_only(set(self.jobs.active_ids()))
        self._apply_integrity_verdicts()
        self._dispatch()

    def _apply_integrity_verdicts(self) -> None:
        """Quarantine a voice whose files changed; lift it (reloading the models) once they verify again."""
        if self.integrity is None:
            return
        for verdict in self.integrity.results():
            if verdict.voice == ENGLISH_G2P_NAME:
                self._apply_english_g2p_verdict(verdict)
                continue
            if not verdict.ok or verdict.voice in self.degraded or verdict.voice in self.quarantined:
                self.audio_cache.forget_voice(verdict.voice)   # its files changed: replay nothing old
            if not verdict.ok and self._vocoder_only(verdict):
                if verdict.voice not in self.degraded:
                    self.degraded[verdict.voice] = {"reason": verdict.reason, "since": verdict.checked_at,
                                                    "vocoder": "griffin-lim"}
                    print(f"ttsd: voice {verdict.voice} speaks through Griffin-Lim: {verdict.reason}",
                          file=sys.stderr, flush=True)
            elif verdict.ok and verdict.voice in self.degraded:
                del self.degraded[verdict.voice]
                print(f"ttsd: voice {verdict.voice}'s vocoder verifies again; reloading it", file=sys.stderr, flush=True)
                self._restart_for_reload(self.workers["vocoder"])
            if not verdict.ok and not self._vocoder_only(verdict) and verdict.voice not in self.quarantined:
                self.quarantined[verdict.voice] = {"reason": verdict.reason, "since": verdict.checked_at}
                print(f"ttsd: quarantined voice {verdict.voice}: {verdict.reason}", file=sys.stderr, flush=True)
                for job in [j for j in self.jobs.all() if j.voice_name == verdict.voice]:
                    self._finish_with_error(job, messages.E_VOICE_UNAVAILABLE,
                                            f"voice {verdict.voice} was quarantined: {verdict.reason}")
            elif verdict.ok and verdict.voice in self.quarantined:
                del self.quarantined[verdict.voice]
                print(f"ttsd: voice {verdict.voice} verifies again; reloading its models", file=sys.stderr, flush=True)
                for name in ("acoustic", "vocoder"):
                    self._restart_for_reload(self.workers[name])

    def _apply_english_g2p_verdict(self, verdict) -> None:
        """The G2P data changed: every English voice is quarantined with it (a restarted front-end
        would load the changed files); lifted, with a fresh front-end, once it verifies again."""
        english = [v.name for v in self.voices if self.manifests[v.name].language.startswith("en")]
        if not verdict.ok and self.english_g2p_problem is None:
            self.english_g2p_problem = {"reason": f"English G2P data: {verdict.reason}", "since": verdict.checked_at}
            print(f"ttsd: quarantined voices {', '.join(english)}: {self.english_g2p_problem['reason']}",
                  file=sys.stderr, flush=True)
            for name in english:
                self.audio_cache.forget_voice(name)
            for job in [j for j in self.jobs.all() if j.voice_name in english]:
                self._finish_with_error(job, messages.E_VOICE_UNAVAILABLE,
                                        f"voice {job.voice_name} was quarantined: {self.english_g2p_problem['reason']}")
        elif verdict.ok and self.english_g2p_problem is not None:
            self.english_g2p_problem = None
            print("ttsd: the English G2P data verifies again; reloading the front-end", file=sys.stderr, flush=True)
            self._restart_for_reload(self.workers["frontend"])

    def quarantine_of(self, name: str) -> dict | None:
        """Why a voice is quarantined ({"reason", "since"}), or None: its own files changed, or, for an
        English voice, the G2P data did."""
        if name in self.quarantined:
            return self.quarantined[name]
        if self.english_g2p_problem is not None and self.manifests[name].language.startswith("en"):
            return self.english_g2p_problem
        return None

    def _vocoder_only(self, verdict) -> bool:
        """A mel voice with only its neural vocoder damaged still speaks, through Griffin-Lim."""
        return self.manifests[verdict.voice].kind == "mel" and verdict.bad_files == ("vocoder.onnx",)

    def _restart_for_reload(self, worker: WorkerProcess) -> None:
        if worker.process is not None and worker.process.poll() is None:
            self._send_worker(worker.name, messages.Shutdown(reason="reloading voices"))
            try:
                worker.process.wait(timeout=SHUTDOWN_GRACE)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        self._worker_lost(worker.name)
        self._spawn(worker)

    # ---- workers --------------------------------------------------------------------------

    def _spawn(self, worker: WorkerProcess) -> None:
        module = f"engine.worker_{worker.name}"
        worker.process = subprocess.Popen([sys.executable, "-m", module, str(worker.config_path)],
                                          stdin=subprocess.DEVNULL, close_fds=True, env=worker_environment())
        worker.state = "starting"
        worker.started_at = worker.last_seen = time.monotonic()

    def _reconcile(self, worker: WorkerProcess, now: float) -> None:
        """Desired state: every worker running and heard from; otherwise restart with backoff."""
        if worker.state == "backoff":
            if now >= worker.next_start:
                worker.restarts += 1
                self._spawn(worker)
            return
        alive = worker.process is not None and worker.process.poll() is None
        limit = self.config.startup_timeout if worker.state == "starting" else self.config.worker_timeout
        if alive and now - worker.last_seen > limit:
            print(f"ttsd: {worker.name} worker silent for {now - worker.last_seen:.0f} s; killing it",
                  file=sys.stderr, flush=True)
            worker.process.kill()
            worker.process.wait()
            alive = False
        if alive:
            if worker.state == "ready" and now - worker.started_at > self.config.stable_after:
                worker.backoff = self.config.backoff_start
            return
        code = worker.process.returncode if worker.process else None
        print(f"ttsd: {worker.name} worker exited (code {code}); restarting in {worker.backoff:.0f} s",
              file=sys.stderr, flush=True)
        self._worker_lost(worker.name)
        worker.state = "backoff"
        worker.next_start = now + worker.backoff
        worker.backoff = min(self.config.backoff_max, worker.backoff * 2)

    def _worker_lost(self, name: str) -> None:
        """Jobs that were in the pipeline are continued once, from the clause after the one heard last
        (new job ids, so the restarted pipeline drops any leftovers); a second loss is an error, never
        a hang."""
        lost = self.jobs.active_ids()
        for job in list(self.jobs.all()):
            if job.attempts >= MAX_ATTEMPTS:
                self._finish_with_error(job, messages.E_WORKER_FAILED,
                                        f"the {name} worker died twice while handling this request; try again")
                continue
            retry = self.jobs.continuation(job, job.resume_point(), job.attempts + 1)
            print(f"ttsd: {name} worker lost; retrying request {job.request_id[:40]!r} from clause "
                  f"{retry.skip_clauses}", file=sys.stderr, flush=True)
            if retry.output != "stream":
                self._send_worker("sink", messages.SinkJob(job=retry.id, output=retry.output))
        self.acoustic_in_flight.clear()
        if lost:
            self._broadcast(messages.Cancel(jobs=lost))

    def _send_worker(self, name: str, msg, payload: bytes | None = None) -> bool:
        frames = [name.encode(), messages.encode(msg)] + ([payload] if payload is not None else [])
        try:
            self.control.send_multipart(frames, zmq.NOBLOCK)
            return True
        except zmq.ZMQError as error:
            if error.errno in (errno_codes.EHOSTUNREACH, zmq.EAGAIN):
                return False
            raise

    def _broadcast(self, msg) -> None:
        if isinstance(msg, messages.Cancel) and self.interrupts is not None:
            publish_cancel(self.interrupts, msg.jobs)
        for name in self.workers:
            self._send_worker(name, msg)

    def all_ready(self) -> bool:
        return all(worker.state == "ready" for worker in self.workers.values())

    def _drain_control(self) -> None:
        while True:
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            name = frames[0].decode(errors="replace")
            worker = self.workers.get(name)
            if worker is None or len(frames) < 2:
                continue
            worker.last_seen = time.monotonic()
            try:
                msg = messages.decode(frames[1])
            except messages.MessageError as error:
                print(f"ttsd: bad message from {name}: {error}", file=sys.stderr)
                continue
            try:
                self._on_worker_message(worker, msg, frames[2] if len(frames) > 2 else None)
            except Exception:  # never let one odd worker message stop the supervisor
                traceback.print_exc()

    def _on_worker_message(self, worker: WorkerProcess, msg, payload: bytes | None) -> None:
        if isinstance(msg, messages.Ready):
            worker.state = "ready"
            worker.voices = msg.voices
            worker.failed_voices = msg.failed_voices
            worker.degraded_voices = msg.degraded_voices
            return
        if isinstance(msg, messages.Heartbeat):
            return
        if isinstance(msg, messages.RunStopped):
            worker.runs_stopped += 1
            return
        if isinstance(msg, messages.Silenced):
            self.last_silenced_at = msg.at
            return
        job = self.jobs.get(msg.job) if hasattr(msg, "job") else None
        if job is None:
            return
        if isinstance(msg, messages.ClauseReady):
            if msg.index >= job.skip_clauses:      # a continuation skips what was already heard
                job.clauses.append(msg.ids)
        elif isinstance(msg, messages.PhonemizeDone):
            job.phonemized = True
        elif isinstance(msg, messages.ClauseSynthesized):
            if (msg.job, msg.clause) in self.acoustic_in_flight:
                self.acoustic_in_flight.remove((msg.job, msg.clause))
            job.frames += msg.frames
        elif isinstance(msg, messages.Playing):
            job.heard_clause = max(job.heard_clause, job.skip_clauses + msg.clause)
            if not job.playing_reported:
                job.playing_reported = True
                self._reply(job, messages.reply_ok(job.request_id, event="playing"))
        elif isinstance(msg, messages.Audio):
            job.heard_clause = max(job.heard_clause, job.skip_clauses + msg.clause)
            self._forward_audio(job, msg, payload)
        elif isinstance(msg, messages.JobFinished):
            self.audio_cache.finish(job.id)
            self._reply(job, messages.reply_ok(job.request_id, event="done", samples=msg.samples,
                                               audio_s=round(msg.samples / max(1, job.sample_rate), 3),
                                               voice=job.voice_name))
            self.jobs.remove(job.id)
        elif isinstance(msg, messages.JobFailed):
            self._finish_with_error(job, msg.errno, msg.reason)
        self._dispatch()

    # ---- jobs -----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Move work along: new jobs to the frontend, ready clauses to the acoustic stage."""
        if self.workers["frontend"].state == "ready":
            for job in self.jobs.waiting_for_frontend():
                if self._send_worker("frontend", messages.Phonemize(job=job.id, voice=job.voice, text=job.text)):
                    job.sent_to_frontend = True
        if self.workers["acoustic"].state != "ready":
            return
        while len(self.acoustic_in_flight) < MAX_ACOUSTIC_IN_FLIGHT:
            job = self.jobs.next_with_clause()
            if job is None:
                break
            index = job.dispatched
            synth = messages.Synthesize(job=job.id, clause=index, voice=job.voice, ids=job.clauses[index],
                                        length_scale=job.length_scale, noise_scale=job.noise_scale,
                                        noise_w=job.noise_w, gain=job.gain, vocoder=job.vocoder)
            if not self._send_worker("acoustic", synth):
                break
            job.dispatched += 1
            self.acoustic_in_flight.append((job.id, index))
        for job in self.jobs.all():
            if job.phonemized and not job.end_sent and job.dispatched == len(job.clauses):
                if self._send_worker("acoustic", messages.EndJob(job=job.id, voice=job.voice)):
                    job.end_sent = True

    def _finish_with_error(self, job: Job, errno: int, reason: str) -> None:
        self._reply(job, messages.reply_error(job.request_id, errno, reason,
                                              event="cancelled" if errno == messages.E_CANCELLED else "failed"))
        self._drop_job(job)

    def _drop_job(self, job: Job) -> None:
        self.jobs.remove(job.id)
        self.audio_cache.discard(job.id)
        self.acoustic_in_flight = [entry for entry in self.acoustic_in_flight if entry[0] != job.id]
        self._broadcast(messages.Cancel(jobs=[job.id]))

    def _forward_audio(self, job: Job, msg: messages.Audio, payload: bytes | None) -> None:
        header = messages.reply_ok(job.request_id, event="audio", seq=msg.seq, sample_rate=msg.sample_rate,
                                   samples=msg.samples, clause=job.skip_clauses + msg.clause)
        self._send_client(job.envelope, [header, payload or b""])
        self.audio_cache.add(job.id, job.skip_clauses + msg.clause, msg.sample_rate, payload or b"")

    def _reply(self, job: Job, body: bytes) -> None:
        self._send_client(job.envelope, [body])

    def _send_client(self, envelope: list[bytes], frames: list[bytes]) -> None:
        try:
            self.client_sockets[envelope[0]].send_multipart(envelope[1:] + frames, zmq.NOBLOCK)
        except zmq.ZMQError as error:
            # EAGAIN: a slow client's buffer is full and this frame is lost (CLIENT_SNDHWM).
            if error.errno == errno_codes.EHOSTUNREACH:
                self._drop_jobs_of(envelope)

    def _drop_jobs_of(self, envelope: list[bytes]) -> None:
        """The client has disconnected: nobody is waiting for its jobs, and a long text left behind
        would keep the pipeline from everyone else's speech for minutes. No reply: it has nowhere
        to go."""
        gone = [job for job in self.jobs.all() + self.jobs.paused() if job.envelope == envelope]
        for job in gone:
            self._drop_job(job)
        if gone:
            print(f"ttsd: a client disconnected; dropped its {len(gone)} job(s)", file=sys.stderr, flush=True)

    # ---- clients --------------------------------------------------------------------------

    def _drain_clients(self, tag: bytes, socket: zmq.Socket) -> None:
        while True:
            try:
                frames = socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self._on_client_frames(tag, frames)
            except Exception:  # a bad request never takes the daemon down: log it, answer, go on
                traceback.print_exc()
                envelope = [tag] + (frames[:2] if len(frames) > 2 and frames[1] == b"" else frames[:1])
                self._send_client(envelope, [messages.reply_error(
                    "", messages.E_BAD_MESSAGE, "the daemon could not handle this message (logged); "
                    "check it against the protocol in the README")])

    def _on_client_frames(self, tag: bytes, frames: list[bytes]) -> None:
        # DEALER clients send [identity, body]; REQ clients add an empty delimiter frame. The envelope
        # starts with the tag of the socket the client came in on (local or TCP).
        identity = frames[0]
        rest = frames[1:]
        envelope = [tag, identity]
        if rest and rest[0] == b"":
            envelope.append(b"")
            rest = rest[1:]
        if len(rest) != 1:
            self._send_client(envelope, [messages.reply_error(
                "", messages.E_BAD_MESSAGE, f"expected one JSON frame, got {len(rest)} frames")])
            return
        try:
            request = messages.decode(rest[0], allowed=messages.CLIENT_MESSAGES,
                                      max_bytes=self.config.max_message_bytes)
        except messages.MessageError as error:
            self._send_client(envelope, [messages.reply_error("", error.errno, error.reason)])
            return
        handler = {
            messages.Speak: self._on_speak,
            messages.Stop: self._on_stop,
            messages.Pause: self._on_pause,
            messages.Resume: self._on_resume,
            messages.Status: self._on_status,
            messages.Voices: self._on_voices,
        }[type(request)]
        handler(envelope, request)

    def _on_speak(self, envelope: list[bytes], request: messages.Speak) -> None:
        def refuse(errno: int, reason: str) -> None:
            self._send_client(envelope, [messages.reply_error(request.id, errno, reason)])

        if len(request.text) > self.config.max_text_chars:
            return refuse(messages.E_TOO_LARGE, f"text has {len(request.text)} characters; "
                          f"the limit is {self.config.max_text_chars}; split it into several requests")
        request.text = request.text.translate(_TEXT_CONTROLS)
        if not request.text.strip():
            return refuse(messages.E_NOTHING_TO_SPEAK, "text is empty; send some words to speak")
        if request.rate is not None and not 0.25 <= request.rate <= 4.0:
            return refuse(messages.E_BAD_ARGUMENT, f"rate {request.rate} is out of range 0.25..4.0")
        if request.volume is not None and not 0.0 <= request.volume <= 2.0:
            return refuse(messages.E_BAD_ARGUMENT, f"volume {request.volume} is out of range 0.0..2.0")
        if request.vocoder not in (None, *VOCODERS):
            return refuse(messages.E_BAD_ARGUMENT, f"vocoder {request.vocoder[:20]!r} is not one of "
                          f"{', '.join(VOCODERS)} (only mel voices have a choice)")
        if request.output not in ("stream", "play"):
            return refuse(messages.E_BAD_ARGUMENT, f"output {request.output[:20]!r} is not supported; "
                          "use \"stream\" (PCM back to you) or \"play\" (the daemon's audio device)")
        voice_index = self._pick_voice(request)
        if voice_index is None and request.voice in self.refused:
            return refuse(messages.E_VOICE_UNAVAILABLE, f"voice {request.voice} was refused at start: "
                          f"{self.refused[request.voice]}")
        if voice_index is None:
            names = ", ".join(f"{v.name} ({self.manifests[v.name].language})" for v in self.voices)
            if not request.voice:
                return refuse(messages.E_UNKNOWN_VOICE, f"no installed voice speaks language {request.lang[:20]!r}; "
                              f"installed voices: {names}; use lang \"auto\" or install one (`ttsd voices list`)")
            return refuse(messages.E_UNKNOWN_VOICE, f"unknown voice {request.voice!r}; installed voices: {names}")
        voice = self.voices[voice_index]
        quarantine = self.quarantine_of(voice.name)
        if quarantine is not None:
            return refuse(messages.E_VOICE_UNAVAILABLE, f"voice {voice.name} is quarantined: {quarantine['reason']}")
        broken = [w.failed_voices[voice.name] for w in self.workers.values() if voice.name in w.failed_voices]
        if broken:
            return refuse(messages.E_VOICE_UNAVAILABLE, f"voice {voice.name} is unavailable: {broken[0]}")
        if request.priority not in PRIORITY_RANK:
            return refuse(messages.E_BAD_ARGUMENT, f"priority {request.priority[:20]!r} is not one of "
                          f"{', '.join(PRIORITY_RANK)}")
        dropped, displaced = self.jobs.displaced_by(request.priority)
        if dropped:
            return self._send_client(envelope, [messages.reply_error(
                request.id, messages.E_CANCELLED, "notification dropped: something else is speaking",
                event="cancelled")])
        for old in displaced:
            self._finish_with_error(old, messages.E_CANCELLED, f"cancelled by a newer {request.priority} request")
        if len(self.jobs) >= self.config.max_queued_jobs:
            return refuse(messages.E_TOO_LARGE, f"{len(self.jobs)} requests queued, the limit is "
                          f"{self.config.max_queued_jobs}; wait for some to finish")
        job = self.jobs.add(envelope=envelope, request=request, voice=voice_index,
                            manifest=self.manifests[voice.name], defaults=self.config)
        job.output = request.output
        if voice.name in self.degraded or any(voice.name in w.degraded_voices for w in self.workers.values()):
            job.vocoder = "griffin-lim"
        if job.output != "stream":
            self._send_worker("sink", messages.SinkJob(job=job.id, output=job.output))
        self._send_client(envelope, [messages.reply_ok(request.id, event="queued", voice=voice.name)])
        if job.output == "stream":
            key = cache_key(job)
            cached = self.audio_cache.lookup(key)
            if cached is not None:
                return self._replay(job, cached)
            self.audio_cache.record(job.id, key)
        self._dispatch()
        return None

    def _replay(self, job: Job, chunks: list[CachedChunk]) -> None:
        """Answer from the audio cache exactly as a synthesized stream request is answered."""
        for seq, chunk in enumerate(chunks):
            header = messages.reply_ok(job.request_id, event="audio", seq=seq, sample_rate=chunk.sample_rate,
                                       samples=len(chunk.pcm) // 2, clause=chunk.clause)
            self._send_client(job.envelope, [header, chunk.pcm])
        samples = sum(len(chunk.pcm) for chunk in chunks) // 2
        self._reply(job, messages.reply_ok(job.request_id, event="done", samples=samples,
                                           audio_s=round(samples / max(1, job.sample_rate), 3),
                                           voice=job.voice_name, cached=True))
        self.jobs.remove(job.id)

    def _pick_voice(self, request: messages.Speak) -> int | None:
        """A named voice; else a voice for the request's language, where "auto" (the default) reads the
        language from the text's script; the configured default voice wins among equals."""
        names = [v.name for v in self.voices]
        if request.voice:
            return names.index(request.voice) if request.voice in names else None
        wanted = (request.lang or "auto").lower().replace("_", "-")
        if wanted == "auto":
            wanted = detect_language(request.text)
        family = wanted.split("-")[0]
        matching = [i for i, name in enumerate(names) if self.manifests[name].language.lower().split("-")[0] == family]
        if not matching:
            if request.lang and request.lang.lower() != "auto":
                return None
            matching = list(range(len(names)))
        exact = [i for i in matching if self.manifests[names[i]].language.lower() == wanted]
        for candidates in (matching, exact):
            if self.config.default_voice in [names[i] for i in candidates]:
                return names.index(self.config.default_voice)
        return (exact or matching)[0]

    def _addressed(self, envelope: list[bytes], request, jobs: list[Job]) -> list[Job]:
        """The jobs a stop/pause/resume means: one request of this client, all of its requests, or all."""
        return [job for job in jobs if request.all or (job.envelope[:2] == envelope[:2]
                and (not request.id or job.request_id == request.id))]

    def _on_pause(self, envelope: list[bytes], request: messages.Pause) -> None:
        targets = self._addressed(envelope, request, self.jobs.all())
        for job in targets:
            self.jobs.pause(job)
            self.acoustic_in_flight = [entry for entry in self.acoustic_in_flight if entry[0] != job.id]
            self._broadcast(messages.Cancel(jobs=[job.id]))    # the sink aborts the device if it plays
        self._send_client(envelope, [messages.reply_ok(request.id, paused=[job.request_id for job in targets])])
        for job in targets:
            self._reply(job, messages.reply_ok(job.request_id, event="paused", resume_clause=job.resume_point()))

    def _on_resume(self, envelope: list[bytes], request: messages.Resume) -> None:
        targets = self._addressed(envelope, request, self.jobs.paused())
        resumed = []
        for job in targets:
            continued = self.jobs.resume(job)
            if continued.output != "stream":
                self._send_worker("sink", messages.SinkJob(job=continued.id, output=continued.output))
            resumed.append(continued)
        self._send_client(envelope, [messages.reply_ok(request.id, resumed=[job.request_id for job in resumed])])
        for job in resumed:
            self._reply(job, messages.reply_ok(job.request_id, event="resumed", clause=job.skip_clauses))
        self._dispatch()

    def _on_stop(self, envelope: list[bytes], request: messages.Stop) -> None:
        targets = self._addressed(envelope, request, self.jobs.all() + self.jobs.paused())
        for job in targets:
            self._finish_with_error(job, messages.E_CANCELLED, "cancelled by a stop request")
        if request.all:
            for ring in self.rings:   # every stage drops what is already in the rings at its next read
                ring.bump_epoch()
        self._send_client(envelope, [messages.reply_ok(request.id, cancelled=[job.request_id for job in targets])])

    def _on_status(self, envelope: list[bytes], request: messages.Status) -> None:
        self._send_client(envelope, [messages.reply_ok(request.id, **self.status())])

    def _on_voices(self, envelope: list[bytes], request: messages.Voices) -> None:
        self._send_client(envelope, [messages.reply_ok(request.id, voices=self.status()["voices"])])

    def status(self) -> dict:
        now = time.monotonic()
        workers = [{"name": w.name, "pid": w.pid, "state": w.state, "restarts": w.restarts,
                    "runs_stopped": w.runs_stopped, "uptime_s": round(now - w.started_at, 1) if w.pid else 0.0}
                   for w in self.workers.values()]
        voices = []
        for ref in self.voices:
            problems = [w.failed_voices[ref.name] for w in self.workers.values() if ref.name in w.failed_voices]
            entry = {"name": ref.name, "language": self.manifests[ref.name].language, "path": ref.path,
                     "state": "failed" if problems else ("ready" if self.all_ready() else "loading"),
                     **({"reason": problems[0]} if problems else {})}
            degraded = [w.degraded_voices[ref.name] for w in self.workers.values() if ref.name in w.degraded_voices]
            if degraded and not problems:
                entry.update(state="degraded", reason=degraded[0], vocoder="griffin-lim")
            if ref.name in self.degraded:
                entry.update(state="degraded", **self.degraded[ref.name])
            quarantine = self.quarantine_of(ref.name)
            if quarantine is not None:
                entry.update(state="quarantined", **quarantine)
            voices.append(entry)
        voices += [{"name": name, "state": "refused", "reason": reason} for name, reason in self.refused.items()]
        return {"pid": os.getpid(), "state": "ready" if self.all_ready() else "starting",
                "endpoint": self.config.endpoint, "uptime_s": round(time.time() - self.started_at, 1),
                "workers": workers, "voices": voices,
                "queue": {"jobs": len(self.jobs), "acoustic_in_flight": len(self.acoustic_in_flight)},
                "audio_cache": self.audio_cache.stats(),
                "last_silenced_monotonic": self.last_silenced_at}


def serve(config: DaemonConfig) -> int:
    """`ttsd serve`: run in the foreground until SIGTERM/SIGINT; always clean up what we created."""
    supervisor = Supervisor(config)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    try:
        supervisor.start()
    except (StartupError, OSError) as error:
        print(f"ttsd: cannot start: {error}", file=sys.stderr)
        supervisor.shutdown()
        return 1
    try:
        supervisor.run()
    finally:
        supervisor.shutdown()
    print("ttsd: stopped", file=sys.stderr)
    return 0
