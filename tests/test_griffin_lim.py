"""Griffin-Lim fallback vocoder and the mel parameters it needs, checked against the real Mandarin
FastSpeech2 + MB-MelGAN voice (ONNX, run through onnxruntime).

The model tests use the installed zh_CN-baker voice (the conftest fixture installs it if missing);
the filterbank tests need nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from engine.griffin_lim import (GriffinLimVocoder, MelParameters, derive_mel_parameters, hz_to_mel,
                                magnitude_spectrogram, mel_band_edges, mel_filterbank, mel_to_hz)

ACOUSTIC_FILE = "acoustic.onnx"
VOCODER_FILE = "vocoder.onnx"
SAMPLE_RATE = 24000
HOP = 300

# Baker phone table (TensorFlowTTS baker_mapper.json symbol_to_id, rebuilt here: ids are positions).
INITIALS = "b c ch d f g h j k l m n p q r s sh t x z zh".split()
FINALS = ("a ai an ang ao e ei en eng er i ia ian iang iao ie ii iii in ing iong iou o ong ou u ua uai uan uang "
          "uei uen ueng uo v van ve vn").split()
SYMBOLS = (["pad", "sil", "#0", "#1", "#2", "#3", "^"] + INITIALS
           + [final + str(tone) for final in FINALS for tone in range(1, 6)] + ["eos"])
SYMBOL_IDS = {symbol: index for index, symbol in enumerate(SYMBOLS)}

# Hand-written sentences, as (initial, final+tone) per syllable ("^" = no initial).
SENTENCES = [
    "j in1 t ian1 t ian1 q i4 h en3 h ao3 ^ uo3 m en5 q v4 g ong1 ^ van2 s an4 b u4",  # jin1 tian1 tian1 qi4 hen3 hao3 wo3 men5 qu4 gong1 yuan2 san4 bu4
    "q ing3 ^ uen4 h uo3 ch e1 zh an4 z en3 m e5 z ou3",  # qing3 wen4 huo3 che1 zhan4 zen3 me5 zou3
    "zh e4 sh iii4 ^ i2 g e4 c e4 sh iii4 j v4 z ii5",  # zhe4 shi4 yi2 ge4 ce4 shi4 ju4 zi5
    "b ei3 j ing1 d e5 d ong1 t ian1 f ei1 ch ang2 l eng3",  # bei3 jing1 de5 dong1 tian1 fei1 chang2 leng3
    "t a1 m ei3 t ian1 z ao3 sh ang5 l iou4 d ian3 q i3 ch uang2 r an2 h ou4 p ao3 b u4 b an4 x iao3 sh iii2",  # ta1 mei3 tian1 zao3 shang5 liu4 dian3 qi3 chuang2 ran2 hou4 pao3 bu4 ban4 xiao3 shi2
    "n i3 h ao3 h uan1 ^ ing2 sh iii3 ^ iong4 ^ v3 ^ in1 h e2 ch eng2 x i4 t ong3",  # ni3 hao3 huan1 ying2 shi3 yong4 yu3 yin1 he2 cheng2 xi4 tong3
    "x ia4 ^ v3 l e5 q ing3 d ai4 h ao3 ^ v3 s an3",  # xia4 yu3 le5 qing3 dai4 hao3 yu3 san3
    "zh ong1 g uo2 ^ iou3 sh iii2 s ii4 ^ i4 r en2 k ou3",  # zhong1 guo2 you3 shi2 si4 yi4 ren2 kou3
    "^ uo3 x i3 h uan5 h e1 l v4 ch a2 h e2 k an4 sh u1",  # wo3 xi3 huan5 he1 lv4 cha2 he2 kan4 shu1
    "x ve2 x i2 ^ i4 m en2 x in1 d e5 ^ v3 ^ ian2 x v1 ^ iao4 n ai4 x in1 h e2 j ian1 ch iii2",  # xue2 xi2 yi4 men2 xin1 de5 yu3 yan2 xu1 yao4 nai4 xin1 he2 jian1 chi2
    "d ian4 n ao3 zh eng4 z ai4 x ia4 z ai3 ^ uen2 j ian4 q ing3 sh ao1 d eng3",  # dian4 nao3 zheng4 zai4 xia4 zai3 wen2 jian4 qing3 shao1 deng3
]
SPEECH_SENTENCE = 4        # the longest (16 syllables, 2.7 s)


def phone_ids(sentence: str) -> np.ndarray:
    """sil, syllables joined by #0, sil, eos -> int32 [1, N]."""
    tokens = sentence.split()
    syllables = [" ".join(tokens[index:index + 2]) for index in range(0, len(tokens), 2)]
    phones = ["sil"] + " #0 ".join(syllables).split() + ["sil", "eos"]
    return np.array([[SYMBOL_IDS[phone] for phone in phones]], dtype=np.int32)


