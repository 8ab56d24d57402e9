"""Screen-reader latency through speech-dispatcher: ttsd's module vs espeak-ng vs a generic piper.

What a screen-reader user feels: from the moment an SSIP client finishes sending a message to the
first non-silent sample at the audio server, and from a CANCEL to silence. Everything is real and
private: a PulseAudio null sink (captured with parec, each chunk timestamped on arrival), a
speech-dispatcher 0.11 with three modules, and a ttsd daemon.

  ttsd          sd_ttsd (this project), daemon already running and warm
  espeak-ng     speech-dispatcher's own espeak-ng module (formant synthesis; the baseline)
  piper-generic sd_generic running upstream piper's CLI per message (`python -m piper ... --output-raw
                | paplay`), the usual way people plug neural voices in today; same voice as ttsd

Usage: .venv/bin/python bench/speechd_latency.py [--runs N] [--no-piper]
"""

from __future__ import annotations

import argparse
import bisect
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import paths  # noqa: E402
from tests.audio_fixtures import (CAPTURE_RATE, SILENCE_LEVEL, start_pulse,  # noqa: E402
                                  start_speech_dispatcher)

SHORT = [   # one new message per run: what a screen reader reads is mostly new text
    "The meeting has been moved to Thursday afternoon.",
    "Your download finished a few seconds ago.",
    "Press the green button to save your changes.",
    "Three new messages arrived while you were away.",
    "The printer on the second floor is out of paper.",
    "Battery level is low, please connect the charger.",
    "Search results for garden tools are ready.",
    "The file could not be opened because it is locked.",
    "A new version of the editor is available today.",
    "Your calendar shows no events for tomorrow morning.",
]
REPEATED = "Open the file menu."   # what a screen reader says again and again (menu items, keys)
LONG = " ".join(["The old lighthouse stood at the edge of the cliff for more than a hundred years, "
                 "and every night its beam swept across the dark water."] * 6)
QUIET_AFTER = 1.0      # seconds of silence that count as "stopped"


@dataclass
class TimedCapture:
    """parec reader thread: the arrival time of every loud chunk, so sound onsets get wall-clock
    times. Only loud arrivals are kept, in order, and looked up by bisection: the harness shares
    the two cores with what it measures, and scanning minutes of chunks every few ms would slow
    the synthesizer it is timing."""
    process: subprocess.Popen
    loud_times: list[float] = field(default_factory=list)

    def run(self) -> None:
        stream = self.process.stdout
        while True:
            data = stream.read1(882)      # 20 ms
            if not data:
                return
            samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")
            if len(samples) and np.abs(samples.astype(np.int32)).max() > SILENCE_LEVEL:
                self.loud_times.append(time.monotonic())

    def first_sound_after(self, t0: float, timeout: float = 30.0) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            index = bisect.bisect_left(self.loud_times, t0)
            if index < len(self.loud_times):
                return self.loud_times[index]
            time.sleep(0.002)
        return None

    def last_sound_after(self, t0: float) -> float:
        """Wait for QUIET_AFTER seconds of silence after t0; return when sound last arrived."""
        while True:
            time.sleep(0.05)
            last = max(t0, self.loud_times[-1]) if self.loud_times else t0
            if time.monotonic() - last > QUIET_AFTER:
                return last


