"""End to end through the real daemon: four processes, ZeroMQ, shared memory, real voice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import psutil
import pytest
import zmq

from ipc.client import FILE_LEAD_IN_SECONDS, Client, RequestFailed
from ipc import messages
from tests.conftest import remove_segments_left_by

SENTENCES = [
    "The weather today is sunny with a light breeze from the west.",
    "Please remember to bring your notebook to the meeting on Tuesday.",
    "In 1998, the library bought 2,500 new books for $12,000.",
]


def read_wav(path: Path) -> tuple[np.ndarray, int, int, int]:
    with wave.open(str(path), "rb") as wav:
        frames = wav.readframes(wav.getnframes())
        return np.frombuffer(frames, dtype="<i2"), wav.getframerate(), wav.getnchannels(), wav.getsampwidth()


def spoken_words(text: str) -> int:
    from frontends.english_numbers import normalize_english
    return len(normalize_english(text).split())


@pytest.mark.parametrize("index", range(len(SENTENCES)))
def test_say_writes_plausible_wav(shared_daemon, tmp_path, index):
    text = SENTENCES[index]
    out = tmp_path / "out.wav"
    result = shared_daemon.ttsd("say", text, "--out", str(out), "--stats")
    assert result.returncode == 0, result.stderr.decode()
    stats = json.loads(result.stdout)
    assert {"ttfa_ms", "total_ms", "audio_s", "voice"} <= set(stats)
    assert stats["voice"] == "en_US-joe-medium"
    samples, rate, channels, width = read_wav(out)
    assert (rate, channels, width) == (22050, 1, 2)
    # A file starts with FILE_LEAD_IN_SECONDS of silence (the stream starts at the first sound).
    lead_in = int(FILE_LEAD_IN_SECONDS * rate)
    assert not samples[:lead_in].any()
    samples = samples[lead_in:]
    duration = len(samples) / rate
    assert abs(duration - stats["audio_s"]) < 0.01
    assert np.abs(samples[:int(0.05 * rate)]).max() > 300, "speech starts within 50 ms after the lead-in"
    rms = np.sqrt(np.mean(samples.astype(np.float64) ** 2))
    assert rms > 300, f"audio is (nearly) silent: rms {rms:.0f}"
    words_per_second = spoken_words(text) / duration
    assert 1.8 <= words_per_second <= 4.5, f"{words_per_second:.2f} words/s for {duration:.2f} s"
    assert np.abs(samples).max() < 32767, "fixed gain clips"


def test_raw_output_streams_pcm(shared_daemon):
    result = shared_daemon.ttsd("say", "Raw audio goes to standard output.", "--raw", "--stats")
    assert result.returncode == 0, result.stderr.decode()
    assert len(result.stdout) % 2 == 0 and len(result.stdout) > 22050
    stats = json.loads(result.stderr.decode().strip().splitlines()[-1])
    assert abs(stats["audio_s"] - len(result.stdout) / 2 / 22050) < 0.01


def test_first_audio_arrives_before_long_text_is_done(shared_daemon):
    text = " ".join(SENTENCES * 3)
    with Client(shared_daemon.endpoint) as client:
        result = client.synthesize(text)
    assert result.chunks > 5
    # streaming: the first chunk came well before the end (not a timing threshold on the machine,
    # a structural check: first audio before half of the total time)
    assert result.first_audio - result.request_sent < 0.5 * (result.finished - result.request_sent)


def test_status_json_shape(shared_daemon):
    result = shared_daemon.ttsd("status")
    assert result.returncode == 0
    status = json.loads(result.stdout)
    assert status["pid"] == shared_daemon.process.pid
    names = [w["name"] for w in status["workers"]]
    assert names == ["frontend", "acoustic", "vocoder", "sink"]
    for worker in status["workers"]:
        assert psutil.pid_exists(worker["pid"]) and worker["state"] == "ready" and worker["restarts"] == 0
    assert status["voices"][0]["name"] == "en_US-joe-medium"
    assert status["voices"][0]["language"] == "en-US" and status["voices"][0]["state"] == "ready"
    assert "queue" in status


def test_model_workers_keep_their_weights_in_huge_pages(shared_daemon):
    """The supervisor starts workers with glibc's malloc in transparent huge pages (WORKER_GLIBC_TUNABLE)."""
    mode = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not mode.exists() or "[never]" in mode.read_text():
        pytest.skip("transparent huge pages are off on this machine")
    status = json.loads(shared_daemon.ttsd("status").stdout)
    for worker in status["workers"]:
        if worker["name"] in ("acoustic", "vocoder"):
            rollup = Path(f"/proc/{worker['pid']}/smaps_rollup").read_text()
            huge_kib = int(next(line.split()[1] for line in rollup.splitlines() if line.startswith("AnonHugePages:")))
            assert huge_kib >= 32 * 1024, f"{worker['name']}: only {huge_kib} KiB in huge pages"


