"""Where voices, caches and sockets live (XDG for users, FHS for the system service)."""

from __future__ import annotations

import os
from pathlib import Path

SYSTEM_DATA_DIR = Path("/var/lib/ttsd")
SYSTEM_RUNTIME_DIR = Path("/run/ttsd")
SYSTEM_CACHE_DIR = Path("/var/cache/ttsd")


def data_dir(system: bool = False) -> Path:
    if os.environ.get("TTSD_DATA_DIR"):
        return Path(os.environ["TTSD_DATA_DIR"])
    if system:
        return SYSTEM_DATA_DIR
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ttsd"


def cache_dir(system: bool = False) -> Path:
    if os.environ.get("TTSD_CACHE_DIR"):
        return Path(os.environ["TTSD_CACHE_DIR"])
    if system:
        return SYSTEM_CACHE_DIR
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ttsd"


def config_file(system: bool = False) -> Path:
    if system:
        return Path("/etc/ttsd/ttsd.toml")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ttsd" / "ttsd.toml"


def runtime_dir(system: bool = False) -> Path:
    if os.environ.get("TTSD_RUNTIME_DIR"):
        return Path(os.environ["TTSD_RUNTIME_DIR"])
    if system:
        return SYSTEM_RUNTIME_DIR
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "ttsd"
    return Path(f"/tmp/ttsd-{os.getuid()}")


def default_endpoint(runtime: Path | None = None) -> str:
    if os.environ.get("TTSD_ENDPOINT"):
        return os.environ["TTSD_ENDPOINT"]
    return f"ipc://{(runtime or runtime_dir()) / 'ttsd.sock'}"


def voices_dir(data: Path) -> Path:
    return data / "voices"
