"""What a mel voice (Baker FastSpeech2 + Multi-band MelGAN) is, and deriving its mel analysis
parameters at install time.

Why derive: Griffin-Lim must undo the model's mel normalisation (per-bin mean and scale from the
training set's stats file, which the wheel does not ship). The neural vocoder's output is real audio
for a model mel, so analysing that audio and fitting, per bin, log10-mel(audio) = mean + scale * mel
recovers them, and the fit quality checks the analysis parameters too (engine/griffin_lim.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime

from models.convert_mel import DURATION_OUTPUT, MEL_OUTPUT, fastspeech2_feed

MEL_SAMPLE_RATE = 24000
MEL_BINS = 80
MEL_HOP = 300                  # samples per mel frame
MEL_MAX_FRAMES = 2048          # FastSpeech2's position embeddings: ~25 s per call
MELGAN_CONTEXT_FRAMES = 20     # receptive field measured at 18 frames each side (tests/test_mel_voice.py)
MEL_VOICE_GAIN = 1.0
MIN_FIT_R2 = 0.7               # measured 0.83 for the Baker voice; parameters that are wrong give < 0.6

# Sentences for the fit, as pinyin written by hand (tone sandhi applied): varied initials, finals, tones.
FIT_SENTENCES = (
    "jin1 tian1 tian1 qi4 hen2 hao3 wo3 men5 qu4 gong1 yuan2 san4 bu4",
    "zhe4 shi4 yi2 ge4 kai1 yuan2 de5 zhong1 wen2 yu3 yin1 he2 cheng2 xi4 tong3",
    "qing3 zai4 xia4 yi2 ge4 lu4 kou3 xiang4 you4 zhuan3",
    "ta1 mai3 le5 san1 ben3 shu1 he2 liang3 zhi1 bi3",
    "huo3 che1 jiang1 yu2 xia4 wu3 san1 dian3 ling2 wu3 fen1 dao4 zhan4",
    "xue2 sheng1 men5 zheng4 zai4 jiao4 shi4 li3 du2 shu1",
    "chuang1 qian2 ming2 yue4 guang1 yi2 shi4 di4 shang4 shuang1",
    "yin2 hang2 de5 kai1 men2 shi2 jian1 shi4 zao3 shang4 jiu3 dian3",
    "qi4 che1 zai4 gao1 su4 gong1 lu4 shang4 kuai4 su4 xing2 shi3",
    "ni2 hao3 huan1 ying2 shi3 yong4 yu3 yin1 he2 cheng2 fu2 wu4",
)


def pinyin_to_ids(pinyin: str, symbol_to_id: dict[str, int], pinyin_dict: dict[str, list[str]]) -> list[int]:
    """Baker layout: sil, initial final+tone per syllable with #0 between, sil, eos."""
    phones = ["sil"]
    for index, syllable in enumerate(pinyin.split()):
        initial, final = pinyin_dict[syllable[:-1]]
        if index:
            phones.append("#0")
        phones += [initial, final + syllable[-1]]
    phones += ["sil", "eos"]
    return [symbol_to_id[phone] for phone in phones]


def model_mels_and_audio(acoustic: Path, vocoder: Path, id_lists: list[list[int]]) -> tuple[list, list]:
    """FastSpeech2 mels [frames, 80] and the neural vocoder's audio for each id list."""
    fs2 = onnxruntime.InferenceSession(str(acoustic), providers=["CPUExecutionProvider"])
    melgan = onnxruntime.InferenceSession(str(vocoder), providers=["CPUExecutionProvider"])
    mels, audios = [], []
    for ids in id_lists:
        mel, _durations = fs2.run([MEL_OUTPUT, DURATION_OUTPUT], fastspeech2_feed(ids))
        mels.append(mel[0])
        audios.append(melgan.run(None, {"mels": mel.astype(np.float32)})[0].reshape(-1))
    return mels, audios


def derive_voice_mel_parameters(acoustic: Path, vocoder: Path, symbol_to_id: dict[str, int],
                                pinyin_dict: dict[str, list[str]]):
    """MelParameters for Griffin-Lim, and a one-line report of the fit."""
    from engine.griffin_lim import derive_mel_parameters

    id_lists = [pinyin_to_ids(sentence, symbol_to_id, pinyin_dict) for sentence in FIT_SENTENCES]
    mels, audios = model_mels_and_audio(acoustic, vocoder, id_lists)
    parameters, report = derive_mel_parameters(mels, audios)
    best = report.chosen
    if best.mean_r2 < MIN_FIT_R2:
        raise ValueError(f"the mel analysis fit is poor (mean R² {best.mean_r2:.2f} < {MIN_FIT_R2}); the converted "
                         "models do not behave like the Baker recipe; Griffin-Lim would be wrong")
    summary = (f"window {best.win_length}, fmin {best.fmin:g} Hz, fmax {best.fmax:g} Hz: mean R² {best.mean_r2:.3f} "
               f"over {best.frames} frames (next best {report.candidates[1].mean_r2:.3f})")
    return parameters, summary