class Ssip:
    """A minimal SSIP client on speech-dispatcher's unix socket (what a screen reader sends)."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.command("SET SELF CLIENT_NAME bench:latency:main")

    def command(self, line: str) -> list[str]:
        self.sock.sendall((line + "\r\n").encode())
        return self._reply()

    def _reply(self) -> list[str]:
        lines = []
        while True:
            line = self.file.readline().decode().rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] == " ":
                return lines

    def speak(self, text: str) -> float:
        self.command("SPEAK")
        self.sock.sendall((text + "\r\n.\r\n").encode())
        sent = time.monotonic()
        self._reply()
        return sent

    def close(self) -> None:
        try:
            self.command("QUIT")
        except OSError:
            pass
        self.sock.close()


def piper_generic_config(config_dir: Path, model: Path) -> list[str]:
    conf = config_dir / "modules" / "piper-generic.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        'GenericExecuteSynth "printf %s \\\'$DATA\\\' | ' + f"{sys.executable} -m piper -m {model} --output-raw"
        ' | paplay --raw --rate=22050 --channels=1 --format=s16le"\n'
        'AddVoice "en" "MALE1" "en_US-joe-medium"\nDefaultVoice "en_US-joe-medium"\n'
        'GenericPunctNone ""\nGenericPunctSome ""\nGenericPunctMost ""\nGenericPunctAll ""\n')
    return ['AddModule "piper-generic" "sd_generic" "piper-generic.conf"']


def measure(ssip: Ssip, capture: TimedCapture, module: str, runs: int) -> dict:
    ssip.command(f"SET SELF OUTPUT_MODULE {module}")
    ssip.command("SET SELF LANGUAGE en")
    ssip.command("SET SELF SSML_MODE off")
    ttfa, repeated, cancel = [], [], []
    # The first message through a fresh speech-dispatcher waits ~0.6-1.3 s for the server to open its
    # PulseAudio stream (measured: the module's first 705 block left 107 ms after SPEAK, sound came
    # 575 ms later). Wait for the warm-up's sound to start and end; otherwise the first measured
    # message was sent while the warm-up was still pending and took ~500 ms.
    capture.first_sound_after(ssip.speak("Warm up."))
    capture.last_sound_after(time.monotonic())
    plan = [(SHORT[k % len(SHORT)], ttfa) for k in range(runs)]
    plan += [(REPEATED, None)] + [(REPEATED, repeated)] * runs     # the first time is not a repeat
    for text, times in plan:
        sent = ssip.speak(text)
        first = capture.first_sound_after(sent)
        if first is not None and times is not None:
            times.append(first - sent)
        capture.last_sound_after(time.monotonic())
    for _ in range(runs):
        sent = ssip.speak(LONG)
        if capture.first_sound_after(sent) is None:
            continue
        time.sleep(1.0)
        cancelled = time.monotonic()
        ssip.command("CANCEL SELF")
        cancel.append(capture.last_sound_after(cancelled) - cancelled)
    return {"module": module, "ttfa": ttfa, "repeated": repeated, "cancel": cancel}


def fmt(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{1000 * statistics.median(values):6.0f} ms (min {1000 * min(values):.0f}, max {1000 * max(values):.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-piper", action="store_true", help="skip the sd_generic + piper CLI module")
    args = parser.parse_args()

    from engine.bench import anchor_model
    from tests.conftest import start_daemon

    base = Path(tempfile.mkdtemp(prefix="speechd-latency-"))
    pulse = start_pulse(base / "pulse")
    daemon = start_daemon(base / "ttsd", paths.data_dir())
    modules = ["ttsd", "espeak-ng"]
    extra: list[str] = []
    config_dir = base / "speechd" / "speechd-config"
    if not args.no_piper:
        model, _config = anchor_model(paths.cache_dir())
        extra = piper_generic_config(config_dir, model)
        modules.append("piper-generic")
    speechd = start_speech_dispatcher(base / "speechd", pulse, daemon.endpoint, extra_config=extra)
    parec = subprocess.Popen(["parec", "-d", "nullsink.monitor", "--format=s16le", f"--rate={CAPTURE_RATE}",
                              "--channels=1", "--raw", "--latency-msec=10"], stdout=subprocess.PIPE, env=pulse.env)
    capture = TimedCapture(parec)
    threading.Thread(target=capture.run, daemon=True).start()
    ssip = Ssip(str(speechd.run_dir / "speechd.sock"))
    results = []
    try:
        for module in modules:
            print(f"measuring {module} ...", file=sys.stderr, flush=True)
            results.append(measure(ssip, capture, module, args.runs))
    finally:
        ssip.close()
        speechd.stop()
        parec.terminate()
        parec.wait(10)
        daemon.stop()
        pulse.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"\nspeech-dispatcher 0.11 -> PulseAudio null sink, {args.runs} runs each, "
          f"{os.cpu_count()} CPUs; median (min, max)")
    print(f"{'module':15} {'new message -> first sound':34} {'repeated message -> first sound':34} "
          f"{'cancel -> silence':34}")
    for result in results:
        print(f"{result['module']:15} {fmt(result['ttfa']):34} {fmt(result['repeated']):34} {fmt(result['cancel']):34}")
    print(f"\nnew messages: {len(SHORT)} different 7-9 word sentences, one per run; repeated: {REPEATED!r} said "
          f"once, then measured (ttsd replays it from its audio cache); cancel: {len(LONG.split())}-word text "
          "cancelled 1 s into its sound.")
    for result in results:
        runs = " ".join(f"{1000 * value:.0f}" for value in result["ttfa"])
        print(f"{result['module']} new-message runs, in order (ms): {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
