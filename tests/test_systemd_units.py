"""The shipped systemd units: `systemd-analyze verify` must be silent, the system unit well hardened.

systemd need not be running: systemd-analyze (Debian package `systemd`, installed by
scripts/setup.sh when TTSD_SETUP_TESTS=1) checks unit files offline. verify wants ExecStart to
exist, so each unit is copied to a temporary directory with ExecStart pointing at this checkout's
ttsd entry point; the shipped files keep their /opt/ttsd and %h paths.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNITS = REPO / "systemd"
TTSD = REPO / ".venv" / "bin" / "ttsd"
EXPOSURE_TARGET = 2.0

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None,
                                reason="systemd-analyze not found (Debian package `systemd`; "
                                       "TTSD_SETUP_TESTS=1 scripts/setup.sh installs it)")


def local_copy(unit: str, directory: Path) -> Path:
    """The unit with ExecStart's program replaced by this checkout's ttsd; arguments kept."""
    if not TTSD.exists():
        pytest.skip(f"{TTSD} is missing; run scripts/setup.sh to create the venv")
    text = (UNITS / unit).read_text()
    text, count = re.subn(r"^(ExecStart=[-@:+!]*)\S+", lambda m: m.group(1) + str(TTSD), text, flags=re.M)
    assert count == 1, f"{unit} should have exactly one ExecStart="
    path = directory / unit
    path.write_text(text)
    return path


def analyze(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", **(env or {})}
    return subprocess.run([SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=120, env=environment)


def test_shipped_units_keep_install_paths():
    assert "ExecStart=/opt/ttsd/.venv/bin/ttsd serve --system" in (UNITS / "ttsd.service").read_text()
    assert "ExecStart=%h/.local/opt/ttsd/.venv/bin/ttsd serve" in (UNITS / "ttsd-user.service").read_text()


@needs_analyze
def test_system_unit_verifies_cleanly(tmp_path):
    unit = local_copy("ttsd.service", tmp_path)
    result = analyze("verify", str(unit))
    assert result.returncode == 0 and result.stderr == "", \
        f"systemd-analyze verify exited {result.returncode}:\n{result.stderr}{result.stdout}"


@needs_analyze
def test_user_unit_verifies_cleanly(tmp_path):
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    unit = local_copy("ttsd-user.service", tmp_path)
    result = analyze("--user", "verify", str(unit), env={"XDG_RUNTIME_DIR": str(runtime)})
    assert result.returncode == 0 and result.stderr == "", \
        f"systemd-analyze --user verify exited {result.returncode}:\n{result.stderr}{result.stdout}"


@needs_analyze
def test_verify_catches_a_broken_unit(tmp_path):
    """The check above means something: a relative ExecStart fails verify."""
    unit = local_copy("ttsd.service", tmp_path)
    unit.write_text(re.sub(r"^ExecStart=\S+", "ExecStart=ttsd-not-a-path", unit.read_text(), flags=re.M))
    result = analyze("verify", str(unit))
    assert result.returncode != 0 or result.stderr


@needs_analyze
def test_system_unit_exposure_score(tmp_path):
    unit = local_copy("ttsd.service", tmp_path)
    result = analyze("security", "--offline=true", str(unit))
    assert result.returncode == 0, result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert match, f"no overall exposure level in:\n{result.stdout[-2000:]}"
    score = float(match.group(1))
    print(f"\nsystemd-analyze security: overall exposure of ttsd.service is {score}")
    assert 0.0 <= score <= 10.0
    assert score <= EXPOSURE_TARGET, f"exposure {score} is above {EXPOSURE_TARGET}:\n{result.stdout}"


def test_system_unit_keeps_what_the_daemon_needs():
    """Hardening must not take away what `ttsd serve --system` uses."""
    text = (UNITS / "ttsd.service").read_text()
    settings = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    assert "AF_UNIX" in settings["RestrictAddressFamilies"][-1].split()          # ZeroMQ ipc:// sockets
    for directory in ("RuntimeDirectory", "StateDirectory", "CacheDirectory"):
        assert settings[directory] == ["ttsd"]
    # shared-memory rings live in /dev/shm (PrivateDevices= keeps it; nothing may hide it)
    assert all("/dev/shm" not in value for key in ("InaccessiblePaths", "TemporaryFileSystem")
               for value in settings.get(key, []))
    assert settings["Type"] == ["notify"] and settings["NotifyAccess"] == ["main"]    # READY=1, WATCHDOG=1