@dataclass
class ZhVoice:
    acoustic: onnxruntime.InferenceSession
    vocoder: onnxruntime.InferenceSession

    def mel(self, ids: np.ndarray) -> np.ndarray:
        """FastSpeech2's post-net mel (output Identity_1), [T, 80]."""
        one = np.ones(1, dtype=np.float32)
        feeds = {"input_ids": ids, "speaker_ids": np.zeros(1, dtype=np.int32), "speed_ratios": one,
                 "f0_ratios": one, "energy_ratios": one}
        return self.acoustic.run(["Identity_1"], feeds)[0][0]

    def audio(self, mel: np.ndarray) -> np.ndarray:
        """MB-MelGAN, [T * 300] float32."""
        return self.vocoder.run(None, {"mels": mel[None].astype(np.float32)})[0].reshape(-1)


def load_zh_voice(onnx_dir: Path) -> ZhVoice:
    def session(path: Path) -> onnxruntime.InferenceSession:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 2
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    return ZhVoice(session(onnx_dir / ACOUSTIC_FILE), session(onnx_dir / VOCODER_FILE))


def calibration_set(voice: ZhVoice) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(model mels, MB-MelGAN audio of each) for every sentence."""
    mels = [voice.mel(phone_ids(sentence)) for sentence in SENTENCES]
    return mels, [voice.audio(mel) for mel in mels]


@pytest.fixture(scope="module")
def zh_models(zh_voice) -> ZhVoice:
    """The installed voice's models; its phone table must be the one written out above."""
    table = {symbol: ids[0] for symbol, ids in zh_voice.manifest.phoneme_id_map.items()}
    assert all(table[symbol] == index for symbol, index in SYMBOL_IDS.items())
    return load_zh_voice(zh_voice.path)


@pytest.fixture(scope="module")
def calibration(zh_models):
    return calibration_set(zh_models)


@pytest.fixture(scope="module")
def derived(calibration):
    mels, audios = calibration
    return derive_mel_parameters(mels, audios)


def spectral_convergence(magnitude: np.ndarray, reference: np.ndarray) -> float:
    frames = min(len(magnitude), len(reference))
    return float(np.linalg.norm(magnitude[:frames] - reference[:frames]) / np.linalg.norm(reference[:frames]))


def noise_like(audio: np.ndarray, seed: int = 1) -> np.ndarray:
    """White noise with the same length and energy."""
    noise = np.random.default_rng(seed).standard_normal(len(audio)).astype(np.float32)
    return noise * np.sqrt(np.mean(audio ** 2) / np.mean(noise ** 2))


# --- filterbank: librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) defaults, checked by hand

