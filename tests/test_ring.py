"""Tests for ipc.ring: real shared memory, real processes, no mocks."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import queue
import random
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ipc import ring as ring_module
from ipc.ring import (
    HEADER_SIZE,
    KIND_CLAUSE_END,
    KIND_FRAMES,
    KIND_JOB_END,
    KIND_PCM,
    MIN_CAPACITY,
    RECORD_HEADER,
    SHM_DIR,
    Record,
    RecordTooLarge,
    Ring,
    RingCorrupted,
    RingFullTimeout,
    record_size,
    segment_names_with_prefix,
    unlink_segments_with_prefix,
)

TEST_PREFIX = "ttsd_test"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Two-process stress test.
STRESS_CAPACITY = 64 * 1024
STRESS_TARGET_BYTES = 6 * 1024 * 1024
STRESS_JOB = 7
STRESS_TIMEOUT_SECONDS = 60.0
DIGEST_SIZE = 32


def unique_name(tag: str) -> str:
    """Per-test segment name; includes our pid so leftovers can be attributed."""
    return f"{TEST_PREFIX}_{os.getpid()}_{uuid.uuid4().hex[:8]}_{tag}"


def shm_exists(name: str) -> bool:
    return os.path.exists(os.path.join(SHM_DIR, name))


@pytest.fixture(autouse=True, scope="module")
def no_leftover_segments():
    """Fail loudly if any test of this process leaves a segment in /dev/shm."""
    prefix = f"{TEST_PREFIX}_{os.getpid()}_"
    yield
    leftovers = unlink_segments_with_prefix(prefix)
    assert leftovers == []


@pytest.fixture
def make_ring():
    """Factory for rings that are always closed and unlinked after the test."""
    created: list[Ring] = []

    def make(capacity: int, tag: str = "r") -> Ring:
        ring = Ring.create(unique_name(tag), capacity)
        created.append(ring)
        return ring

    yield make
    for ring in created:
        ring.close()
        ring.unlink()


@pytest.fixture
def attached():
    """Attach to an existing ring by name; closes the attachment after the test."""
    opened: list[Ring] = []

    def attach(name: str) -> Ring:
        ring = Ring.attach(name)
        opened.append(ring)
        return ring

    yield attach
    for ring in opened:
        ring.close()


# --- basic round trips --------------------------------------------------------


def test_roundtrip_all_fields(make_ring, attached):
    producer = make_ring(4096)
    consumer = attached(producer.name)
    assert producer.try_write(KIND_PCM, job=2**40, seq=2**32 - 1, payload=b"abc", voice=5, aux=9)
    assert consumer.read() == Record(kind=KIND_PCM, job=2**40, epoch=0, seq=2**32 - 1, voice=5, aux=9, payload=b"abc")
    assert consumer.read() is None


def test_numpy_and_memoryview_payloads(make_ring, attached):
    producer = make_ring(4096)
    consumer = attached(producer.name)
    frames = np.arange(24, dtype=np.float32).reshape(3, 8)
    pcm = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    assert producer.try_write(KIND_FRAMES, 1, 0, frames)
    assert producer.try_write(KIND_PCM, 1, 1, pcm)
    assert producer.try_write(KIND_PCM, 1, 2, memoryview(bytearray(b"xyz")))
    assert producer.try_write(KIND_CLAUSE_END, 1, 3, b"")
    got_frames = consumer.read()
    np.testing.assert_array_equal(np.frombuffer(got_frames.payload, dtype=np.float32).reshape(3, 8), frames)
    np.testing.assert_array_equal(np.frombuffer(consumer.read().payload, dtype=np.int16), pcm)
    assert consumer.read().payload == b"xyz"
    end = consumer.read()
    assert (end.kind, end.seq, end.payload) == (KIND_CLAUSE_END, 3, b"")


def test_non_contiguous_numpy_payload_rejected(make_ring):
    producer = make_ring(4096)
    strided = np.arange(20, dtype=np.float32)[::2]
    with pytest.raises(ValueError):
        producer.try_write(KIND_FRAMES, 1, 0, strided)
    assert producer.used_bytes() == 0


def test_records_are_8_byte_aligned(make_ring):
    producer = make_ring(4096)
    for nbytes in range(0, 20):
        before = producer.write_pos
        assert producer.try_write(KIND_PCM, 1, nbytes, bytes(nbytes))
        assert producer.write_pos - before == record_size(nbytes)
        assert producer.write_pos % 8 == 0


# --- wrap-around --------------------------------------------------------------


def test_record_header_straddles_end(make_ring, attached):
    producer = make_ring(4096)
    consumer = attached(producer.name)
    # Advance to 16 bytes before the end, so the next 40-byte header wraps.
    filler = bytes(4096 - 16 - RECORD_HEADER.size)
    assert producer.try_write(KIND_PCM, 1, 0, filler)
    assert consumer.read().payload == filler
    assert producer.write_pos % producer.capacity == 4096 - 16
    payload = os.urandom(100)
    assert producer.try_write(KIND_PCM, 1, 1, payload, voice=3, aux=4)
    got = consumer.read()
    assert (got.seq, got.voice, got.aux, got.payload) == (1, 3, 4, payload)


def test_record_payload_straddles_end(make_ring, attached):
    producer = make_ring(4096)
    consumer = attached(producer.name)
    filler = bytes(4096 - 200 - RECORD_HEADER.size)
    assert producer.try_write(KIND_PCM, 1, 0, filler)
    assert consumer.read() is not None
    # Header fits before the end, payload runs 160 bytes before and the rest after.
    payload = os.urandom(1000)
    assert producer.try_write(KIND_PCM, 1, 1, payload)
    assert consumer.read().payload == payload
    assert producer.write_pos > producer.capacity


def test_many_random_records_wrap_intact(make_ring, attached):
    producer = make_ring(4096)
    consumer = attached(producer.name)
    rng = random.Random(1234)
    pending: deque[bytes] = deque()
    header_wraps = payload_wraps = 0
    for seq in range(3000):
        payload = rng.randbytes(rng.randint(0, 1500))
        start = producer.write_pos % producer.capacity
        if producer.try_write(KIND_PCM, 1, seq, payload):
            pending.append(payload)
            header_wraps += start + RECORD_HEADER.size > producer.capacity
            payload_wraps += start + record_size(len(payload)) > producer.capacity
        # Read in bursts so the ring fills up and drains at varying offsets.
        if rng.random() < 0.4 or not producer.free_bytes() > RECORD_HEADER.size:
            for _ in range(rng.randint(1, 4)):
                got = consumer.read()
                if got is None:
                    assert not pending
                    break
                assert got.payload == pending.popleft()
    while pending:
        assert consumer.read().payload == pending.popleft()
    assert consumer.read() is None
    assert header_wraps > 0 and payload_wraps > 10


# --- full / empty / back-pressure ----------------------------------------------


def test_full_and_empty_accounting(make_ring, attached):
    producer = make_ring(1024)
    consumer = attached(producer.name)
    assert consumer.read() is None
    assert producer.free_bytes() == 1024 and consumer.used_bytes() == 0
    record_total = record_size(100)
    written = 0
    while producer.try_write(KIND_PCM, 1, written, bytes([written]) * 100):
        written += 1
        assert consumer.used_bytes() == written * record_total
        assert producer.free_bytes() + consumer.used_bytes() == 1024
    assert written == 1024 // record_total
    assert producer.free_bytes() < record_total
    assert producer.try_write(KIND_PCM, 1, 99, b"x" * 100) is False
    assert consumer.used_bytes() == written * record_total  # a failed try_write changes nothing
    for seq in range(written):
        assert consumer.read().payload == bytes([seq]) * 100
    assert consumer.read() is None
    assert consumer.used_bytes() == 0 and producer.free_bytes() == 1024


def test_record_exactly_capacity_fits_only_when_empty(make_ring, attached):
    producer = make_ring(1024)
    consumer = attached(producer.name)
    whole = bytes(1024 - RECORD_HEADER.size)
    assert producer.try_write(KIND_PCM, 1, 0, whole)
    assert producer.free_bytes() == 0
    assert producer.try_write(KIND_PCM, 1, 1, b"") is False
    assert consumer.read().payload == whole
    assert producer.try_write(KIND_PCM, 1, 2, whole)


def test_record_too_large(make_ring):
    producer = make_ring(1024)
    too_big = bytes(1024 - RECORD_HEADER.size + 1)  # pads to 1024 + 8
    with pytest.raises(RecordTooLarge):
        producer.try_write(KIND_PCM, 1, 0, too_big)
    with pytest.raises(RecordTooLarge):
        producer.write(KIND_PCM, 1, 0, too_big, timeout=0.01)
    assert issubclass(RecordTooLarge, ValueError)
    assert producer.used_bytes() == 0


def fill_completely(ring: Ring) -> None:
    assert ring.try_write(KIND_PCM, 1, 0, bytes(ring.capacity - RECORD_HEADER.size))


def test_write_should_abort_returns_false(make_ring):
    producer = make_ring(1024)
    fill_completely(producer)
    calls = []

    def should_abort() -> bool:
        calls.append(1)
        return len(calls) >= 3

    assert producer.write(KIND_PCM, 1, 1, b"x", timeout=5.0, should_abort=should_abort) is False
    assert len(calls) == 3
    assert producer.used_bytes() == 1024


def test_write_times_out_when_full(make_ring):
    producer = make_ring(1024)
    fill_completely(producer)
    started = time.monotonic()
    with pytest.raises(RingFullTimeout):
        producer.write(KIND_PCM, 1, 1, b"x", timeout=0.02)
    elapsed = time.monotonic() - started
    assert 0.02 <= elapsed < 1.0


def test_write_waits_for_consumer(make_ring, attached):
    producer = make_ring(1024)
    consumer = attached(producer.name)
    fill_completely(producer)

    def drain_later() -> None:
        time.sleep(0.05)
        consumer.read()

    drainer = threading.Thread(target=drain_later)
    started = time.monotonic()
    drainer.start()
    assert producer.write(KIND_PCM, 1, 1, b"late", timeout=5.0)
    elapsed = time.monotonic() - started
    drainer.join()
    assert elapsed >= 0.04
    assert consumer.read().payload == b"late"


# --- epochs and discard ---------------------------------------------------------


def test_epoch_bump_drops_older_records(make_ring, attached):
    producer = make_ring(4096)
    consumer = attached(producer.name)
    for seq in range(3):
        assert producer.try_write(KIND_PCM, 1, seq, b"old")
    supervisor = attached(producer.name)
    assert supervisor.bump_epoch() == 1
    assert producer.epoch == consumer.epoch == 1
    for seq in range(3, 5):
        assert producer.try_write(KIND_PCM, 2, seq, b"new")
    got = [consumer.read(), consumer.read()]
    assert [(r.job, r.seq, r.epoch, r.payload) for r in got] == [(2, 3, 1, b"new"), (2, 4, 1, b"new")]
    assert consumer.read() is None
    assert consumer.used_bytes() == 0


def test_explicit_old_epoch_is_dropped(make_ring, attached):
    """A producer still finishing a cancelled job stamps the job's epoch, so it is dropped."""
    producer = make_ring(4096)
    consumer = attached(producer.name)
    job_epoch = producer.epoch
    producer.bump_epoch()
    assert producer.write(KIND_FRAMES, 1, 0, b"stale", epoch=job_epoch)
    assert producer.try_write(KIND_FRAMES, 2, 0, b"fresh")
    assert producer.try_write(KIND_FRAMES, 3, 0, b"future", epoch=producer.epoch + 1)
    assert consumer.read().payload == b"fresh"
    assert consumer.read().payload == b"future"
    assert consumer.read() is None


