#!/usr/bin/env bash
# The main job: set up, start the daemon, speak text with the default voice into a WAV file, stop.
#   scripts/say.sh ["TEXT" [OUT.wav]]
set -euo pipefail
cd "$(dirname "$0")/.."
TEXT=${1:-"Hello! This is ttsd, a text to speech daemon for Linux. It started speaking before it finished thinking."}
OUT=${2:-ttsd-hello.wav}

scripts/setup.sh
runtime=$(mktemp -d /tmp/ttsd-run.XXXXXX)
endpoint="ipc://$runtime/ttsd.sock"
.venv/bin/ttsd serve --runtime-dir "$runtime" --endpoint "$endpoint" 2>"$runtime.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$runtime" "$runtime.log"' EXIT
.venv/bin/ttsd status --endpoint "$endpoint" --wait 180 >/dev/null || { cat "$runtime.log" >&2; exit 1; }
.venv/bin/ttsd say --endpoint "$endpoint" --out "$OUT" --stats "$TEXT"
echo "wrote $OUT"