def test_slaney_mel_scale_anchor_points():
    assert hz_to_mel(200.0) == pytest.approx(3.0)                  # 200 / (200/3): linear below 1 kHz
    assert hz_to_mel(1000.0) == pytest.approx(15.0)
    assert hz_to_mel(6400.0) == pytest.approx(15.0 + 27.0)         # 27 mels per factor 6.4 above 1 kHz
    hz = np.array([0.0, 80.0, 999.0, 1000.0, 1001.0, 7600.0, 12000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("sample_rate, n_fft, n_mels, fmin, fmax",
                         [(24000, 2048, 80, 80.0, 7600.0), (22050, 1024, 40, 0.0, 11025.0)])
def test_mel_filterbank_triangles(sample_rate, n_fft, n_mels, fmin, fmax):
    basis = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)
    assert basis.shape == (n_mels, n_fft // 2 + 1)
    assert (basis >= 0).all()
    edges = mel_band_edges(n_mels, fmin, fmax)
    assert edges[0] == pytest.approx(fmin) and edges[-1] == pytest.approx(fmax)
    # Slaney spacing: equal steps in Hz below 1 kHz, equal ratios above.
    linear, logarithmic = edges[edges < 1000.0], edges[edges > 1000.0]
    np.testing.assert_allclose(np.diff(linear), np.diff(linear)[0], rtol=1e-9)
    np.testing.assert_allclose(logarithmic[1:] / logarithmic[:-1], logarithmic[1] / logarithmic[0], rtol=1e-9)

    fft_hz = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    bin_hz = sample_rate / n_fft
    for band in range(n_mels):
        low, centre, high = edges[band:band + 3]
        height = 2.0 / (high - low)                      # slaney norm: unit area in Hz
        expected = height * np.clip(np.minimum((fft_hz - low) / (centre - low), (high - fft_hz) / (high - centre)),
                                    0.0, None)
        np.testing.assert_allclose(basis[band], expected, rtol=1e-9, atol=1e-12)
        assert (basis[band][(fft_hz <= low) | (fft_hz >= high)] == 0).all()
        peak = int(np.argmax(basis[band]))
        assert abs(fft_hz[peak] - centre) <= bin_hz
        if high - low > 10 * bin_hz:                     # wide enough for the sum to approximate the area
            assert basis[band].sum() * bin_hz == pytest.approx(1.0, rel=0.02)


def test_mel_parameters_round_trip_through_json():
    params = MelParameters(sample_rate=24000, n_fft=2048, hop_length=300, win_length=1200, n_mels=80, fmin=80.0,
                           fmax=7600.0, log_base=10.0, mean=[-2.0] * 80, scale=[0.7] * 80)
    assert MelParameters.from_dict(json.loads(json.dumps(params.to_dict()))) == params


# --- derived parameters

def test_derived_parameters_fit_and_choose_the_recipe_analysis(derived):
    params, report = derived
    chosen = report.chosen
    assert (params.win_length, params.fmin, params.fmax) == (1200, 80.0, 7600.0)
    assert chosen is report.candidates[0]
    assert chosen.mean_r2 > 0.8 and chosen.min_r2 > 0.4
    assert chosen.rms_residual < 0.3                         # log10 units
    assert chosen.frames > 1500
    # band edges are sharply identified, the window only weakly (see the module docstring)
    for other in report.candidates[1:]:
        assert chosen.mean_r2 > other.mean_r2
        if (other.fmin, other.fmax) != (chosen.fmin, chosen.fmax):
            assert chosen.mean_r2 > other.mean_r2 + 0.1
    # with center=True, analysis frame k is model frame k
    assert chosen.frame_offset == 0
    assert report.offsets[0] > max(report.offsets[-1], report.offsets[1]) + 0.05
    scale, mean = np.asarray(params.scale), np.asarray(params.mean)
    assert len(mean) == len(scale) == 80
    assert (scale > 0.1).all() and (scale < 2.0).all()
    assert (mean > -4.0).all() and (mean < 0.0).all()


# --- Griffin-Lim

def test_griffin_lim_of_a_fastspeech2_mel_is_speech(zh_models, derived):
    params, _ = derived
    mel = zh_models.mel(phone_ids(SENTENCES[SPEECH_SENTENCE]))
    neural = zh_models.audio(mel)
    vocoder = GriffinLimVocoder(params)
    audio = vocoder.vocode(mel)

    assert audio.dtype == np.float32 and audio.shape == (len(mel) * HOP,)
    assert np.isfinite(audio).all()
    rms = float(np.sqrt(np.mean(audio ** 2)))
    neural_rms = float(np.sqrt(np.mean(neural ** 2)))
    assert 0.5 < rms / neural_rms < 2.0                      # level comparable to MB-MelGAN's
    assert 0.3 < np.abs(audio).max() / np.abs(neural).max() < 2.0

    power = np.abs(np.fft.rfft(audio)) ** 2
    hz = np.fft.rfftfreq(len(audio), 1.0 / SAMPLE_RATE)
    assert power[(hz >= 100) & (hz <= 4000)].sum() / power.sum() > 0.9

    # its mel is the input mel, which noise of the same energy is not
    distance = float(np.mean(np.abs(params.model_mel(audio)[:len(mel)] - mel)))
    noise_distance = float(np.mean(np.abs(params.model_mel(noise_like(audio))[:len(mel)] - mel)))
    assert distance < 0.2 and distance < 0.25 * noise_distance

    # the iterations make the spectrogram consistent: far closer to the target than random phase
    target = vocoder.magnitude(mel)
    analysed = magnitude_spectrogram(audio, params.n_fft, HOP, params.win_length)
    random_phase = GriffinLimVocoder(params, iterations=0).vocode(mel)
    analysed_random = magnitude_spectrogram(random_phase, params.n_fft, HOP, params.win_length)
    assert spectral_convergence(analysed, target) < 0.4 * spectral_convergence(analysed_random, target)


def test_griffin_lim_round_trip_resembles_the_neural_audio(zh_models, derived):
    params, _ = derived
    neural = zh_models.audio(zh_models.mel(phone_ids(SENTENCES[0])))
    mel = params.model_mel(neural)[:len(neural) // HOP]
    audio = GriffinLimVocoder(params).vocode(mel)
    assert len(audio) == len(neural)

    reference = magnitude_spectrogram(neural, params.n_fft, HOP, params.win_length)
    convergence = spectral_convergence(magnitude_spectrogram(audio, params.n_fft, HOP, params.win_length), reference)
    noise = spectral_convergence(magnitude_spectrogram(noise_like(neural), params.n_fft, HOP, params.win_length),
                                 reference)
    assert convergence < 0.35 and convergence < 0.5 * noise
    log_mel_a, log_mel_b = params.log_mel(audio), params.log_mel(neural)
    sounding = log_mel_b.min(axis=1) > -6.0
    assert np.corrcoef(log_mel_a[sounding].ravel(), log_mel_b[sounding].ravel())[0, 1] > 0.9


def test_griffin_lim_handles_tiny_mels():
    params = MelParameters(sample_rate=24000, n_fft=2048, hop_length=HOP, win_length=1200, n_mels=80, fmin=80.0,
                           fmax=7600.0, log_base=10.0, mean=[-2.0] * 80, scale=[0.7] * 80)
    vocoder = GriffinLimVocoder(params, iterations=4)
    assert vocoder.vocode(np.zeros((0, 80), dtype=np.float32)).shape == (0,)
    for frames in (1, 2, 5):
        audio = vocoder.vocode(np.zeros((frames, 80), dtype=np.float32))
        assert audio.shape == (frames * HOP,) and np.isfinite(audio).all()
    with pytest.raises(ValueError):
        vocoder.vocode(np.zeros((10, 40), dtype=np.float32))
