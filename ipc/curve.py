"""ZeroMQ CURVE for the optional TCP endpoint: who may talk to the daemon over the network.

The local Unix socket is guarded by file permissions; TCP has none, so it is off unless configured,
and then every TCP client must hold a CURVE key pair whose public half is in the trust store
(`<trust dir>/curve/*.key`, next to the voice-signing keys). The daemon's own CURVE key pair lives
in its data directory (`curve/server.key`, `server.key_secret`), created on first use; clients need
its public file to verify they reach the right daemon. Certificates are pyzmq's zmq.auth format.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from models.signing import trust_dir_for_writing, trust_dirs

CURVE_DIRNAME = "curve"
SERVER_NAME = "server"
ZAP_DOMAIN = "ttsd"
ENV_CLIENT_SECRET = "TTSD_CURVE_SECRET"       # the client's *.key_secret certificate
ENV_SERVER_PUBLIC = "TTSD_CURVE_SERVER"       # the daemon's server.key certificate


class CurveError(RuntimeError):
    """CURVE keys are missing or unreadable."""


@dataclass(frozen=True)
class ClientCurve:
    """What a TCP client needs: its own certificate (with secret) and the daemon's public one."""

    secret_file: Path
    server_public_file: Path

    @staticmethod
    def from_environment() -> "ClientCurve | None":
        secret, server = os.environ.get(ENV_CLIENT_SECRET), os.environ.get(ENV_SERVER_PUBLIC)
        if not secret and not server:
            return None
        if not secret or not server:
            raise CurveError(f"set both {ENV_CLIENT_SECRET} (your *.key_secret) and {ENV_SERVER_PUBLIC} "
                             "(the daemon's server.key) to talk to ttsd over TCP")
        return ClientCurve(Path(secret), Path(server))

    def apply(self, socket: zmq.Socket) -> None:
        public, secret = _load(self.secret_file, need_secret=True)
        server_public, _ = _load(self.server_public_file, need_secret=False)
        socket.curve_publickey = public
        socket.curve_secretkey = secret
        socket.curve_serverkey = server_public


def server_keys(data_dir: Path) -> tuple[bytes, bytes, Path]:
    """The daemon's key pair (created once, secret file 0600) and the path of its public certificate."""
    directory = data_dir / CURVE_DIRNAME
    secret_file = directory / f"{SERVER_NAME}.key_secret"
    if not secret_file.is_file():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        zmq.auth.create_certificates(str(directory), SERVER_NAME)
        os.chmod(secret_file, 0o600)
    public, secret = _load(secret_file, need_secret=True)
    return public, secret, directory / f"{SERVER_NAME}.key"


def trusted_client_keys(system: bool) -> set[bytes]:
    """Z85 public keys of every certificate in the trust store's curve/ folders."""
    keys = set()
    for directory in trust_dirs(system):
        folder = directory / CURVE_DIRNAME
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.key")):
            try:
                public, _ = zmq.auth.load_certificate(str(path))
            except (OSError, ValueError):
                continue
            keys.add(public)
    return keys


class TrustStoreKeys:
    """ZAP credentials provider: a client key is allowed if the trust store holds it now (re-read on
    every connection, so `ttsd keys curve-trust` takes effect without a restart)."""

    def __init__(self, system: bool):
        self.system = system

    def callback(self, domain: str, client_key: bytes) -> bool:
        return client_key in trusted_client_keys(self.system)


def start_authenticator(context: zmq.Context, system: bool) -> ThreadAuthenticator:
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve_callback(domain=ZAP_DOMAIN, credentials_provider=TrustStoreKeys(system))
    return authenticator


def make_server_socket(context: zmq.Context, endpoint: str, data_dir: Path) -> tuple[zmq.Socket, Path]:
    public, secret, public_file = server_keys(data_dir)
    socket = context.socket(zmq.ROUTER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.curve_server = True
    socket.curve_publickey = public
    socket.curve_secretkey = secret
    socket.zap_domain = ZAP_DOMAIN.encode()
    socket.bind(endpoint)
    return socket, public_file


def generate_client_keys(directory: Path, name: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    public_file, secret_file = zmq.auth.create_certificates(str(directory), name)
    os.chmod(secret_file, 0o600)
    return Path(public_file), Path(secret_file)


def trust_client_key(public_file: Path, system: bool) -> Path:
    """Copy a client's public certificate into the trust store."""
    _load(public_file, need_secret=False)
    folder = trust_dir_for_writing(system) / CURVE_DIRNAME
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / public_file.name
    shutil.copyfile(public_file, target)
    return target


def _load(path: Path, need_secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as error:
        raise CurveError(f"cannot read the CURVE certificate {path}: {error}") from None
    if need_secret and not secret:
        raise CurveError(f"{path} holds no secret key; give the *.key_secret file")
    return public, secret
