"""`ttsd speechd install`: register sd_ttsd as a speech-dispatcher output module.

Writes `modules/ttsd.conf` (the module's config: which daemon endpoint to use) and adds an
`AddModule "ttsd" "<abs path to sd_ttsd>" "ttsd.conf"` line to `speechd.conf` in the chosen
configuration directory. Idempotent: running it again changes nothing that is already right.
Note that once speechd.conf has any AddModule line, speech-dispatcher stops auto-detecting the
other modules; a speechd.conf created here therefore also lists the espeak-ng module when it is
installed, so the system voice keeps working next to ttsd.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

USER_CONFIG_DIR = Path("~/.config/speech-dispatcher")
SYSTEM_CONFIG_DIR = Path("/etc/speech-dispatcher")
ESPEAK_MODULE = Path("/usr/lib/speech-dispatcher-modules/sd_espeak-ng")


@dataclass
class InstallPlan:
    config_dir: Path
    module_binary: Path
    endpoint: str | None = None


def module_binary() -> Path:
    """sd_ttsd next to the running interpreter (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "sd_ttsd"
    if beside.exists():
        return beside.absolute()
    found = shutil.which("sd_ttsd")
    if found:
        return Path(found).absolute()
    raise FileNotFoundError("sd_ttsd is not installed next to this Python or on PATH; "
                            "run `pip install -e .` in the ttsd checkout")


def module_config_text(endpoint: str | None) -> str:
    lines = ["# speech-dispatcher module config for ttsd (written by `ttsd speechd install`)",
             "# TtsdEndpoint: the ttsd daemon to use; without it: $TTSD_ENDPOINT or the user's default socket."]
    if endpoint:
        lines.append(f'TtsdEndpoint "{endpoint}"')
    return "\n".join(lines) + "\n"


def add_module_line(binary: Path) -> str:
    return f'AddModule "ttsd" "{binary}" "ttsd.conf"'


def install(plan: InstallPlan, log=print) -> list[str]:
    """Apply the plan; return (and log) what changed."""
    changes: list[str] = []
    modules_dir = plan.config_dir / "modules"
    modules_dir.mkdir(parents=True, exist_ok=True)
    module_conf = modules_dir / "ttsd.conf"
    wanted = module_config_text(plan.endpoint)
    if not module_conf.exists() or module_conf.read_text(encoding="utf-8") != wanted:
        module_conf.write_text(wanted, encoding="utf-8")
        changes.append(f"wrote {module_conf}")

    speechd_conf = plan.config_dir / "speechd.conf"
    line = add_module_line(plan.module_binary)
    if not speechd_conf.exists():
        lines = ["# speech-dispatcher configuration (created by `ttsd speechd install`)", line]
        if ESPEAK_MODULE.exists():
            lines.append('AddModule "espeak-ng" "sd_espeak-ng" "espeak-ng.conf"')
            espeak_conf = modules_dir / "espeak-ng.conf"
            system_espeak_conf = SYSTEM_CONFIG_DIR / "modules" / "espeak-ng.conf"
            if not espeak_conf.exists() and system_espeak_conf.exists() and espeak_conf != system_espeak_conf:
                shutil.copyfile(system_espeak_conf, espeak_conf)
                changes.append(f"copied {system_espeak_conf} to {espeak_conf}")
        speechd_conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        changes.append(f"created {speechd_conf} with: {line}")
    else:
        existing = speechd_conf.read_text(encoding="utf-8").splitlines()
        ours = [i for i, text in enumerate(existing) if text.strip().startswith('AddModule "ttsd"')]
        if [existing[i].strip() for i in ours] != [line]:
            kept = [text for i, text in enumerate(existing) if i not in ours]
            kept.append(line)
            speechd_conf.write_text("\n".join(kept) + "\n", encoding="utf-8")
            changes.append(f"{'updated' if ours else 'added'} in {speechd_conf}: {line}")
    if not changes:
        changes.append(f"already installed in {plan.config_dir}; nothing changed")
    for change in changes:
        log(change)
    return changes


def config_dir_for(user: bool, system: bool, config_dir: Path | None) -> Path:
    if config_dir is not None:
        return config_dir.absolute()
    if system:
        return SYSTEM_CONFIG_DIR
    return Path(os.path.expanduser(str(USER_CONFIG_DIR)))
