"""A cancel stops the model run that is working on its job, not the run of any other job, so a new
request never waits for a cancelled one's long onnxruntime call."""

from __future__ import annotations

import threading
import time

import numpy as np
import onnxruntime
import pytest
import zmq

from engine.interrupt import RunInterrupter, publish_cancel
from engine.voice_models import PiperDecoder
from ipc.client import Client, RequestFailed
from models.manifest import Manifest

LONG_FRAMES = 1500          # ~17 s of audio: a decoder call of a second or more on this machine


@pytest.fixture
def interrupt_bus(tmp_path):
    context = zmq.Context()
    publisher = context.socket(zmq.PUB)
    endpoint = f"ipc://{tmp_path / 'interrupt.sock'}"
    publisher.bind(endpoint)
    interrupter = RunInterrupter(context, endpoint)
    time.sleep(0.3)                       # let the SUB connect before anything is published
    yield publisher, interrupter
    publisher.close(0)
    context.term()


def decode_while(decoder: PiperDecoder, interrupter: RunInterrupter, job: int, publish) -> str:
    """Run one long decode for `job` while `publish` runs on a timer; report how it ended."""
    timer = threading.Timer(0.05, publish)
    z = np.random.default_rng(0).standard_normal((decoder.channels, LONG_FRAMES)).astype(np.float32)
    timer.start()
    try:
        with interrupter.running(job):
            decoder.decode(z)
        return "finished"
    except Exception:
        return "stopped" if interrupter.was_cancelled(job) else "failed"
    finally:
        timer.join()


def test_cancel_stops_the_run_of_its_job_only(joe_voice, interrupt_bus):
    publisher, interrupter = interrupt_bus
    decoder = PiperDecoder(joe_voice.path, Manifest.load(joe_voice.path))
    decoder.run_options = interrupter.options
    assert decode_while(decoder, interrupter, 7, lambda: publish_cancel(publisher, [8])) == "finished"
    assert decode_while(decoder, interrupter, 7, lambda: publish_cancel(publisher, [7])) == "stopped"
    # the flag is cleared: the next job's run goes through, and a cancelled job's next run stops at once
    assert decode_while(decoder, interrupter, 9, lambda: None) == "finished"
    with pytest.raises(Exception), interrupter.running(7):
        decoder.decode(np.zeros((decoder.channels, 40), dtype=np.float32))
    assert isinstance(interrupter.options, onnxruntime.RunOptions) and not interrupter.options.terminate


def test_stop_cuts_model_runs_short_and_the_next_request_speaks(daemon_factory):
    daemon = daemon_factory("interrupt")
    text = ("The committee met on a cold and windy morning in the old town hall, and after a long discussion "
            "about the budget, the roads, the library and the new bridge over the river, it decided to wait "
            "another year before it made any promises to anyone.")
    with Client(daemon.endpoint) as client:
        stopped = 0
        for attempt in range(5):
            events = client.speak_events(text, rate=0.4, request_id=f"long-{attempt}")
            for event, _payload in events:
                if event.get("event") == "audio":
                    break
            client.stop()
            with pytest.raises(RequestFailed) as cancelled:
                for _ in events:
                    pass
            assert cancelled.value.reply.get("event") == "cancelled"
            after = client.synthesize("Here is the next message.")
            assert 1.0 < after.audio_seconds < 3.0
            pcm = np.frombuffer(after.pcm, dtype="<i2")
            assert np.abs(pcm).max() > 3000
            workers = {w["name"]: w for w in client.status()["workers"]}
            stopped = workers["acoustic"]["runs_stopped"] + workers["vocoder"]["runs_stopped"]
            if stopped:
                break
        assert stopped > 0, "no model run was ever cut short by a stop"
        assert all(w["restarts"] == 0 for w in workers.values())
