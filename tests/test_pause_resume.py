"""Pause and resume through the daemon: output stops at once and the position is kept; resume goes on
from the clause after the one that was cut off, in order, to the end; stop also ends paused speech."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from ipc.client import Client, RequestFailed

SENTENCES = [
    "The first sentence is about the morning sun.",
    "The second sentence talks about a cup of tea.",
    "The third sentence mentions a red bicycle.",
    "The fourth sentence describes a quiet library.",
    "The fifth sentence is about the evening train.",
    "The sixth sentence closes the story with a song.",
]
TEXT = " ".join(SENTENCES)


def speak_in_background(endpoint: str, text: str, **options) -> tuple[threading.Thread, queue.Queue]:
    """Every (event, payload) of one request, as it arrives, on a queue; then None (or the error)."""
    events: queue.Queue = queue.Queue()

    def run() -> None:
        with Client(endpoint, timeout=60) as client:
            try:
                for event, payload in client.speak_events(text, **options):
                    events.put((event, payload))
                events.put(None)
            except RequestFailed as failure:
                events.put(failure)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, events


def next_event(events: queue.Queue, timeout: float = 30.0):
    return events.get(timeout=timeout)


def test_pause_keeps_position_and_resume_continues_in_order(shared_daemon):
    thread, events = speak_in_background(shared_daemon.endpoint, TEXT)
    heard = []
    while True:                                    # wait until clause 1 is being delivered
        event, _ = next_event(events)
        if event.get("event") == "audio":
            heard.append(event["clause"])
            if event["clause"] >= 1:
                break
    with Client(shared_daemon.endpoint) as controller:
        assert controller.pause(everyone=True) == [event["id"]]
        while True:
            event, _ = next_event(events)
            if event.get("event") == "paused":
                break
            assert event.get("event") == "audio"      # audio already on its way before the pause
            heard.append(event["clause"])
        resume_clause = event["resume_clause"]
        assert resume_clause == max(heard) + 1
        with pytest.raises(queue.Empty):                # paused: nothing more arrives
            events.get(timeout=1.0)
        assert controller.resume(everyone=True) == [event["id"]]
    event, _ = next_event(events)
    assert event["event"] == "resumed" and event["clause"] == resume_clause
    after = []
    while (item := next_event(events)) is not None:
        event, _ = item
        if event.get("event") == "audio":
            after.append(event["clause"])
    thread.join(10)
    assert after and after[0] == resume_clause          # from the next clause boundary ...
    assert after == sorted(after)                       # ... in order ...
    assert max(after) >= len(SENTENCES) - 1             # ... to the end of the text
    assert not set(after) & set(heard)                  # and nothing heard twice


def test_stop_ends_a_paused_request_with_cancelled(shared_daemon):
    thread, events = speak_in_background(shared_daemon.endpoint, TEXT)
    while next_event(events)[0].get("event") != "audio":
        pass
    with Client(shared_daemon.endpoint) as controller:
        controller.pause(everyone=True)
        while next_event(events)[0].get("event") != "paused":
            pass
        assert len(controller.stop(everyone=True)) == 1
    outcome = next_event(events)
    assert isinstance(outcome, RequestFailed) and outcome.cancelled
    thread.join(10)


def test_resume_with_nothing_paused_is_harmless(shared_daemon):
    with Client(shared_daemon.endpoint) as client:
        assert client.resume(everyone=True) == []
        assert client.synthesize("Still speaking normally.").audio_seconds > 0.5


def test_paused_request_of_another_client_is_not_resumed_by_this_client(shared_daemon):
    thread, events = speak_in_background(shared_daemon.endpoint, TEXT)
    while next_event(events)[0].get("event") != "audio":
        pass
    with Client(shared_daemon.endpoint) as controller:
        controller.pause(everyone=True)
        assert controller.resume() == []                # "this client's requests": it has none
        time.sleep(0.3)
        assert controller.resume(everyone=True) != []
    while (item := next_event(events)) is not None:
        assert not isinstance(item, RequestFailed)
    thread.join(10)
