"""Smoke test for `ttsd bench`: it runs end to end and prints both columns (no timing thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_prints_both_columns(joe_voice, data_dir, tmp_path):
    report = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, "-m", "engine.cli", "bench", "--quick", "--sentences", "2",
                             "--data-dir", str(data_dir), "--json", str(report)],
                            capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("metric"))
    assert "ttsd" in header and "piper-tts" in header and "ratio" in header
    assert "sentence TTFA p50 (ms)" in result.stdout
    assert "machine: nproc=" in result.stdout
    results = json.loads(report.read_text())["results"]
    assert set(results) == {"ttsd", "piper-tts"}
    for engine in results.values():
        assert len(engine["sentences"]) == 2
        assert engine["summary"]["sentences_audio_s"] > 0
