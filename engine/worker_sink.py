"""Sink worker: PCM from the PCM ring -> the client stream (through the supervisor) or the device.

One loop: read the next PCM record; a "stream" job's PCM is sent on as an Audio message with the
PCM as a binary frame, a "play" job's PCM is queued on the audio device. At a job's end report
JobFinished (for "play": once the device has played it all). Cancel aborts the device at once.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import zmq

from engine.audio_device import DevicePlayer, NoAudioDevice
from engine.workerlib import ControlChannel, drain, log, make_bell_pull, start_worker
from ipc import messages
from ipc.ring import KIND_CLAUSE_END, KIND_JOB_END, KIND_PCM, Ring
from models.manifest import Manifest, ManifestError

NAME = "sink"
PLAYING_POLL_MS = 5          # while the device plays, look for finished jobs this often


def main(argv: list[str]) -> int:
    config = start_worker(argv)
    context = zmq.Context()
    control = ControlChannel(config, context)
    pcm_ring = Ring.attach(config.pcm_ring)
    my_bell = make_bell_pull(context, config.bell_endpoint)
    player = DevicePlayer(device_spec=config.device or None)
    try:   # warm start: open the device now so the first played message does not pay for it
        player.open(Manifest.load(Path(config.voices[0].path)).sample_rate)
    except (NoAudioDevice, ManifestError, IndexError) as error:
        log(NAME, f"no audio device opened at start ({error}); played requests will try again")
    control.send(messages.Ready(worker=NAME, pid=os.getpid(), voices=[voice.name for voice in config.voices]))

    outputs: dict[int, str] = {}
    samples_sent: dict[int, int] = {}
    chunks_sent: dict[int, int] = {}
    voice_rates: dict[int, int] = {}
    cancelled = control.cancelled
    poller = zmq.Poller()
    poller.register(control.socket, zmq.POLLIN)
    poller.register(my_bell, zmq.POLLIN)
    interval_ms = int(config.heartbeat_interval * 1000)

    def forget(job: int) -> None:
        for table in (outputs, samples_sent, chunks_sent, voice_rates):
            table.pop(job, None)

    def fail(job: int, errno: int, reason: str) -> None:
        control.send(messages.JobFailed(job=job, errno=errno, reason=reason))
        cancelled.append(job)
        forget(job)

    while True:
        playing = bool(player.queues) or player.current_job is not None
        poller.poll(0 if pcm_ring.used_bytes() else (PLAYING_POLL_MS if playing else interval_ms))
        drain(my_bell)
        for msg in control.receive_all():
            if isinstance(msg, messages.Shutdown):
                player.close()
                return 0
            if isinstance(msg, messages.Cancel):
                if player.cancel(msg.jobs):
                    control.send(messages.Silenced(jobs=msg.jobs, at=time.monotonic()))
                for job in msg.jobs:
                    forget(job)
            elif isinstance(msg, messages.SinkJob):
                outputs[msg.job] = msg.output
        while player.started:
            job, clause, _when = player.started.popleft()
            control.send(messages.Playing(job=job, clause=clause))
        while player.finished:
            done = player.finished.popleft()
            rate = voice_rates.pop(done.job, player.stream_rate) or 1
            samples = round(done.samples * rate / max(1, player.stream_rate))
            control.send(messages.JobFinished(job=done.job, samples=samples))
            forget(done.job)
        player.stop_when_idle(time.monotonic())
        control.tick()
        record = pcm_ring.read()
        if record is None or record.job in cancelled:
            continue
        output = outputs.get(record.job, "stream")
        if record.kind == KIND_PCM and output == "play":
            try:
                player.open(record.aux)
            except NoAudioDevice as error:
                fail(record.job, messages.E_NO_DEVICE, str(error))
                continue
            voice_rates[record.job] = record.aux
            player.queue(record.job, record.payload, record.aux, record.seq)
        elif record.kind == KIND_PCM:
            samples = len(record.payload) // 2
            seq = chunks_sent.get(record.job, 0)
            control.send(messages.Audio(job=record.job, seq=seq, sample_rate=record.aux, samples=samples,
                                        clause=record.seq), record.payload)
            chunks_sent[record.job] = seq + 1
            samples_sent[record.job] = samples_sent.get(record.job, 0) + samples
        elif record.kind == KIND_JOB_END and output == "play":
            player.end(record.job)
        elif record.kind == KIND_JOB_END:
            control.send(messages.JobFinished(job=record.job, samples=samples_sent.get(record.job, 0)))
            forget(record.job)
        elif record.kind == KIND_CLAUSE_END:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
