"""The sounddevice sink against a real PulseAudio server with a null sink (captured from its monitor)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from ipc.client import Client, RequestFailed
from tests.conftest import start_daemon
from tests.pulse_server import start_pulse_server, voiced_seconds

RATE = 22050


@pytest.fixture(scope="module")
def pulse():
    server = start_pulse_server()
    if server is None:
        pytest.skip("PulseAudio is not installed: run scripts/test.sh, which installs it")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def playing_daemon(pulse, tmp_path_factory, data_dir, joe_voice):
    daemon = start_daemon(tmp_path_factory.mktemp("play") / "run", data_dir, env=pulse.env)
    yield daemon
    daemon.stop()


def test_devices_are_listed(pulse):
    import subprocess, sys
    out = subprocess.run([sys.executable, "-m", "engine.cli", "devices", "--json"], env=pulse.env,
                         capture_output=True, text=True, check=True).stdout
    names = [device["name"] for device in json.loads(out)]
    assert "pulse" in names or "default" in names


def test_played_speech_arrives_at_the_null_sink(pulse, playing_daemon):
    capture = pulse.capture(RATE)
    with Client(playing_daemon.endpoint) as client:
        result = client.synthesize("Speech played through the audio server arrives at the null sink.",
                                   output="play")
    samples = capture.stop()
    assert result.first_audio is not None and result.audio_seconds > 2.0
    heard = voiced_seconds(samples, RATE)
    assert result.audio_seconds - 0.6 < heard < result.audio_seconds + 0.3, (heard, result.audio_seconds)


def test_stop_aborts_playback(pulse, playing_daemon):
    long_text = " ".join(["This long announcement keeps going on and on for quite a while."] * 6)
    capture = pulse.capture(RATE)
    outcome = {}

    def speak():
        with Client(playing_daemon.endpoint) as client:
            try:
                outcome["result"] = client.synthesize(long_text, output="play")
            except RequestFailed as failure:
                outcome["error"] = failure

    speaker = threading.Thread(target=speak)
    speaker.start()
    time.sleep(2.0)
    assert playing_daemon.ttsd("stop").returncode == 0
    speaker.join(30)
    time.sleep(1.0)
    samples = capture.stop()
    assert outcome["error"].cancelled
    heard = voiced_seconds(samples, RATE)
    assert heard < 4.0, f"speech went on for {heard:.1f} s after a stop at ~2 s"


def test_no_device_is_a_clear_error_and_streaming_still_works(tmp_path, data_dir, joe_voice):
    import os
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "PULSE_SERVER": "unix:/nonexistent"}
    daemon = start_daemon(tmp_path / "nodev", data_dir, extra=["--device", "no-such-device"], env=env)
    try:
        with Client(daemon.endpoint) as client:
            with pytest.raises(RequestFailed) as failure:
                client.synthesize("Nothing to play on.", output="play")
            assert "device" in failure.value.reason
            assert client.synthesize("But streaming works.").audio_seconds > 0.5
    finally:
        daemon.stop()


def test_pause_silences_the_device_and_resume_plays_the_rest(pulse, playing_daemon):
    text = " ".join(f"Sentence number {n} of a long announcement that keeps on going." for n in range(1, 7))
    outcome = {}

    def speak():
        with Client(playing_daemon.endpoint, timeout=60) as client:
            outcome["events"] = [event for event, _ in client.speak_events(text, output="play")]

    speaker = threading.Thread(target=speak)
    speaker.start()
    time.sleep(2.0)
    with Client(playing_daemon.endpoint) as controller:
        assert len(controller.pause(everyone=True)) == 1
        time.sleep(0.3)                                   # let the abort reach the server
        capture = pulse.capture(RATE)
        time.sleep(1.5)
        paused_audio = capture.stop()
        assert voiced_seconds(paused_audio, RATE) < 0.1   # silent while paused
        capture = pulse.capture(RATE)
        assert len(controller.resume(everyone=True)) == 1
    speaker.join(60)
    resumed_audio = capture.stop()
    kinds = [event.get("event") for event in outcome["events"]]
    assert kinds.index("paused") < kinds.index("resumed") < kinds.index("done")
    resume_clause = next(e for e in outcome["events"] if e.get("event") == "paused")["resume_clause"]
    assert resume_clause >= 1
    assert voiced_seconds(resumed_audio, RATE) > 1.0      # the rest was played after resume


def sink_inputs(pulse) -> list[str]:
    """`pactl list sink-inputs`, one block per stream playing into the server."""
    import subprocess
    out = subprocess.run(["pactl", "list", "sink-inputs"], env=pulse.env, capture_output=True, text=True,
                         check=True).stdout
    return out.split("Sink Input #")[1:]


def test_an_idle_device_stream_is_stopped_and_restarts_for_the_next_message(pulse, playing_daemon):
    from engine.audio_device import IDLE_STOP_SECONDS
    with Client(playing_daemon.endpoint) as client:
        client.synthesize("Before the pause.", output="play")
        time.sleep(IDLE_STOP_SECONDS + 2.5)      # the sink checks at least once a second
        streams = sink_inputs(pulse)
        assert streams and all("Corked: yes" in block for block in streams), streams
        capture = pulse.capture(RATE)
        result = client.synthesize("After the pause the device starts again.", output="play")
        time.sleep(0.3)
        samples = capture.stop()
    assert voiced_seconds(samples, RATE) > result.audio_seconds - 0.6
