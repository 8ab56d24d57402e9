"""The acoustic stage's choice of the next message: the supervisor's order, except that with other
requests open a later clause waits while the vocoder has a backlog (a real ring in shared memory)."""

from __future__ import annotations

import os
from collections import deque

import numpy as np
import pytest

from engine.worker_acoustic import BACKLOG_LIMIT_BYTES, next_message, steps_aside
from engine.workerlib import wait_for_audio
from ipc import messages
from ipc.ring import KIND_FRAMES, Ring


def synthesize(job: int, clause: int) -> messages.Synthesize:
    return messages.Synthesize(job=job, clause=clause, voice=0, ids=[1, 2], length_scale=1.0,
                               noise_scale=0.667, noise_w=0.8)


@pytest.fixture
def frames_ring():
    ring = Ring.create(f"ttsd-test-sched-{os.getpid()}", 4 * BACKLOG_LIMIT_BYTES)
    yield ring
    ring.close()
    ring.unlink()


def fill(ring: Ring, nbytes: int) -> None:
    frames = np.zeros((192, 32), dtype=np.float32)
    while ring.used_bytes() < nbytes:
        assert ring.try_write(KIND_FRAMES, 1, 1, frames, voice=0)


def test_order_is_kept_without_a_backlog(frames_ring):
    pending = deque([synthesize(1, 3), synthesize(2, 0)])
    assert next_message(pending, frames_ring, {1, 2}) == synthesize(1, 3)
    assert next_message(pending, frames_ring, {1, 2}) == synthesize(2, 0)
    assert next_message(pending, frames_ring, {1, 2}) is None


def test_with_others_open_a_later_clause_waits_and_a_first_clause_goes_ahead(frames_ring):
    fill(frames_ring, BACKLOG_LIMIT_BYTES)
    pending = deque([synthesize(1, 3), synthesize(2, 0)])
    assert next_message(pending, frames_ring, {1, 2}) == synthesize(2, 0)
    assert next_message(pending, frames_ring, {1, 2}) is None      # job 1 waits for the vocoder
    assert list(pending) == [synthesize(1, 3)]
    frames_ring.discard_all()
    assert next_message(pending, frames_ring, {1, 2}) == synthesize(1, 3)


def test_a_request_alone_runs_ahead_and_job_ends_always_go(frames_ring):
    fill(frames_ring, BACKLOG_LIMIT_BYTES)
    pending = deque([synthesize(1, 3), messages.EndJob(job=1, voice=0)])
    assert next_message(pending, frames_ring, {1}) == synthesize(1, 3)
    assert next_message(pending, frames_ring, {1, 2}) == messages.EndJob(job=1, voice=0)


def test_a_first_clause_steps_aside_for_the_first_decode_unless_others_wait(frames_ring):
    first = synthesize(1, 0)
    own_later = deque([synthesize(1, 1), messages.EndJob(job=1, voice=0)])
    assert steps_aside(first, own_later, frames_ring)          # its own later clauses wait
    assert not steps_aside(synthesize(1, 1), deque(), frames_ring)   # only a first clause
    assert not steps_aside(first, deque([synthesize(2, 0)]), frames_ring)   # another request waits
    fill(frames_ring, 1)
    assert not steps_aside(first, own_later, frames_ring)      # the vocoder has work already


def test_a_stage_stepping_aside_stops_waiting_when_audio_is_out_or_it_is_told(frames_ring):
    """wait_for_audio (acoustic stage after each first-clause piece, front-end after a first clause)
    returns once the watched ring moves or stop_waiting() says so, long before its bound."""
    import threading

    bound = 600.0    # a wait that ignored either signal would hang the test run
    before = frames_ring.write_pos
    writer = threading.Timer(0.05, lambda: fill(frames_ring, 1))
    writer.start()
    wait_for_audio(frames_ring, before, bound, lambda: False)
    writer.join()
    assert frames_ring.write_pos != before

    calls = []
    wait_for_audio(frames_ring, frames_ring.write_pos, bound, lambda: calls.append(1) or len(calls) >= 3)
    assert len(calls) == 3
