"""Acoustic worker: phoneme ids -> frames (Piper latents or mel), written to the frame ring clause by clause.

One loop: take the next Synthesize (next_message: the supervisor's order, with a backlog limit when
several requests are open), run the voice's acoustic model, write the frames into the ring in
records of FRAMES_PER_RECORD (the vocoder starts on the first record), then a CLAUSE_END record.
Cancelled jobs are dropped at every check, also while the ring is full.
"""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path

import zmq

from engine.interrupt import RunInterrupter
from engine.voice_models import FIRST_FLOW_FRAMES, FastSpeech2Acoustic, PiperAcoustic
from engine.workerlib import (ControlChannel, announce_ready, load_voices, log, make_bell_push, ring, start_worker,
                              wait_for_audio)
from ipc import messages
from ipc.ring import KIND_CLAUSE_END, KIND_FRAMES, KIND_JOB_END, Ring, frames_aux
from models.manifest import Manifest

NAME = "acoustic"
FRAMES_PER_RECORD = 32
RING_WAIT_SECONDS = 3600.0    # back-pressure waits as long as the job lives
# After each piece of a message's first clause (the flow gives it in up to three), the acoustic
# stage steps aside until the vocoder has written PCM from it: the first chunk (a ~20 ms decode)
# and the next two then have both cores, and each is out before the audio before it has played.
# With the flow of the clause's rest (or the next clause) running beside those decodes, the second
# chunk came after the first had played in 11-14 of 20 bench sentences, and when only the first two
# pieces were waited for, the third chunk was 19-44 ms late in 2 of 20 (0 of 100 with every piece).
# Then both stages share the CPU evenly: before, the acoustic stage ran at nice 10 all the time;
# the first chunk was as quick, but on long texts the vocoder starved it, ran dry and waited
# (3-paragraph wall ~8 % longer in paired runs against piper-tts).
AUDIO_HANDOFF_SECONDS = 0.06    # bounded: the vocoder may still be finishing a decode
# With several requests open, later clauses wait while this much is queued for the vocoder (~256
# Piper frames, ~3 s of audio): more only puts frames in the ring in front of the next request's
# first clause (8 clients, 3 sentences each: TTFA p50 1.5 s without the limit, 0.4 s with it). A
# request alone runs ahead freely: a limit there left the vocoder waiting (3 paragraphs: +8 % wall).
BACKLOG_LIMIT_BYTES = 256 * 192 * 4
BACKLOG_POLL_MS = 5


def next_message(pending: deque, frames_ring: Ring, open_jobs: set[int]):
    """The supervisor's order (priorities, first clauses first), except that with other requests open
    a later clause waits while the vocoder has a backlog, and a first clause queued behind it may go
    ahead (it is its job's first message, so no job's own order changes). None: wait."""
    if not pending:
        return None
    head = pending[0]
    urgent = isinstance(head, messages.EndJob) or (isinstance(head, messages.Synthesize) and head.clause == 0)
    others_open = bool(open_jobs - {getattr(head, "job", None)})
    if urgent or not others_open or frames_ring.used_bytes() < BACKLOG_LIMIT_BYTES:
        return pending.popleft()
    for index, msg in enumerate(pending):
        if isinstance(msg, messages.Synthesize) and msg.clause == 0:
            del pending[index]
            return msg
    return None


def steps_aside(msg: messages.Synthesize, pending: deque, frames_ring: Ring) -> bool:
    """Whether to wait for PCM after writing each piece of this clause's frames: only for a
    message's first clause and only when the vocoder has nothing else to do (with other requests'
    work queued, waiting would only idle a core). The message's own later clauses do wait: a flow
    pass beside the first decode made that decode 35-60 ms instead of ~20."""
    return (msg.clause == 0 and frames_ring.used_bytes() == 0
            and all(getattr(queued, "job", None) == msg.job for queued in pending))


