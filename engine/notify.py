"""sd_notify without a dependency: one datagram to $NOTIFY_SOCKET (READY=1, WATCHDOG=1, STATUS=...)."""

from __future__ import annotations

import os
import socket


def send(*fields: str) -> bool:
    """Tell systemd about our state; a no-op (False) when not run by systemd.

    Never blocks: a datagram socket whose reader is behind (its queue holds
    net.unix.max_dgram_qlen datagrams) would otherwise freeze the supervisor's loop,
    so a full queue drops this datagram and returns False.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.send("\n".join(fields).encode(), socket.MSG_DONTWAIT)
        return True
    except OSError:
        return False
