"""Sink worker: PCM from the PCM ring -> the client stream (through the supervisor).

One loop: read the next PCM record and send it on as an Audio message with the PCM as a binary
frame; at a job's end report JobFinished with its sample count.
"""

from __future__ import annotations

import os
import sys
from collections import deque

import zmq

from engine.workerlib import ControlChannel, drain, make_bell_pull, start_worker
from ipc import messages
from ipc.ring import KIND_CLAUSE_END, KIND_JOB_END, KIND_PCM, Ring

NAME = "sink"
MAX_REMEMBERED_CANCELS = 4096


def main(argv: list[str]) -> int:
    config = start_worker(argv)
    context = zmq.Context()
    control = ControlChannel(config, context)
    pcm_ring = Ring.attach(config.pcm_ring)
    my_bell = make_bell_pull(context, config.bell_endpoint)
    control.send(messages.Ready(worker=NAME, pid=os.getpid(), voices=[voice.name for voice in config.voices]))

    samples_sent: dict[int, int] = {}
    chunks_sent: dict[int, int] = {}
    cancelled: deque[int] = deque(maxlen=MAX_REMEMBERED_CANCELS)
    poller = zmq.Poller()
    poller.register(control.socket, zmq.POLLIN)
    poller.register(my_bell, zmq.POLLIN)
    interval_ms = int(config.heartbeat_interval * 1000)

    while True:
        poller.poll(0 if pcm_ring.used_bytes() else interval_ms)
        drain(my_bell)
        for msg in control.receive_all():
            if isinstance(msg, messages.Shutdown):
                return 0
            if isinstance(msg, messages.Cancel):
                cancelled.extend(msg.jobs)
                for job in msg.jobs:
                    samples_sent.pop(job, None)
                    chunks_sent.pop(job, None)
        control.tick()
        record = pcm_ring.read()
        if record is None or record.job in cancelled:
            continue
        if record.kind == KIND_PCM:
            samples = len(record.payload) // 2
            seq = chunks_sent.get(record.job, 0)
            control.send(messages.Audio(job=record.job, seq=seq, sample_rate=record.aux, samples=samples),
                         record.payload)
            chunks_sent[record.job] = seq + 1
            samples_sent[record.job] = samples_sent.get(record.job, 0) + samples
        elif record.kind == KIND_JOB_END:
            control.send(messages.JobFinished(job=record.job, samples=samples_sent.pop(record.job, 0)))
            chunks_sent.pop(record.job, None)
        elif record.kind == KIND_CLAUSE_END:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
