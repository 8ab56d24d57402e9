"""ttsd as speech-dispatcher's voice, end to end: a private PulseAudio (null sink), a private
speech-dispatcher 0.11 with sd_ttsd registered by `ttsd speechd install`, a real ttsd daemon.
What reached the null sink is captured with parec and checked; no timing thresholds."""

from __future__ import annotations

import threading
import time

import pytest

from ipc.client import Client
from tests.audio_fixtures import (CAPTURE_RATE, import_speechd, missing_packages, sound_span, start_capture,
                                  start_pulse, start_speech_dispatcher, wait_for)

MISSING = missing_packages()
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"Debian packages not installed: {', '.join(MISSING)} "
                                "(run scripts/test.sh, or scripts/setup.sh with TTSD_SETUP_TESTS=1)")

LONG_TEXT = " ".join(["The old lighthouse stood at the edge of the cliff for more than a hundred years, "
                      "and every night its beam swept across the dark water."] * 6)


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    server = start_pulse(tmp_path_factory.mktemp("pulse"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def speechd_server(tmp_path_factory, pulse, zh_voice, shared_daemon):
    server = start_speech_dispatcher(tmp_path_factory.mktemp("speechd"), pulse, shared_daemon.endpoint)
    yield server
    server.stop()


@pytest.fixture
def capture(tmp_path, pulse):
    started = start_capture(pulse, tmp_path / "capture.raw")
    yield started
    started.stop()


def spoken_seconds(speechd_server, capture, *args: str) -> float:
    """Speak with spd-say -w; return the length of the sound that reached the sink."""
    before = len(capture.samples())
    result = speechd_server.spd_say("-w", *args)
    assert result.returncode == 0, result.stderr
    time.sleep(0.5)   # the tail of the audio still in flight through PulseAudio
    span = sound_span(capture.samples()[before:])
    assert span is not None, f"nothing reached the null sink; module log:\n{speechd_server.log('ttsd')[-3000:]}"
    return span[1] - span[0]


def test_ttsd_is_registered(speechd_server):
    assert "ttsd" in speechd_server.modules and "espeak-ng" in speechd_server.modules


def test_speech_reaches_the_sink(speechd_server, capture, shared_daemon):
    text = "Hello from ttsd, speaking for the screen reader."
    seconds = spoken_seconds(speechd_server, capture, "-o", "ttsd", "-l", "en", text)
    with Client(shared_daemon.endpoint) as client:
        expected = client.synthesize(text).audio_seconds
    # Roughly the daemon's own duration: same text, same voice (functional check, generous bounds).
    assert 0.5 * expected < seconds < 1.5 * expected + 0.5, (seconds, expected)


def test_language_picks_the_mandarin_voice(speechd_server, capture, shared_daemon):
    """spd-say -l zh reaches the Mandarin voice: as long as the daemon's own Mandarin audio, and far
    from what the English voice makes of the same characters (spelled out or skipped)."""
    text = "今天天气很好，我们去公园散步吧。"
    seconds = spoken_seconds(speechd_server, capture, "-o", "ttsd", "-l", "zh", text)
    with Client(shared_daemon.endpoint) as client:
        expected = client.synthesize(text, voice="zh_CN-baker").audio_seconds
    assert 0.5 * expected < seconds < 1.5 * expected + 0.5, (seconds, expected)


def test_text_in_another_script_gets_a_voice_for_it(speechd_server, capture, shared_daemon):
    """A screen reader set to English that meets a Chinese line: the Mandarin voice reads it (the
    English voice would refuse Han characters: silence), and English text after it is English again."""
    text = "今天天气很好，我们去公园散步吧。"
    seconds = spoken_seconds(speechd_server, capture, "-o", "ttsd", "-l", "en", text)
    with Client(shared_daemon.endpoint) as client:
        expected = client.synthesize(text, voice="zh_CN-baker").audio_seconds
    assert 0.5 * expected < seconds < 1.5 * expected + 0.5, (seconds, expected)
    english = "The weather is fine today."
    seconds = spoken_seconds(speechd_server, capture, "-o", "ttsd", "-l", "en", english)
    with Client(shared_daemon.endpoint) as client:
        expected = client.synthesize(english, voice="en_US-joe-medium").audio_seconds
    assert 0.5 * expected < seconds < 1.5 * expected + 0.5, (seconds, expected)


def test_rate_changes_duration(speechd_server, capture):
    text = "This sentence is spoken once slowly and once quickly."
    slow = spoken_seconds(speechd_server, capture, "-o", "ttsd", "-r", "-50", text)
    fast = spoken_seconds(speechd_server, capture, "-o", "ttsd", "-r", "50", text)
    assert slow > fast * 1.5, (slow, fast)


def test_cancel_stops_a_long_text(speechd_server, capture, shared_daemon):
    with Client(shared_daemon.endpoint) as client:
        full = client.synthesize(LONG_TEXT).audio_seconds
    start = len(capture.samples())
    speaker = speechd_server.spd_say_background("-o", "ttsd", LONG_TEXT)
    try:
        wait_for(lambda: sound_span(capture.samples()[start:]) is not None, 60, "speech to start")
        time.sleep(1.0)
        cancelled = speechd_server.spd_say("-C")
        assert cancelled.returncode == 0
        cancel_at = len(capture.samples())
        time.sleep(3.0)
        after = capture.samples()[cancel_at:]
        span = sound_span(capture.samples()[start:])
        # Sound stopped shortly after the cancel: the last second is silent and far less than
        # the whole text was played.
        assert sound_span(after[-CAPTURE_RATE:]) is None
        assert span[1] - span[0] < full / 2, (span, full)
    finally:
        speaker.wait(30)


# python3-speechd's reader thread ends with SystemExit when the client closes: harmless.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_marks_reach_a_client_in_order(speechd_server, capture, tmp_path):
    speechd = import_speechd(tmp_path)
    client = speechd.SSIPClient("ttsd-test", address=speechd_server.address)
    try:
        client.set_output_module("ttsd")
        client.set_data_mode(speechd.DataMode.SSML)
        events: list[tuple[str, str | None]] = []
        finished = threading.Event()

        def callback(kind, index_mark=None):
            events.append((kind, index_mark))
            if kind in (speechd.CallbackType.END, speechd.CallbackType.CANCEL):
                finished.set()

        ssml = ('<speak><mark name="one"/>The first part is spoken.<mark name="two"/> Then a second '
                'part.<mark name="three"/> And the end.<mark name="four"/></speak>')
        client.speak(ssml, callback=callback,
                     event_types=(speechd.CallbackType.INDEX_MARK, speechd.CallbackType.END,
                                  speechd.CallbackType.CANCEL, speechd.CallbackType.BEGIN))
        assert finished.wait(60), events
    finally:
        client.close()
    marks = [mark for kind, mark in events if kind == speechd.CallbackType.INDEX_MARK]
    assert marks == ["one", "two", "three", "four"], events
    assert events[0][0] == speechd.CallbackType.BEGIN and events[-1][0] == speechd.CallbackType.END


def test_espeak_module_still_works(speechd_server, capture):
    assert spoken_seconds(speechd_server, capture, "-o", "espeak-ng", "Hello from espeak.") > 0.2