def test_discard_all(make_ring, attached):
    producer = make_ring(4096)
    consumer = attached(producer.name)
    for seq in range(5):
        assert producer.try_write(KIND_PCM, 1, seq, bytes(seq * 10))
    expected = sum(record_size(seq * 10) for seq in range(5))
    assert consumer.discard_all() == expected
    assert consumer.read() is None
    assert consumer.used_bytes() == 0
    assert consumer.discard_all() == 0
    assert producer.try_write(KIND_PCM, 1, 5, b"after")
    assert consumer.read().payload == b"after"


# --- corruption / validation ----------------------------------------------------


def test_bad_record_magic_raises(make_ring, attached):
    producer = make_ring(4096)
    consumer = attached(producer.name)
    assert producer.try_write(KIND_PCM, 1, 0, b"payload")
    raw = ring_module._open_untracked(producer.name)
    try:
        raw.buf[HEADER_SIZE:HEADER_SIZE + 4] = b"\xde\xad\xbe\xef"
    finally:
        raw.close()
    with pytest.raises(RingCorrupted, match="bad record magic"):
        consumer.read()


def test_attach_rejects_segment_without_ring_magic():
    name = unique_name("raw")
    raw = ring_module._open_untracked(name, create=True, size=HEADER_SIZE + 1024)
    try:
        with pytest.raises(RingCorrupted):
            Ring.attach(name)
    finally:
        raw.close()
        assert unlink_segments_with_prefix(name) == [name]


