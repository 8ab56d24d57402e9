"""Mandarin through the real daemon: speech that is non-silent and of plausible length, the
language picked from the script, Griffin-Lim per request, and a damaged vocoder file falling back to
Griffin-Lim while a damaged acoustic file quarantines the voice and English keeps speaking."""

from __future__ import annotations

import numpy as np
import pytest

from ipc import messages
from ipc.client import Client, RequestFailed
from tests.conftest import private_data_dir, start_daemon
from tests.test_integrity import wait_for_voice_state

ZH = "zh_CN-baker"
EN = "en_US-joe-medium"
SENTENCES = {   # text -> syllables spoken (numbers read out)
    "今天天气很好，我们去公园散步吧。": 15,
    "请在下一个路口向右转。": 10,
    "会议定在2024年5月1日下午3点。": 18,
}


def samples(result) -> np.ndarray:
    return np.frombuffer(result.pcm, dtype="<i2").astype(np.float32) / 32768.0


def speech_band_share(audio: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    frequencies = np.fft.rfftfreq(audio.size, 1 / sample_rate)
    return float(spectrum[(frequencies >= 100) & (frequencies <= 4000)].sum() / spectrum.sum())


@pytest.fixture(scope="module")
def bilingual_daemon(tmp_path_factory, data_dir, joe_voice, zh_voice):
    daemon = start_daemon(tmp_path_factory.mktemp("zh") / "run", data_dir)
    yield daemon
    daemon.stop()


@pytest.mark.parametrize("text", list(SENTENCES))
def test_chinese_speech_is_voiced_and_plausibly_long(bilingual_daemon, text):
    with Client(bilingual_daemon.endpoint) as client:
        result = client.synthesize(text, voice=ZH)
    audio = samples(result)
    assert result.sample_rate == 24000 and result.voice == ZH
    syllables = SENTENCES[text]
    assert 0.12 * syllables < result.audio_seconds < 0.45 * syllables + 1.0
    assert np.sqrt(np.mean(audio ** 2)) > 0.02 and np.abs(audio).max() < 1.0
    assert speech_band_share(audio, 24000) > 0.8


def test_language_is_picked_from_the_script(bilingual_daemon):
    with Client(bilingual_daemon.endpoint) as client:
        assert client.synthesize("你好，世界。").voice == ZH
        assert client.synthesize("Hello, world.").voice == EN
        assert client.synthesize("我今天用Linux写代码。").voice == ZH        # Latin words inside Chinese
        assert client.synthesize("Hello 世界", lang="en").voice == EN       # an explicit language wins
        with pytest.raises(RequestFailed) as failure:
            client.synthesize("Bonjour.", lang="fr")
        assert failure.value.errno == messages.E_UNKNOWN_VOICE and "fr" in failure.value.reason


def test_latin_words_in_chinese_are_spoken_not_dropped(bilingual_daemon):
    with Client(bilingual_daemon.endpoint) as client:
        plain = client.synthesize("我喜欢。", voice=ZH).audio_seconds
        with_word = client.synthesize("我喜欢CPU。", voice=ZH).audio_seconds
    assert with_word > plain + 0.4     # three spelled letters


def test_griffin_lim_per_request_is_speech_like(bilingual_daemon):
    text = "今天天气很好，我们去公园散步吧。"
    with Client(bilingual_daemon.endpoint) as client:
        neural = client.synthesize(text, voice=ZH)
        griffin_lim = client.synthesize(text, voice=ZH, vocoder="griffin-lim")
        with pytest.raises(RequestFailed):
            client.synthesize(text, voice=ZH, vocoder="wavenet")
    audio = samples(griffin_lim)
    assert griffin_lim.audio_seconds == pytest.approx(neural.audio_seconds, rel=0.15)   # same mel, same length
    assert np.sqrt(np.mean(audio ** 2)) > 0.01
    assert speech_band_share(audio, 24000) > 0.8
    assert not np.array_equal(audio[:1000], samples(neural)[:1000])


@pytest.fixture
def bilingual_copy(tmp_path, joe_voice, zh_voice, data_dir):
    """A private data dir with copies of both voices (tampering must not touch the real ones), test-signed."""
    return private_data_dir(tmp_path, data_dir, [joe_voice, zh_voice])


def flip_byte(path) -> bytes:
    original = path.read_bytes()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    path.write_bytes(bytes(tampered))
    return original


def test_damaged_vocoder_falls_back_to_griffin_lim(bilingual_copy):
    root, env = bilingual_copy
    daemon = start_daemon(root.parent / "run-vocoder", root, extra=["--integrity-interval", "1"], env=env)
    try:
        victim = root / "voices" / ZH / "vocoder.onnx"
        with Client(daemon.endpoint) as client:
            original = flip_byte(victim)
            voice = wait_for_voice_state(client, ZH, "degraded", timeout=15)
            assert "vocoder.onnx" in voice["reason"] and voice["vocoder"] == "griffin-lim"
            result = client.synthesize("声码器坏了也能说话。", voice=ZH)
            assert result.audio_seconds > 1.0 and speech_band_share(samples(result), 24000) > 0.8
            assert client.synthesize("English is untouched.", voice=EN).audio_seconds > 0.5
            victim.write_bytes(original)
            wait_for_voice_state(client, ZH, "ready", timeout=60)
    finally:
        daemon.stop()


def test_neural_vocoder_that_fails_to_load_leaves_griffin_lim(bilingual_copy):
    """Damaged before start: the vocoder worker's own check of the bytes it loads refuses MB-MelGAN."""
    root, env = bilingual_copy
    flip_byte(root / "voices" / ZH / "vocoder.onnx")
    daemon = start_daemon(root.parent / "run-start", root, extra=["--integrity-interval", "0"], env=env)
    try:
        with Client(daemon.endpoint) as client:
            voice = wait_for_voice_state(client, ZH, "degraded", timeout=15)
            assert "Griffin-Lim" in voice["reason"]
            assert client.synthesize("还能说话。", voice=ZH).audio_seconds > 0.5
    finally:
        daemon.stop()


def test_damaged_acoustic_model_quarantines_only_that_voice(bilingual_copy):
    root, env = bilingual_copy
    daemon = start_daemon(root.parent / "run-acoustic", root, extra=["--integrity-interval", "1"], env=env)
    try:
        with Client(daemon.endpoint) as client:
            flip_byte(root / "voices" / ZH / "acoustic.onnx")
            wait_for_voice_state(client, ZH, "quarantined", timeout=15)
            with pytest.raises(RequestFailed) as failure:
                client.synthesize("你好。", voice=ZH)
            assert failure.value.errno == messages.E_VOICE_UNAVAILABLE
            assert client.synthesize("The English voice still speaks.").audio_seconds > 0.5
    finally:
        daemon.stop()
