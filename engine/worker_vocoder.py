"""Vocoder worker: latent frames from the frame ring -> int16 PCM into the PCM ring.

One loop: read the next frame record, feed it to that clause's ChunkedDecoder, write every chunk
of audio that is ready (the first chunk is small, so the first PCM leaves early), and pass clause
and job ends on to the sink. Cancelled jobs are dropped at every record.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import zmq

from engine.voice_models import ChunkedDecoder, PiperDecoder, to_pcm16, trim_leading_silence
from engine.workerlib import (ControlChannel, announce_ready, drain, load_voices, make_bell_pull, make_bell_push,
                              ring, start_worker)
from ipc import messages
from ipc.ring import KIND_CLAUSE_END, KIND_FRAMES, KIND_JOB_END, KIND_PCM, Ring
from models.manifest import Manifest

NAME = "vocoder"
RING_WAIT_SECONDS = 3600.0


def main(argv: list[str]) -> int:
    config = start_worker(argv)
    context = zmq.Context()
    control = ControlChannel(config, context)
    frames_ring = Ring.attach(config.frames_ring)
    pcm_ring = Ring.attach(config.pcm_ring)
    my_bell = make_bell_pull(context, config.bell_endpoint)
    sink_bell = make_bell_push(context, config.next_bell_endpoint)

    def load(path: Path, manifest: Manifest) -> PiperDecoder:
        decoder = PiperDecoder(path, manifest, config.onnx_threads)
        decoder.warm_up()
        return decoder

    decoders, failed = load_voices(config, load)
    announce_ready(control, decoders, failed)

    clauses: dict[tuple[int, int], ChunkedDecoder] = {}
    cancelled = control.cancelled
    poller = zmq.Poller()
    poller.register(control.socket, zmq.POLLIN)
    poller.register(my_bell, zmq.POLLIN)
    interval_ms = int(config.heartbeat_interval * 1000)

    def take_messages() -> None:
        for msg in control.receive_all():
            if isinstance(msg, messages.Shutdown):
                sys.exit(0)
            if isinstance(msg, messages.Cancel):
                for key in [key for key in clauses if key[0] in msg.jobs]:
                    del clauses[key]

    def job_cancelled(job: int) -> bool:
        take_messages()
        control.tick()
        return job in cancelled

    def emit(kind: int, job: int, clause: int, voice: int, aux: int, payload=b"") -> None:
        pcm_ring.write(kind, job, clause, payload, voice=voice, aux=aux, timeout=RING_WAIT_SECONDS,
                       should_abort=lambda: job_cancelled(job))
        ring(sink_bell)

    while True:
        poller.poll(0 if frames_ring.used_bytes() else interval_ms)
        drain(my_bell)
        take_messages()
        control.tick()
        record = frames_ring.read()
        if record is None or record.job in cancelled:
            continue
        key = (record.job, record.seq)
        decoder = decoders.get(record.voice)
        if decoder is None:
            if record.kind == KIND_JOB_END:
                control.send(messages.JobFailed(job=record.job, errno=messages.E_VOICE_UNAVAILABLE,
                                                reason="the voice failed to load in the vocoder worker"))
            continue
        sample_rate = decoder.manifest.sample_rate
        try:
            if record.kind == KIND_FRAMES:
                z = np.frombuffer(record.payload, dtype=np.float32).reshape(decoder.channels, -1)
                state = clauses.setdefault(key, ChunkedDecoder(decoder))
                state.gain = record.aux / 1000.0
                for piece in state.push(z):
                    if record.seq == 0 and state.chunks_done == 1:   # the message's very first audio
                        piece = trim_leading_silence(piece, sample_rate)
                    emit(KIND_PCM, record.job, record.seq, record.voice, sample_rate, to_pcm16(piece, state.gain))
            elif record.kind == KIND_CLAUSE_END:
                state = clauses.pop(key, None)
                if state is not None:
                    for piece in state.finish():
                        emit(KIND_PCM, record.job, record.seq, record.voice, sample_rate, to_pcm16(piece, state.gain))
                emit(KIND_CLAUSE_END, record.job, record.seq, record.voice, sample_rate)
            elif record.kind == KIND_JOB_END:
                emit(KIND_JOB_END, record.job, record.seq, record.voice, sample_rate)
        except Exception as error:  # a bad record never kills the worker
            clauses.pop(key, None)
            control.send(messages.JobFailed(job=record.job, errno=messages.E_WORKER_FAILED,
                                            reason=f"vocoder failed: {error}"))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