@pytest.mark.parametrize("capacity", [0, 8, MIN_CAPACITY - 8, 1001])
def test_create_rejects_bad_capacity(capacity):
    name = unique_name("cap")
    with pytest.raises(ValueError):
        Ring.create(name, capacity)
    assert not shm_exists(name)


# --- lifecycle --------------------------------------------------------------------


def test_attach_missing_raises_file_not_found():
    with pytest.raises(FileNotFoundError):
        Ring.attach(unique_name("missing"))


def test_close_and_unlink_are_idempotent():
    ring = Ring.create(unique_name("life"), 1024)
    other = Ring.attach(ring.name)
    assert shm_exists(ring.name)
    other.close()
    other.close()
    ring.close()
    ring.close()
    assert shm_exists(ring.name)  # close() never unlinks
    ring.unlink()
    assert not shm_exists(ring.name)
    ring.unlink()
    other.unlink()
    with pytest.raises(FileNotFoundError):
        Ring.attach(ring.name)


def test_close_with_outstanding_payloads_does_not_raise(make_ring):
    ring = make_ring(1024)
    assert ring.try_write(KIND_FRAMES, 1, 0, np.ones(16, dtype=np.float32))
    record = ring.read()
    frames = np.frombuffer(record.payload, dtype=np.float32)  # views of the copy, not of shm
    ring.close()
    assert frames.sum() == 16


