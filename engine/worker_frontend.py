"""Frontend worker: text -> clauses -> phoneme ids, streamed to the supervisor clause by clause.

One loop: take the next Phonemize, and for each clause as soon as it is ready send ClauseReady
(so the acoustic stage can start on clause 1 while we work on clause 2), then PhonemizeDone.
Cancels are checked between clauses.

After a message's first clause, the rest of its text waits until that clause's first audio is out
(bounded, and not while other messages wait): the acoustic stage runs the first clause on both cores,
and normalising and phonemizing the rest of a long text beside it made its first audio later
(3-paragraph text: first audio ~77 -> ~69 ms p50). The rest is still ready long before the first
clause has played.
"""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path

import zmq

from engine.workerlib import ControlChannel, announce_ready, load_voices, start_worker, wait_for_audio
from frontends import NothingToSpeak
from frontends.english import EnglishFrontend
from frontends.g2p_data import load_g2p
from frontends.mandarin import MandarinFrontend
from ipc import messages
from ipc.ring import Ring
from models.manifest import Manifest, verify_files

NAME = "frontend"
FIRST_AUDIO_WAIT_SECONDS = 0.1   # the first audio is normally out ~60 ms after the first clause
# Checked every 5 ms, not every 1 like the acoustic stage: nothing waits on the rest of the text that
# soon, and each check (ring, control socket) is CPU taken from the first clause.
FIRST_AUDIO_POLL_SECONDS = 0.005


def make_frontend_loader(config):
    """One front-end per voice (each voice has its own phoneme table); G2P loaded once per language."""
    english_g2p = []

    def load(_path: Path, manifest: Manifest) -> EnglishFrontend | MandarinFrontend:
        if manifest.language.startswith("zh"):
            symbol_to_id = {symbol: ids[0] for symbol, ids in manifest.phoneme_id_map.items()}
            frontend = MandarinFrontend(symbol_to_id, manifest.pinyin_dict)
            # Load pypinyin's phrases and jieba's dictionary (~1 s) now, not on the first request.
            list(frontend.clauses("今天我们在这里预热一下语音合成的前端。", first_clause_words=6))
            return frontend
        if not manifest.language.startswith("en"):
            raise ValueError(f"no front-end for language {manifest.language}")
        if not english_g2p:
            g2p_dir = Path(config.g2p_data_dir)
            # Only the G2P data whose manifest the supervisor verified, with every file matching it.
            verify_files(g2p_dir, Manifest.load(g2p_dir, config.g2p_manifest_sha256))
            english_g2p.append(load_g2p(g2p_dir))
        frontend = EnglishFrontend(manifest.phoneme_id_map, english_g2p[0])
        frontend.phonemize("warm up")
        return frontend

    return load


def main(argv: list[str]) -> int:
    config = start_worker(argv)
    context = zmq.Context()
    control = ControlChannel(config, context)
    frontends, failed = load_voices(config, make_frontend_loader(config))
    pcm_ring = Ring.attach(config.pcm_ring)      # read-only here: only its write position is watched
    announce_ready(control, frontends, failed)

    pending: deque = deque()
    cancelled = control.cancelled
    poller = zmq.Poller()
    poller.register(control.socket, zmq.POLLIN)
    interval_ms = int(config.heartbeat_interval * 1000)

    def take_messages() -> None:
        for msg in control.receive_all():
            if isinstance(msg, messages.Shutdown):
                sys.exit(0)
            if not isinstance(msg, messages.Cancel):   # cancels are remembered in control.cancelled
                pending.append(msg)

    def stop_waiting(job: int) -> bool:
        take_messages()
        control.tick()
        return job in cancelled or bool(pending)

    while True:
        poller.poll(0 if pending else interval_ms)
        take_messages()
        control.tick()
        if not pending:
            continue
        msg = pending.popleft()
        if not isinstance(msg, messages.Phonemize) or msg.job in cancelled:
            continue
        frontend = frontends.get(msg.voice)
        if frontend is None:
            control.send(messages.JobFailed(job=msg.job, errno=messages.E_VOICE_UNAVAILABLE,
                                            reason="the voice's front-end failed to load"))
            continue
        count = 0
        try:
            for clause in frontend.clauses(msg.text, first_clause_words=msg.first_clause_words):
                take_messages()
                control.tick()
                if msg.job in cancelled:
                    break
                pcm_written_before = pcm_ring.write_pos
                control.send(messages.ClauseReady(job=msg.job, index=count, ids=clause.ids, text=clause.text))
                count += 1
                if count == 1:
                    wait_for_audio(pcm_ring, pcm_written_before, FIRST_AUDIO_WAIT_SECONDS,
                                   lambda job=msg.job: stop_waiting(job), FIRST_AUDIO_POLL_SECONDS)
        except NothingToSpeak as error:
            control.send(messages.JobFailed(job=msg.job, errno=messages.E_NOTHING_TO_SPEAK, reason=str(error)))
            continue
        except Exception as error:  # a bad request never kills the worker
            control.send(messages.JobFailed(job=msg.job, errno=messages.E_WORKER_FAILED,
                                            reason=f"front-end failed: {type(error).__name__}: {error}"))
            continue
        if msg.job in cancelled:
            continue
        if count == 0:
            control.send(messages.JobFailed(job=msg.job, errno=messages.E_NOTHING_TO_SPEAK,
                                            reason="the text has nothing to speak (only punctuation or spaces)"))
            continue
        control.send(messages.PhonemizeDone(job=msg.job, clauses=count))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
