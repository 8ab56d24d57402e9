"""Stop a model run the moment its job is cancelled, so the next request does not wait for it.

A worker's loop sees a Cancel only between onnxruntime calls, and one call can take hundreds of
milliseconds (a long clause, a slow rate). A screen reader cancels and speaks again on every key
press, so the new message would wait for the old call to finish. The supervisor therefore also
publishes every cancel on a PUB socket; a listener thread here (the only other thread in a worker,
with its own SUB socket) sets onnxruntime's RunOptions.terminate when the job being run is
cancelled, and onnxruntime stops at its next node. The worker's loop treats the error of such a
run as the cancel it is.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from contextlib import contextmanager

import onnxruntime
import zmq

from engine.workerlib import MAX_REMEMBERED_CANCELS
from ipc import messages


def publish_cancel(socket: zmq.Socket, jobs: list[int]) -> None:
    """Supervisor side: PUB never blocks; a worker that is not listening just misses it."""
    try:
        socket.send(json.dumps(jobs).encode(), zmq.NOBLOCK)
    except zmq.ZMQError:
        pass


class RunInterrupter:
    """Owns the RunOptions every model of this worker runs with."""

    def __init__(self, context: zmq.Context, endpoint: str):
        self.options = onnxruntime.RunOptions()
        self.lock = threading.Lock()
        self.current_job: int | None = None
        self.cancelled: deque = deque(maxlen=MAX_REMEMBERED_CANCELS)
        if endpoint:
            threading.Thread(target=self._listen, args=(context, endpoint), name="interrupt",
                             daemon=True).start()

    def _listen(self, context: zmq.Context, endpoint: str) -> None:
        socket = context.socket(zmq.SUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SUBSCRIBE, b"")
        socket.connect(endpoint)
        while True:
            try:
                jobs = json.loads(socket.recv())
            except zmq.ContextTerminated:
                return
            except ValueError:
                continue
            if not isinstance(jobs, list):
                continue
            with self.lock:
                self.cancelled.extend(job for job in jobs if isinstance(job, int))
                if self.current_job in jobs:
                    self.options.terminate = True

    @contextmanager
    def running(self, job: int):
        """Model runs inside this block stop early if `job` is (or gets) cancelled."""
        with self.lock:
            self.current_job = job
            self.options.terminate = job in self.cancelled
        try:
            yield
        finally:
            with self.lock:
                self.current_job = None
                self.options.terminate = False

    def was_cancelled(self, job: int) -> bool:
        """After a failed run: was it stopped because its job was cancelled?"""
        with self.lock:
            return job in self.cancelled

    def outcome(self, job: int, reason: str):
        """What a worker reports after a run for `job` raised: a stop on cancel, or a real failure."""
        if self.was_cancelled(job):
            return messages.RunStopped(job=job)
        return messages.JobFailed(job=job, errno=messages.E_WORKER_FAILED, reason=reason)
