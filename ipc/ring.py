"""Single-producer single-consumer record ring in POSIX shared memory.

Carries records between separate OS processes (acoustic -> vocoder latent
frames, vocoder -> sink PCM). The supervisor creates and unlinks segments;
workers attach by name.

Segment layout: a 256-byte header, then ``capacity`` data bytes.

    offset   0  uint64  magic (high 32 bits) | layout version (low 32 bits)
    offset   8  uint64  capacity of the data area in bytes
    offset  64  uint64  write_pos  (written only by the producer)
    offset 128  uint64  read_pos   (written only by the consumer)
    offset 192  uint64  epoch      (written by whoever flushes / cancels)

Each header field sits on its own 64-byte cache line so the producer and the
consumer do not fight over one line. Positions are monotonically increasing
byte counters; the data index is ``pos % capacity``. The producer copies a
whole record in (possibly in two parts around the end of the data area) before
publishing the new write_pos; the consumer copies a record out before
publishing the new read_pos. So each side only ever sees complete records.

Header fields are accessed through a native uint64 memoryview, so every load
and store is a single aligned 8-byte access (struct.pack_into on "<Q" goes
byte by byte, and a torn write_pos would let the consumer read garbage).
This relies on a little-endian host, which is checked at import time. Python
offers no memory fences; the ordering guarantee is the hardware's store order
(x86-64 TSO). On weakly ordered CPUs (aarch64) the interpreter's own locking
between the data copy and the position store makes reordering very unlikely,
and the record magic check turns any torn record into RingCorrupted instead of
silent garbage.

Record = RECORD_HEADER + payload, payload padded to a multiple of 8 bytes.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing import shared_memory
from typing import Callable

if sys.byteorder != "little":
    raise ImportError("ipc.ring stores little-endian uint64 fields natively; big-endian hosts are unsupported")

# Segment header.
HEADER_SIZE = 256
SEGMENT_MAGIC = 0x54545344  # "TTSD"
LAYOUT_VERSION = 1
SEGMENT_MAGIC_WORD = (SEGMENT_MAGIC << 32) | LAYOUT_VERSION
# Indexes into the header viewed as uint64 words (byte offset // 8).
WORD_MAGIC = 0 // 8
WORD_CAPACITY = 8 // 8
WORD_WRITE_POS = 64 // 8
WORD_READ_POS = 128 // 8
WORD_EPOCH = 192 // 8

# Records.
RECORD_HEADER = struct.Struct("<IIQQIIII")  # magic, kind, job, epoch, seq, voice, aux, nbytes -> 40 bytes
RECORD_MAGIC = 0x54545344  # "TTSD"
RECORD_ALIGN = 8

KIND_FRAMES = 1
KIND_PCM = 2
KIND_CLAUSE_END = 3
KIND_JOB_END = 4

# A frames record's aux: the job's gain in thousandths, and in the top byte which vocoder to use.
VOCODERS = ("neural", "griffin-lim")
AUX_GAIN_MASK = 0x00FFFFFF


def frames_aux(gain: float, vocoder: str) -> int:
    return (VOCODERS.index(vocoder) << 24) | min(AUX_GAIN_MASK, max(0, int(round(gain * 1000))))


def split_frames_aux(aux: int) -> tuple[float, str]:
    code = aux >> 24
    return (aux & AUX_GAIN_MASK) / 1000.0, VOCODERS[code] if code < len(VOCODERS) else VOCODERS[0]

# Capacity limits: multiple of 8 so records stay 8-byte aligned; big enough
# for at least one empty record.
MIN_CAPACITY = 64

# Back-pressure polling interval for write().
WRITE_POLL_SECONDS = 0.0005

# Where POSIX shared memory segments appear on Linux.
SHM_DIR = "/dev/shm"


@dataclass(frozen=True)
class Record:
    kind: int
    job: int
    epoch: int
    seq: int
    voice: int
    aux: int
    payload: bytes


class RingFullTimeout(Exception):
    """write() waited for free space longer than its timeout."""


class RecordTooLarge(ValueError):
    """The record is larger than the whole ring, so it can never fit."""


class RingCorrupted(Exception):
    """Segment or record header failed validation; the ring cannot be trusted."""


def _padded(nbytes: int) -> int:
    return (nbytes + RECORD_ALIGN - 1) // RECORD_ALIGN * RECORD_ALIGN


def record_size(payload_nbytes: int) -> int:
    """Bytes a record with this payload occupies in the ring."""
    return RECORD_HEADER.size + _padded(payload_nbytes)


def _open_untracked(name: str, create: bool = False, size: int = 0) -> shared_memory.SharedMemory:
    """Open a segment without leaving it registered with the resource_tracker.

    Python 3.11 registers every SharedMemory, even when only attaching, and the
    tracker then unlinks (or warns about) the segment when the process exits.
    Ownership here is explicit: the supervisor calls unlink().
    """
    shm = shared_memory.SharedMemory(name=name, create=create, size=size)
    resource_tracker.unregister(shm._name, "shared_memory")
    return shm


def _unlink_name(name: str) -> bool:
    """Remove a segment name; False if it did not exist."""
    try:
        shm = _open_untracked(name)
    except FileNotFoundError:
        return False
    shm.close()
    # SharedMemory.unlink() unregisters from the tracker; register first so the
    # tracker's bookkeeping stays balanced and it prints no KeyError.
    resource_tracker.register(shm._name, "shared_memory")
    try:
        shm.unlink()
    except FileNotFoundError:
        resource_tracker.unregister(shm._name, "shared_memory")
        return False
    return True


def _as_bytes_view(payload: bytes | bytearray | memoryview | object) -> memoryview:
    """Flat unsigned-byte view of any C-contiguous buffer (bytes, memoryview, numpy array)."""
    view = memoryview(payload)
    if not view.c_contiguous:
        view.release()
        raise ValueError("payload must be C-contiguous")
    if view.format == "B" and view.ndim == 1:
        return view
    try:
        flat = view.cast("B")
    except TypeError:
        # Formats memoryview cannot cast (structured or non-native numpy dtypes): copy once.
        flat = memoryview(view.tobytes())
    view.release()
    return flat


def _payload_nbytes(payload: bytes | bytearray | memoryview | object) -> int:
    with memoryview(payload) as view:
        return view.nbytes


class Ring:
    """One SPSC ring. Exactly one process writes, exactly one process reads."""

    def __init__(self, shm: shared_memory.SharedMemory, name: str, capacity: int) -> None:
        # Use create() or attach(); this only wires up the views.
        self.name = name
        self.capacity = capacity
        self._shm = shm
        self._words = shm.buf[:HEADER_SIZE].cast("Q")
        self._data = shm.buf[HEADER_SIZE:HEADER_SIZE + capacity]
        self._closed = False

    @classmethod
    def create(cls, name: str, capacity: int) -> "Ring":
        """Create a fresh segment, replacing a stale one left by a crashed run."""
        if capacity < MIN_CAPACITY or capacity % RECORD_ALIGN:
            raise ValueError(f"capacity must be a multiple of {RECORD_ALIGN} and >= {MIN_CAPACITY}, got {capacity}")
        _unlink_name(name)
        shm = _open_untracked(name, create=True, size=HEADER_SIZE + capacity)
        shm.buf[:HEADER_SIZE] = bytes(HEADER_SIZE)
        ring = cls(shm, name, capacity)
        ring._words[WORD_CAPACITY] = capacity
        ring._words[WORD_MAGIC] = SEGMENT_MAGIC_WORD  # last: marks the header complete
        return ring

    @classmethod
    def attach(cls, name: str) -> "Ring":
        """Open an existing segment by name. Raises FileNotFoundError if missing."""
        shm = _open_untracked(name)
        try:
            if shm.size < HEADER_SIZE:
                raise RingCorrupted(f"segment {name!r} is too small for a ring header ({shm.size} bytes)")
            magic_word, capacity = struct.unpack_from("<QQ", shm.buf, 0)
            if magic_word != SEGMENT_MAGIC_WORD:
                raise RingCorrupted(f"segment {name!r} has bad magic/version {magic_word:#018x}")
            if capacity < MIN_CAPACITY or capacity % RECORD_ALIGN or HEADER_SIZE + capacity > shm.size:
                raise RingCorrupted(f"segment {name!r} has bad capacity {capacity} for size {shm.size}")
        except BaseException:
            shm.close()
            raise
        return cls(shm, name, capacity)

    def __enter__(self) -> "Ring":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Release our views before SharedMemory's own finaliser closes the mmap,
        # otherwise it reports BufferError at interpreter shutdown.
        if getattr(self, "_closed", True) is False:
            self.close()

    def close(self) -> None:
        """Release the mapping in this process. Idempotent; does not unlink."""
        if self._closed:
            return
        self._closed = True
        self._words.release()
        self._data.release()
        self._shm.close()

    def unlink(self) -> None:
        """Remove the segment name (supervisor only). Idempotent."""
        _unlink_name(self.name)

    # -- positions -----------------------------------------------------------

    @property
    def write_pos(self) -> int:
        """Total bytes ever published by the producer (diagnostics, tests)."""
        return self._words[WORD_WRITE_POS]

    @property
    def read_pos(self) -> int:
        """Total bytes ever consumed (diagnostics, tests)."""
        return self._words[WORD_READ_POS]

    @property
    def epoch(self) -> int:
        return self._words[WORD_EPOCH]

    def bump_epoch(self) -> int:
        """Cancel everything in flight: read() drops records stamped with an older epoch.

        Read-modify-write, so only one process (the supervisor, or the single
        canceller) should bump a given ring.
        """
        new_epoch = self._words[WORD_EPOCH] + 1
        self._words[WORD_EPOCH] = new_epoch
        return new_epoch

    def used_bytes(self) -> int:
        return self._words[WORD_WRITE_POS] - self._words[WORD_READ_POS]

    def free_bytes(self) -> int:
        return self.capacity - self.used_bytes()

    # -- raw data copies (handle the wrap at the end of the data area) -------

    def _copy_in(self, pos: int, src: memoryview | bytes) -> None:
        start = pos % self.capacity
        first = min(len(src), self.capacity - start)
        self._data[start:start + first] = src[:first]
        if first < len(src):
            self._data[:len(src) - first] = src[first:]

    def _copy_out(self, pos: int, nbytes: int) -> bytes:
        start = pos % self.capacity
        first = min(nbytes, self.capacity - start)
        if first == nbytes:
            return bytes(self._data[start:start + nbytes])
        return bytes(self._data[start:]) + bytes(self._data[:nbytes - first])

    # -- producer side --------------------------------------------------------

    def try_write(
        self,
        kind: int,
        job: int,
        seq: int,
        payload: bytes | bytearray | memoryview | object,
        voice: int = 0,
        aux: int = 0,
        epoch: int | None = None,
    ) -> bool:
        """Append one record if it fits now; False when the ring is too full.

        epoch=None stamps the ring's current epoch. A producer working on a job
        should pass the epoch it saw when the job started, so that a cancel
        arriving mid-job also drops the job's later records.
        """
        with _as_bytes_view(payload) as body:
            nbytes = body.nbytes
            total = record_size(nbytes)
            if total > self.capacity:
                raise RecordTooLarge(f"record of {total} bytes can never fit a ring of {self.capacity} bytes")
            write_pos = self._words[WORD_WRITE_POS]
            read_pos = self._words[WORD_READ_POS]
            if self.capacity - (write_pos - read_pos) < total:
                return False
            if epoch is None:
                epoch = self._words[WORD_EPOCH]
            header = RECORD_HEADER.pack(RECORD_MAGIC, kind, job, epoch, seq, voice, aux, nbytes)
            self._copy_in(write_pos, header)
            if nbytes:
                self._copy_in(write_pos + RECORD_HEADER.size, body)
        # Publish only after the whole record is in place.
        self._words[WORD_WRITE_POS] = write_pos + total
        return True

    def write(
        self,
        kind: int,
        job: int,
        seq: int,
        payload: bytes | bytearray | memoryview | object,
        voice: int = 0,
        aux: int = 0,
        timeout: float = 5.0,
        should_abort: Callable[[], bool] | None = None,
        epoch: int | None = None,
    ) -> bool:
        """Append one record, waiting while the ring is full (back-pressure).

        Returns False if should_abort() turned true while waiting (e.g. the job
        was cancelled); raises RingFullTimeout if the consumer did not make room
        within timeout seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.try_write(kind, job, seq, payload, voice=voice, aux=aux, epoch=epoch):
                return True
            if should_abort is not None and should_abort():
                return False
            if time.monotonic() >= deadline:
                raise RingFullTimeout(
                    f"ring {self.name!r}: no room for {record_size(_payload_nbytes(payload))} bytes "
                    f"after {timeout:.3f} s (free {self.free_bytes()})"
                )
            time.sleep(WRITE_POLL_SECONDS)

    # -- consumer side --------------------------------------------------------

    def read(self) -> Record | None:
        """Next record of the current epoch, or None if the ring is empty.

        Records stamped with an older epoch are consumed and dropped silently.
        """
        while True:
            read_pos = self._words[WORD_READ_POS]
            write_pos = self._words[WORD_WRITE_POS]
            available = write_pos - read_pos
            if available == 0:
                return None
            if available < RECORD_HEADER.size or available > self.capacity:
                raise RingCorrupted(
                    f"ring {self.name!r}: impossible positions read={read_pos} write={write_pos}"
                )
            magic, kind, job, rec_epoch, seq, voice, aux, nbytes = RECORD_HEADER.unpack(
                self._copy_out(read_pos, RECORD_HEADER.size)
            )
            if magic != RECORD_MAGIC:
                raise RingCorrupted(f"ring {self.name!r}: bad record magic {magic:#010x} at position {read_pos}")
            total = record_size(nbytes)
            if total > available:
                raise RingCorrupted(
                    f"ring {self.name!r}: record at {read_pos} claims {total} bytes, only {available} published"
                )
            if rec_epoch < self._words[WORD_EPOCH]:
                self._words[WORD_READ_POS] = read_pos + total
                continue
            payload = self._copy_out(read_pos + RECORD_HEADER.size, nbytes) if nbytes else b""
            # Publish only after the record has been copied out.
            self._words[WORD_READ_POS] = read_pos + total
            return Record(kind=kind, job=job, epoch=rec_epoch, seq=seq, voice=voice, aux=aux, payload=payload)

    def discard_all(self) -> int:
        """Drop everything currently published (consumer side). Returns bytes dropped."""
        read_pos = self._words[WORD_READ_POS]
        write_pos = self._words[WORD_WRITE_POS]
        self._words[WORD_READ_POS] = write_pos
        return write_pos - read_pos


def segment_names_with_prefix(prefix: str) -> list[str]:
    """Shared memory segment names in /dev/shm starting with prefix (sorted)."""
    try:
        entries = os.listdir(SHM_DIR)
    except FileNotFoundError:
        return []
    return sorted(entry for entry in entries if entry.startswith(prefix))


def unlink_segments_with_prefix(prefix: str) -> list[str]:
    """Unlink stale segments (e.g. from a crashed earlier run); returns the names removed."""
    if not prefix:
        raise ValueError("refusing to unlink every shared memory segment: prefix is empty")
    removed = []
    for name in segment_names_with_prefix(prefix):
        if _unlink_name(name):
            removed.append(name)
    return removed