@pytest.mark.parametrize("text,errno,words", [
    ("", messages.E_NOTHING_TO_SPEAK, "empty"),
    ("   \n\t ", messages.E_NOTHING_TO_SPEAK, "empty"),
    ("?!... ,;", messages.E_NOTHING_TO_SPEAK, "no speakable"),
    ("x" * (messages.MAX_TEXT_CHARS + 1), messages.E_TOO_LARGE, "limit is 20000"),
])
def test_bad_text_gets_clear_error_then_good_request_works(shared_daemon, text, errno, words):
    with Client(shared_daemon.endpoint) as client:
        with pytest.raises(RequestFailed) as failure:
            client.synthesize(text)
        assert failure.value.errno == errno
        assert words in failure.value.reason.lower()
        good = client.synthesize("This one is fine.")
        assert good.audio_seconds > 0.5


def test_unknown_voice(shared_daemon):
    result = shared_daemon.ttsd("say", "hello", "--voice", "nope", "--out", "/dev/null")
    assert result.returncode == 1
    assert b"unknown voice 'nope'" in result.stderr and b"en_US-joe-medium" in result.stderr


def raw_exchange(endpoint: str, frames: list[bytes]) -> dict:
    context = zmq.Context.instance()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    try:
        socket.send_multipart(frames)
        assert socket.poll(10_000), "daemon did not answer"
        return json.loads(socket.recv_multipart()[0])
    finally:
        socket.close()


@pytest.mark.parametrize("frames,errno", [
    ([b'{"type": "speak", "text": "caf\xe9"}'], messages.E_BAD_MESSAGE),   # latin-1, not UTF-8
    ([b"\xff\xfe\x00garbage"], messages.E_BAD_MESSAGE),
    ([b"[1, 2, 3]"], messages.E_BAD_MESSAGE),
    ([b'{"type": "dance"}'], messages.E_UNKNOWN_TYPE),
    ([b'{"type": "speak", "text": 42}'], messages.E_BAD_MESSAGE),
    ([b'{"type": "speak", "text": "hi", "rate": 99}'], messages.E_BAD_ARGUMENT),
    ([b'{"type": "speak"}'], messages.E_BAD_MESSAGE),
    ([b"x" * (messages.MAX_MESSAGE_BYTES + 10)], messages.E_TOO_LARGE),
    ([b'{"type": "status"}', b"extra"], messages.E_BAD_MESSAGE),
])
def test_malformed_socket_messages_get_errors(shared_daemon, frames, errno):
    reply = raw_exchange(shared_daemon.endpoint, frames)
    assert reply["status"] == "error" and reply["errno"] == errno and reply["reason"]
    with Client(shared_daemon.endpoint) as client:
        assert client.synthesize("Still speaking.").audio_seconds > 0.3


def test_no_daemon_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "engine.cli", "say", "hello", "--out", str(tmp_path / "x.wav"),
                             "--endpoint", f"ipc://{tmp_path}/none.sock"], capture_output=True, text=True)
    assert result.returncode == 3
    assert "no ttsd daemon" in result.stderr and "Traceback" not in result.stderr