def test_create_replaces_stale_segment():
    name = unique_name("stale")
    crashed = Ring.create(name, 1024)
    assert crashed.try_write(KIND_PCM, 1, 0, b"left over")
    crashed.bump_epoch()
    crashed.close()  # crashed run: never unlinked
    fresh = Ring.create(name, 2048)
    try:
        assert fresh.capacity == 2048
        assert (fresh.used_bytes(), fresh.epoch, fresh.write_pos) == (0, 0, 0)
        assert fresh.read() is None
    finally:
        fresh.close()
        fresh.unlink()


def test_unlink_segments_with_prefix_only_matching():
    run_a = f"{TEST_PREFIX}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    run_b = f"{TEST_PREFIX}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    rings = [Ring.create(f"{run}_{tag}", 1024) for run in (run_a, run_b) for tag in ("ac2vo", "vo2sink")]
    try:
        assert segment_names_with_prefix(run_a) == [f"{run_a}_ac2vo", f"{run_a}_vo2sink"]
        removed = unlink_segments_with_prefix(run_a + "_")
        assert sorted(removed) == [f"{run_a}_ac2vo", f"{run_a}_vo2sink"]
        assert segment_names_with_prefix(run_a) == []
        assert segment_names_with_prefix(run_b) == [f"{run_b}_ac2vo", f"{run_b}_vo2sink"]
        assert unlink_segments_with_prefix(run_a) == []
        with pytest.raises(ValueError):
            unlink_segments_with_prefix("")
    finally:
        for ring in rings:
            ring.close()
            ring.unlink()
    assert segment_names_with_prefix(run_b) == []


def test_attaching_process_exit_does_not_unlink_or_warn():
    """Python 3.11 registers attached segments with the resource_tracker; ours must not."""
    ring = Ring.create(unique_name("tracker"), 1024)
    child_code = (
        "import sys\n"
        "from ipc.ring import Ring, KIND_PCM\n"
        "r = Ring.attach(sys.argv[1])\n"
        "assert r.try_write(KIND_PCM, 1, 0, b'from child')\n"
        "r.close()\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", child_code, ring.name],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # no "leaked shared_memory" warning from the child's tracker
        assert shm_exists(ring.name)
        assert ring.read().payload == b"from child"
    finally:
        ring.close()
        ring.unlink()