def main(argv: list[str]) -> int:
    config = start_worker(argv)
    context = zmq.Context()
    control = ControlChannel(config, context)
    frames_ring = Ring.attach(config.frames_ring)
    pcm_ring = Ring.attach(config.pcm_ring)      # read-only here: only its write position is watched
    bell = make_bell_push(context, config.next_bell_endpoint)
    interrupter = RunInterrupter(context, config.interrupt_endpoint)

    def load(path: Path, manifest: Manifest) -> PiperAcoustic | FastSpeech2Acoustic:
        kind = FastSpeech2Acoustic if manifest.kind == "mel" else PiperAcoustic
        model = kind(path, manifest, config.onnx_threads)
        model.warm_up()
        model.run_options = interrupter.options
        return model

    models, failed = load_voices(config, load)
    announce_ready(control, models, failed)

    pending: deque = deque()
    open_jobs: set[int] = set()     # requests with a clause seen and no end yet
    cancelled = control.cancelled
    poller = zmq.Poller()
    poller.register(control.socket, zmq.POLLIN)
    interval_ms = int(config.heartbeat_interval * 1000)

    def take_messages() -> None:
        for msg in control.receive_all():
            if isinstance(msg, messages.Shutdown):
                sys.exit(0)
            if isinstance(msg, messages.Cancel):
                open_jobs.difference_update(msg.jobs)
                kept = [m for m in pending if m.job not in msg.jobs]
                pending.clear()
                pending.extend(kept)
            else:
                pending.append(msg)

    def job_cancelled(job: int) -> bool:
        """Checked while the ring is full: keeps heartbeats going and notices cancels."""
        take_messages()
        control.tick()
        return job in cancelled

    held_back = False
    while True:
        poller.poll(BACKLOG_POLL_MS if held_back else 0 if pending else interval_ms)
        take_messages()
        control.tick()
        msg = next_message(pending, frames_ring, open_jobs)
        held_back = msg is None and bool(pending)
        if msg is None or msg.job in cancelled:
            continue
        if isinstance(msg, messages.EndJob):
            open_jobs.discard(msg.job)
            frames_ring.write(KIND_JOB_END, msg.job, 0, b"", voice=msg.voice,
                              should_abort=lambda job=msg.job: job_cancelled(job), timeout=RING_WAIT_SECONDS)
            ring(bell)
            continue
        if not isinstance(msg, messages.Synthesize):
            log(NAME, f"ignoring unexpected {msg.TYPE} message")
            continue
        open_jobs.add(msg.job)
        model = models.get(msg.voice)
        if model is None:
            control.send(messages.JobFailed(job=msg.job, errno=messages.E_VOICE_UNAVAILABLE,
                                            reason="the voice failed to load in the acoustic worker"))
            continue
        aux = frames_aux(msg.gain, msg.vocoder)
        total = 0
        aborted = False
        first_frames = FIRST_FLOW_FRAMES if msg.clause == 0 else None   # only the first clause is urgent
        step_aside = steps_aside(msg, pending, frames_ring)
        try:
            with interrupter.running(msg.job):
                for z in model.run_chunks(msg.ids, msg.length_scale, msg.noise_scale, msg.noise_w, first_frames):
                    pcm_written_before = pcm_ring.write_pos
                    for start in range(0, z.shape[1], FRAMES_PER_RECORD):
                        part = z[:, start:start + FRAMES_PER_RECORD].copy(order="C")
                        if not frames_ring.write(KIND_FRAMES, msg.job, msg.clause, part, voice=msg.voice, aux=aux,
                                                 should_abort=lambda job=msg.job: job_cancelled(job),
                                                 timeout=RING_WAIT_SECONDS):
                            aborted = True
                            break
                        ring(bell)
                    if step_aside and not aborted:
                        wait_for_audio(pcm_ring, pcm_written_before, AUDIO_HANDOFF_SECONDS,
                                       lambda job=msg.job: job_cancelled(job))
                    total += z.shape[1]
                    if aborted or job_cancelled(msg.job):
                        aborted = True
                        break
        except Exception as error:  # a bad request never kills the worker
            control.send(interrupter.outcome(msg.job, f"acoustic model failed: {error}"))
            continue
        if aborted:
            continue
        frames_ring.write(KIND_CLAUSE_END, msg.job, msg.clause, b"", voice=msg.voice, aux=total,
                          should_abort=lambda job=msg.job: job_cancelled(job), timeout=RING_WAIT_SECONDS)
        ring(bell)
        control.send(messages.ClauseSynthesized(job=msg.job, clause=msg.clause, frames=total))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