def test_bad_arguments_are_usage_errors():
    result = subprocess.run([sys.executable, "-m", "engine.cli", "say", "hello"], capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "engine.cli", "say", "hi", "--rate", "fast", "--raw"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "invalid float value" in result.stderr


def our_segments(daemon) -> list[str]:
    return [name for name in os.listdir("/dev/shm") if name.startswith("ttsd_")]


def test_sigterm_cleans_up_segments_and_workers(daemon_factory):
    daemon = daemon_factory("cleanup")
    status = json.loads(daemon.ttsd("status").stdout)
    pids = [w["pid"] for w in status["workers"]]
    from engine.config import DaemonConfig
    prefix = DaemonConfig(runtime_dir=daemon.runtime_dir, data_dir=Path("."), endpoint="").segment_prefix
    assert [s for s in os.listdir("/dev/shm") if s.startswith(prefix)]
    with Client(daemon.endpoint) as client:   # leave a request in flight
        client.send({"type": "speak", "id": "inflight", "text": " ".join(SENTENCES)})
        time.sleep(0.2)
    assert daemon.stop(signal.SIGTERM) == 0
    assert not [s for s in os.listdir("/dev/shm") if s.startswith(prefix)]
    time.sleep(0.2)
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert not (daemon.runtime_dir / "ttsd.sock").exists()


def test_sigint_also_cleans_up(daemon_factory):
    daemon = daemon_factory("sigint")
    assert daemon.stop(signal.SIGINT) == 0
    from engine.config import DaemonConfig
    prefix = DaemonConfig(runtime_dir=daemon.runtime_dir, data_dir=Path("."), endpoint="").segment_prefix
    assert not [s for s in os.listdir("/dev/shm") if s.startswith(prefix)]


def test_stale_segments_of_a_crashed_run_are_removed(daemon_factory):
    daemon = daemon_factory("crash")
    status = json.loads(daemon.ttsd("status").stdout)
    from engine.config import DaemonConfig
    prefix = DaemonConfig(runtime_dir=daemon.runtime_dir, data_dir=Path("."), endpoint="").segment_prefix
    daemon.stop(signal.SIGKILL)           # supervisor dies without cleaning up
    time.sleep(0.5)                        # workers die with it (PDEATHSIG)
    assert not [w["pid"] for w in status["workers"] if psutil.pid_exists(w["pid"])
                and psutil.Process(w["pid"]).status() != "zombie"]
    stale = [s for s in os.listdir("/dev/shm") if s.startswith(prefix)]
    assert stale, "a SIGKILLed supervisor leaves its segments behind"
    again = daemon_factory("crash")        # same runtime dir
    assert "removed stale shared-memory segment" in again.log()
    with Client(again.endpoint) as client:
        assert client.synthesize("After the crash.").audio_seconds > 0.3
    again.stop()
    assert not [s for s in os.listdir("/dev/shm") if s.startswith(prefix)]


def test_a_client_waiting_on_a_daemon_that_dies_gets_a_clear_error_at_once(daemon_factory):
    """SIGKILL of the daemon while a client waits for audio: the client says the daemon went away
    (not a 30 s timeout); afterwards, its stale socket file gets "connection refused" at once."""
    from ipc.client import DaemonUnavailable
    daemon = daemon_factory("dies")
    with Client(daemon.endpoint) as client:
        events = client.speak_events(" ".join(SENTENCES * 3))
        next(events)
        daemon.process.kill()
        killed_at = time.monotonic()
        with pytest.raises(DaemonUnavailable) as failure:
            for _event in events:
                pass
        assert "went away" in str(failure.value) and time.monotonic() - killed_at < 5
    daemon.process.wait(10)
    assert (daemon.runtime_dir / "ttsd.sock").exists()         # left behind by the SIGKILL
    started = time.monotonic()
    with Client(daemon.endpoint) as client, pytest.raises(DaemonUnavailable) as failure:
        client.status()
    assert "connection refused" in str(failure.value) and time.monotonic() - started < 5
    remove_segments_left_by(daemon.runtime_dir)


def test_second_daemon_on_same_runtime_dir_refuses(daemon_factory, data_dir):
    daemon = daemon_factory("single")
    result = subprocess.run([sys.executable, "-m", "engine.cli", "serve", "--runtime-dir", str(daemon.runtime_dir),
                             "--data-dir", str(data_dir), "--endpoint", daemon.endpoint],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "another ttsd" in result.stderr
    with Client(daemon.endpoint) as client:   # the first one is untouched
        assert client.synthesize("Still here.").audio_seconds > 0.3


def test_killed_worker_is_restarted_and_daemon_keeps_serving(daemon_factory):
    from tests.conftest import kill_worker_and_wait_for_restart
    daemon = daemon_factory("restart")
    with Client(daemon.endpoint) as client:
        vocoder, restarted = kill_worker_and_wait_for_restart(client, "vocoder")
        assert restarted["restarts"] == 1 and restarted["pid"] != vocoder["pid"]
        assert client.synthesize("Back again after a crash.").audio_seconds > 0.5


def test_stop_cancels_long_text_and_next_request_is_clean(shared_daemon):
    long_text = " ".join(SENTENCES * 6)
    with Client(shared_daemon.endpoint) as speaker:
        events = speaker.speak_events(long_text, request_id="long")
        first_event, _ = next(events)
        assert first_event["event"] == "queued"
        for event, _ in events:
            if event["event"] == "audio":
                break
        stop = shared_daemon.ttsd("stop")
        assert stop.returncode == 0 and "long" in json.loads(stop.stdout)["cancelled"]
        with pytest.raises(RequestFailed) as failure:
            for _ in events:
                pass
        assert failure.value.cancelled and failure.value.errno == messages.E_CANCELLED
        # the next request gets only its own audio: same length as the same text spoken alone
        after = speaker.synthesize("Short and clean.")
    with Client(shared_daemon.endpoint) as other:
        alone = other.synthesize("Short and clean.")
    assert abs(after.audio_seconds - alone.audio_seconds) < 0.35


def test_jobs_of_a_client_that_disconnects_are_dropped(shared_daemon):
    """A client gone mid-stream (crashed, Ctrl-C) must not leave minutes of speech in the pipeline
    ahead of everyone else: its job is dropped when the daemon next tries to send to it."""
    ghost_text = " ".join(SENTENCES * 40)           # minutes of audio: would still be queued below
    ghost = zmq.Context.instance().socket(zmq.DEALER)
    ghost.setsockopt(zmq.LINGER, 0)
    ghost.connect(shared_daemon.endpoint)
    ghost.send(json.dumps({"type": "speak", "id": "ghost", "text": ghost_text}).encode())
    audio_chunks = 0
    while audio_chunks < 2:
        assert ghost.poll(30_000), "no audio for the ghost's request"
        audio_chunks += json.loads(ghost.recv_multipart()[0]).get("event") == "audio"
    ghost.close()
    with Client(shared_daemon.endpoint) as other:
        deadline = time.monotonic() + 60
        while other.status()["queue"]["jobs"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert other.status()["queue"]["jobs"] == 0, "the disconnected client's job is still queued"
        assert other.synthesize("Still here.").audio_seconds > 0.3
    assert "a client disconnected; dropped its 1 job(s)" in shared_daemon.log()


def test_concurrent_clients_get_their_own_audio(shared_daemon):
    import concurrent.futures

    texts = ["One two three.", "The rain in Spain falls mainly on the plain, or so they say.",
             "Good morning.", "A considerably longer sentence, with several clauses, to keep the pipeline busy."]

    def speak(text):
        with Client(shared_daemon.endpoint) as client:
            return client.synthesize(text)

    with concurrent.futures.ThreadPoolExecutor(len(texts)) as pool:
        results = list(pool.map(speak, texts * 2))
    durations = [r.audio_seconds for r in results]
    # the same text twice gives about the same duration (Piper's noise varies it by ~10%);
    # mixed-up audio between requests would not
    for first, second in zip(durations[:len(texts)], durations[len(texts):]):
        assert 0.75 < first / second < 1.33, durations
    assert durations[0] < durations[1] and durations[2] < durations[3]


def test_speech_starts_without_leading_silence(shared_daemon):
    """Piper voices put ~60 ms of near-silence before speech; ttsd trims it from a message's start."""
    with Client(shared_daemon.endpoint) as client:
        result = client.synthesize("Speech should start at once.")
    samples = np.frombuffer(result.pcm, dtype="<i2")
    first_loud = np.flatnonzero(np.abs(samples) > 200)[0] / result.sample_rate
    assert first_loud < 0.02, f"first sound {1000 * first_loud:.0f} ms into the audio"


def test_config_file_errors_are_clear(tmp_path):
    import subprocess
    import sys

    def serve_with(config_text: str) -> subprocess.CompletedProcess:
        config = tmp_path / "ttsd.toml"
        config.write_text(config_text)
        return subprocess.run([sys.executable, "-m", "engine.cli", "serve", "--config", str(config),
                               "--runtime-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=60)

    unknown = serve_with("backof_start = 1\n")
    assert unknown.returncode == 1 and "unknown setting 'backof_start'" in unknown.stderr
    wrong_type = serve_with('max_text_chars = "many"\n')
    assert wrong_type.returncode == 1 and "max_text_chars must be a int" in wrong_type.stderr
    broken = serve_with("max_text_chars = \n")
    assert broken.returncode == 1 and "not valid TOML" in broken.stderr


def test_config_file_limits_apply(tmp_path, data_dir, joe_voice):
    from ipc import messages
    from ipc.client import Client, RequestFailed
    from tests.conftest import start_daemon

    config = tmp_path / "ttsd.toml"
    config.write_text("max_text_chars = 40\ndefault_rate = 1.5\n")
    daemon = start_daemon(tmp_path / "run", data_dir, extra=["--config", str(config)])
    try:
        with Client(daemon.endpoint) as client:
            with pytest.raises(RequestFailed) as failure:
                client.synthesize("This sentence is longer than forty characters in total.")
            assert failure.value.errno == messages.E_TOO_LARGE and "limit is 40" in failure.value.reason
            fast = client.synthesize("Short and quick.", voice="en_US-joe-medium").audio_seconds
            normal = client.synthesize("Short and quick.", voice="en_US-joe-medium", rate=1.0).audio_seconds
            assert fast < normal * 0.85
    finally:
        daemon.stop()