# --- two real processes -----------------------------------------------------------


def stress_payload(seq: int) -> bytes:
    """Deterministic payload for seq: sha256(body) + body, mostly small, sometimes large."""
    rng = random.Random(seq)
    if rng.random() < 0.8:
        body_size = rng.randint(0, 4000)
    else:
        body_size = rng.randint(4000, 40000)
    body = rng.randbytes(body_size)
    return hashlib.sha256(body).digest() + body


def stress_plan() -> tuple[int, int, int]:
    """(record count, payload bytes, ring bytes) the producer will send before JOB_END."""
    count = payload_bytes = ring_bytes = 0
    while payload_bytes < STRESS_TARGET_BYTES:
        nbytes = len(stress_payload(count))
        payload_bytes += nbytes
        ring_bytes += record_size(nbytes)
        count += 1
    return count, payload_bytes, ring_bytes


def stress_producer(name: str, results) -> None:
    ring = Ring.attach(name)
    try:
        seq = payload_bytes = full_waits = 0
        while payload_bytes < STRESS_TARGET_BYTES:
            payload = stress_payload(seq)
            if ring.free_bytes() < record_size(len(payload)):
                full_waits += 1
            assert ring.write(KIND_PCM, STRESS_JOB, seq, payload, voice=seq % 3, aux=len(payload), timeout=20.0)
            payload_bytes += len(payload)
            seq += 1
        summary = struct.pack("<QQ", seq, payload_bytes)
        assert ring.write(KIND_JOB_END, STRESS_JOB, seq, summary, timeout=20.0)
        results.put(("producer", seq, payload_bytes, full_waits))
    finally:
        ring.close()


def stress_consumer(name: str, results) -> None:
    ring = Ring.attach(name)
    try:
        expected_seq = payload_bytes = 0
        deadline = time.monotonic() + STRESS_TIMEOUT_SECONDS
        while True:
            record = ring.read()
            if record is None:
                assert time.monotonic() < deadline, "consumer timed out"
                time.sleep(0.0002)
                continue
            assert record.job == STRESS_JOB
            assert record.seq == expected_seq, (record.seq, expected_seq)
            if record.kind == KIND_JOB_END:
                assert struct.unpack("<QQ", record.payload) == (expected_seq, payload_bytes)
                break
            assert record.kind == KIND_PCM
            digest, body = record.payload[:DIGEST_SIZE], record.payload[DIGEST_SIZE:]
            assert hashlib.sha256(body).digest() == digest, f"checksum mismatch at seq {expected_seq}"
            assert record.payload == stress_payload(expected_seq)
            assert (record.voice, record.aux) == (expected_seq % 3, len(record.payload))
            payload_bytes += len(record.payload)
            expected_seq += 1
            if expected_seq % 64 == 0:
                time.sleep(0.003)  # a slow consumer makes the producer hit back-pressure
        assert ring.read() is None
        results.put(("consumer", expected_seq, payload_bytes))
    finally:
        ring.close()


def test_two_processes_stream_megabytes_through_small_ring(make_ring):
    ring = make_ring(STRESS_CAPACITY, tag="stress")
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    consumer = context.Process(target=stress_consumer, args=(ring.name, results))
    producer = context.Process(target=stress_producer, args=(ring.name, results))
    consumer.start()
    producer.start()
    summaries = {}
    deadline = time.monotonic() + STRESS_TIMEOUT_SECONDS
    try:
        # Poll so that a crashed child fails the test at once instead of after the timeout.
        while len(summaries) < 2 and time.monotonic() < deadline:
            if any(process.exitcode not in (None, 0) for process in (producer, consumer)):
                break
            try:
                summary = results.get(timeout=0.2)
            except queue.Empty:
                continue
            summaries[summary[0]] = summary[1:]
    finally:
        producer.join(timeout=10)
        consumer.join(timeout=10)
        for process in (producer, consumer):
            if process.is_alive():
                process.kill()
                process.join()
    assert producer.exitcode == 0
    assert consumer.exitcode == 0
    assert set(summaries) == {"producer", "consumer"}

    count, payload_bytes, ring_bytes = stress_plan()
    assert payload_bytes >= STRESS_TARGET_BYTES
    produced_count, produced_bytes, full_waits = summaries["producer"]
    assert (produced_count, produced_bytes) == (count, payload_bytes)
    assert summaries["consumer"] == (count, payload_bytes)
    job_end_bytes = record_size(16)
    assert ring.write_pos == ring.read_pos == ring_bytes + job_end_bytes
    assert ring.write_pos > 50 * ring.capacity  # wrapped many times
    assert full_waits > 10  # back-pressure really happened


