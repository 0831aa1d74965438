"""open_link(url): the one place that opens a serial link. Every link is a pyserial URL."""

from __future__ import annotations

import logging
import socket
import time
from urllib.parse import urlsplit

import serial

log = logging.getLogger("harness.link")

URL_FORMS = (
    "socket://127.0.0.1:PORT (host board, QEMU), rfc2217://HOST:PORT (remote bench), loop:// (unit tests), "
    "or a device path such as /dev/ttyACM0, /dev/serial/by-id/... or a pty like /dev/pts/7"
)


class LinkError(RuntimeError):
    """The link to the board failed: cannot open, timed out, or went away."""


class LinkUrlError(LinkError):
    """The link URL cannot be opened as given."""


def _check_network_url(url: str) -> None:
    """socket:// and rfc2217:// need HOST:PORT. pyserial reports a malformed one as a failed open, which would be
    retried until the deadline and then blamed on the board; say what is wrong with the URL at once instead."""
    parts = urlsplit(url)
    if parts.scheme not in ("socket", "rfc2217"):
        return
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or not 0 < port < 65536:
        raise LinkUrlError(f"cannot open link {url!r}: {parts.scheme}:// wants HOST:PORT with a port 1-65535. "
                           f"Expected {URL_FORMS}")  # fmt: skip


def open_link(url: str, *, baudrate: int = 115200, connect_timeout: float = 10.0) -> serial.SerialBase:
    """Open `url` with pyserial, retrying a refused connection until `connect_timeout` (a board still booting).

    The returned port has a short read timeout: the protocol client polls and keeps its own deadlines.
    """
    if not url or not isinstance(url, str):
        raise LinkUrlError(f"no link URL given; expected one of: {URL_FORMS}")
    _check_network_url(url)
    deadline = time.monotonic() + connect_timeout
    # pyserial's rfc2217 client refuses a write timeout; elsewhere it keeps a wedged port from hanging a test
    extra = {} if url.startswith("rfc2217://") else {"write_timeout": 30}
    while True:
        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.02, **extra)
        except ValueError as exc:  # pyserial's answer to a URL it cannot parse
            raise LinkUrlError(f"cannot open link {url!r}: {exc}. Expected {URL_FORMS}") from exc
        except serial.SerialException as exc:
            if "waiting for option 'control'" in str(exc) and "ign_set_control" not in url:
                raise LinkError(
                    f"{url}: the rfc2217 server does not acknowledge modem-control (DTR/RTS) settings, as ser2net "
                    f"does for a port without those lines; add '?ign_set_control' to the URL"
                ) from exc
            if time.monotonic() >= deadline:
                raise LinkError(
                    f"cannot open link {url!r} within {connect_timeout:.0f} s: {exc}. Is the board running and "
                    "is nothing else holding the port?"
                ) from exc
            time.sleep(0.05)
            continue
        log.debug("opened %s", url)
        return port


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a board's socket:// link or a GDB stub to take."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
