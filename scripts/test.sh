#!/usr/bin/env bash
# The whole test suite: set up everything it needs (packages, voices), then run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
TTSD_SETUP_TESTS=1 scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