# --- property-based: ring against a deque model ---------------------------------------


class RingModelMachine(RuleBasedStateMachine):
    """Random write/read/bump/discard sequences; ring state must always match a plain model."""

    def __init__(self) -> None:
        super().__init__()
        self.producer: Ring | None = None
        self.consumer: Ring | None = None

    @initialize(capacity=st.integers(MIN_CAPACITY // 8, 160).map(lambda words: words * 8))
    def open_ring(self, capacity: int) -> None:
        self.producer = Ring.create(unique_name("hyp"), capacity)
        self.consumer = Ring.attach(self.producer.name)
        self.model: deque[tuple[Record, int]] = deque()
        self.write_pos = 0
        self.read_pos = 0
        self.epoch = 0

    def teardown(self) -> None:
        if self.producer is not None:
            self.consumer.close()
            self.producer.close()
            self.producer.unlink()

    @rule(
        payload=st.binary(max_size=700),
        kind=st.sampled_from([KIND_FRAMES, KIND_PCM, KIND_CLAUSE_END, KIND_JOB_END, 99]),
        job=st.integers(0, 2**64 - 1),
        seq=st.integers(0, 2**32 - 1),
        voice=st.integers(0, 2**32 - 1),
        stamp=st.sampled_from(["current", "older", "newer"]),
        as_numpy=st.booleans(),
    )
    def try_write(self, payload, kind, job, seq, voice, stamp, as_numpy) -> None:
        total = record_size(len(payload))
        epoch = {"current": None, "older": self.epoch - 1, "newer": self.epoch + 1}[stamp]
        if epoch is not None and epoch < 0:
            epoch = None
        data = np.frombuffer(payload, dtype=np.uint8) if as_numpy else payload
        if total > self.producer.capacity:
            with pytest.raises(RecordTooLarge):
                self.producer.try_write(kind, job, seq, data, voice=voice, aux=len(payload), epoch=epoch)
            return
        fits = self.producer.capacity - (self.write_pos - self.read_pos) >= total
        ok = self.producer.try_write(kind, job, seq, data, voice=voice, aux=len(payload), epoch=epoch)
        assert ok == fits
        if ok:
            stamped = self.epoch if epoch is None else epoch
            record = Record(kind=kind, job=job, epoch=stamped, seq=seq, voice=voice, aux=len(payload), payload=payload)
            self.model.append((record, total))
            self.write_pos += total

    @rule()
    def read(self) -> None:
        got = self.consumer.read()
        while self.model and self.model[0][0].epoch < self.epoch:
            _, total = self.model.popleft()
            self.read_pos += total
        if not self.model:
            assert got is None
            return
        expected, total = self.model.popleft()
        self.read_pos += total
        assert got == expected

    @rule()
    def bump_epoch(self) -> None:
        self.epoch += 1
        assert self.producer.bump_epoch() == self.epoch

    @rule()
    def discard_all(self) -> None:
        assert self.consumer.discard_all() == self.write_pos - self.read_pos
        self.read_pos = self.write_pos
        self.model.clear()

    @invariant()
    def state_matches_model(self) -> None:
        if self.producer is None:
            return
        assert self.producer.write_pos == self.consumer.write_pos == self.write_pos
        assert self.producer.read_pos == self.consumer.read_pos == self.read_pos
        assert self.consumer.used_bytes() == self.write_pos - self.read_pos
        assert self.producer.free_bytes() == self.producer.capacity - (self.write_pos - self.read_pos)
        assert self.consumer.epoch == self.epoch


RingModelMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRingModel = RingModelMachine.TestCase
