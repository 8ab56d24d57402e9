"""Vocoder worker: frames (Piper latents or mel) from the frame ring -> int16 PCM into the PCM ring.

One loop: read the next frame record, feed it to that clause's ChunkedDecoder, write every chunk
of audio that is ready (the first chunk is small, so the first PCM leaves early), and pass clause
and job ends on to the sink. Cancelled jobs are dropped at every record.

Mel voices have two vocoders: the neural one (MB-MelGAN) and Griffin-Lim. A record names the one
the request asked for; when the neural one failed to load, Griffin-Lim speaks instead.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zmq

from engine.interrupt import RunInterrupter
from engine.voice_models import (ChunkedDecoder, GriffinLimDecoder, MelGanDecoder, PiperDecoder, chunked_decoder_for,
                                 to_pcm16, trim_leading_silence)
from engine.workerlib import (ControlChannel, announce_ready, drain, load_voices, log, make_bell_pull, make_bell_push,
                              ring, start_worker)
from ipc import messages
from ipc.ring import KIND_CLAUSE_END, KIND_FRAMES, KIND_JOB_END, KIND_PCM, Ring, split_frames_aux
from models.manifest import Manifest

NAME = "vocoder"
RING_WAIT_SECONDS = 3600.0


@dataclass
class VoiceVocoders:
    """A voice's decoders: `neural` may be None for a mel voice whose neural vocoder failed."""

    neural: PiperDecoder | MelGanDecoder | None
    griffin_lim: GriffinLimDecoder | None = None

    def pick(self, wanted: str):
        if wanted == "griffin-lim" and self.griffin_lim is not None:
            return self.griffin_lim
        return self.neural if self.neural is not None else self.griffin_lim


def load_vocoders(path: Path, manifest: Manifest, threads: int) -> VoiceVocoders:
    if manifest.kind != "mel":
        decoder = PiperDecoder(path, manifest, threads)
        decoder.warm_up()
        return VoiceVocoders(neural=decoder)
    griffin_lim = GriffinLimDecoder(manifest)
    griffin_lim.warm_up()
    try:
        neural = MelGanDecoder(path, manifest, threads)
        neural.warm_up()
    except Exception as error:
        log(NAME, f"voice {manifest.name}: neural vocoder failed to load ({error}); speaking through Griffin-Lim")
        neural = None
    return VoiceVocoders(neural=neural, griffin_lim=griffin_lim)


def main(argv: list[str]) -> int:
    config = start_worker(argv)
    context = zmq.Context()
    control = ControlChannel(config, context)
    frames_ring = Ring.attach(config.frames_ring)
    pcm_ring = Ring.attach(config.pcm_ring)
    my_bell = make_bell_pull(context, config.bell_endpoint)
    sink_bell = make_bell_push(context, config.next_bell_endpoint)
    interrupter = RunInterrupter(context, config.interrupt_endpoint)

    voices, failed = load_voices(config, lambda path, manifest: load_vocoders(path, manifest, config.onnx_threads))
    for vocoders in voices.values():
        if vocoders.neural is not None:
            vocoders.neural.run_options = interrupter.options
    degraded = {config.voices[i].name: "the neural vocoder failed to load; speaking through Griffin-Lim"
                for i, vocoders in voices.items() if vocoders.neural is None}
    announce_ready(control, voices, failed, degraded)

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
        vocoders = voices.get(record.voice)
        if vocoders is None:
            if record.kind == KIND_JOB_END:
                control.send(messages.JobFailed(job=record.job, errno=messages.E_VOICE_UNAVAILABLE,
                                                reason="the voice failed to load in the vocoder worker"))
            continue
        sample_rate = vocoders.pick("neural").manifest.sample_rate
        try:
            with interrupter.running(record.job):
                if record.kind == KIND_FRAMES:
                    gain, wanted = split_frames_aux(record.aux)
                    state = clauses.get(key)
                    if state is None:
                        state = clauses[key] = chunked_decoder_for(vocoders.pick(wanted), record.seq)
                    z = np.frombuffer(record.payload, dtype=np.float32).reshape(state.decoder.channels, -1)
                    state.gain = gain
                    for piece in state.push(z):
                        if record.seq == 0 and state.chunks_done == 1:   # the message's very first audio
                            piece = trim_leading_silence(piece, sample_rate)
                        emit(KIND_PCM, record.job, record.seq, record.voice, sample_rate, to_pcm16(piece, state.gain))
                elif record.kind == KIND_CLAUSE_END:
                    state = clauses.pop(key, None)
                    if state is not None:
                        for piece in state.finish():
                            emit(KIND_PCM, record.job, record.seq, record.voice, sample_rate,
                                 to_pcm16(piece, state.gain))
                    emit(KIND_CLAUSE_END, record.job, record.seq, record.voice, sample_rate)
                elif record.kind == KIND_JOB_END:
                    emit(KIND_JOB_END, record.job, record.seq, record.voice, sample_rate)
        except Exception as error:  # a bad record never kills the worker
            clauses.pop(key, None)
            control.send(interrupter.outcome(record.job, f"vocoder failed: {error}"))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
