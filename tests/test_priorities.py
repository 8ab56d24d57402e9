"""speech-dispatcher priority rules, through the real daemon (functional, no timing asserts)."""

from __future__ import annotations

import pytest

from ipc import messages
from ipc.client import Client, RequestFailed

LONG = " ".join(["The committee will meet again next week to discuss the budget, the schedule and the new building."] * 8)


def start(client: Client, text: str, priority: str, request_id: str):
    """Send a request and wait until it is queued (or refused); return its event iterator."""
    events = client.speak_events(text, priority=priority, request_id=request_id)
    first, _ = next(events)
    assert first["event"] == "queued"
    return events


def outcome(events) -> str:
    try:
        for event, _ in events:
            if event["event"] == "done":
                return "done"
    except RequestFailed as failure:
        return "cancelled" if failure.cancelled else f"failed: {failure.reason}"
    return "no end"


@pytest.fixture
def two_clients(shared_daemon):
    with Client(shared_daemon.endpoint) as first, Client(shared_daemon.endpoint) as second:
        yield first, second


def test_new_text_cancels_text_of_another_client(two_clients):
    first, second = two_clients
    old = start(first, LONG, "text", "old-text")
    new = start(second, "A new text arrives.", "text", "new-text")
    assert outcome(old) == "cancelled"
    assert outcome(new) == "done"


def test_message_interrupts_text(two_clients):
    first, second = two_clients
    old = start(first, LONG, "text", "text-1")
    new = start(second, "An ordinary message.", "message", "message-1")
    assert outcome(old) == "cancelled"
    assert outcome(new) == "done"


def test_important_is_never_interrupted(two_clients):
    first, second = two_clients
    important = start(first, LONG, "important", "imp-1")
    text = start(second, "Some text meanwhile.", "text", "text-2")
    assert outcome(important) == "done"
    assert outcome(text) == "done"


def test_message_is_not_cancelled_by_text(two_clients):
    first, second = two_clients
    message = start(first, LONG, "message", "msg-1")
    text = start(second, "Some text meanwhile.", "text", "text-3")
    assert outcome(message) == "done"
    assert outcome(text) == "done"


def test_notification_dropped_when_something_speaks(two_clients):
    first, second = two_clients
    message = start(first, LONG, "message", "msg-2")
    with pytest.raises(RequestFailed) as failure:
        next(second.speak_events("You have mail.", priority="notification", request_id="note-1"))
    assert failure.value.cancelled and "dropped" in failure.value.reason
    assert outcome(message) == "done"


def test_notification_spoken_when_idle_and_cancelled_by_message(two_clients):
    first, second = two_clients
    assert outcome(start(first, "Idle notification.", "notification", "note-2")) == "done"
    note = start(first, LONG, "notification", "note-3")
    message = start(second, "A message takes over.", "message", "msg-3")
    assert outcome(note) == "cancelled"
    assert outcome(message) == "done"


def test_newer_progress_replaces_waiting_progress(two_clients):
    first, second = two_clients
    busy = start(first, LONG, "important", "imp-2")
    older = start(second, "Twenty percent.", "progress", "prog-1")
    newer = start(second, "Forty percent.", "progress", "prog-2")
    assert outcome(older) == "cancelled"
    assert outcome(newer) == "done"
    assert outcome(busy) == "done"


def test_unknown_priority_is_refused(shared_daemon):
    with Client(shared_daemon.endpoint) as client:
        with pytest.raises(RequestFailed) as failure:
            next(client.speak_events("hi", priority="urgent"))
    assert failure.value.errno == messages.E_BAD_ARGUMENT and "important" in failure.value.reason
