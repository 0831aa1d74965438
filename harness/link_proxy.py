"""LinkProxy: a TCP proxy on 127.0.0.1 in front of a board's socket:// link, the shared part of the proxies that
change what a link does (harness.link_faults damages it, harness.link_pacing paces it at a UART's rate).

A subclass says how the two directions are carried (``_pump``); this class owns the listener, the one connection
at a time each board takes, and shutting down.
"""

from __future__ import annotations

import socket
import threading
from abc import ABC, abstractmethod
from typing import Self
from urllib.parse import urlsplit

from harness.link import LinkUrlError


class LinkProxy(ABC):
    """Listens on 127.0.0.1 (``url``); each connection made to it is joined to a new connection to ``upstream``
    (a socket:// URL) and carried by ``_pump`` until either end closes. One connection at a time, like the boards
    it fronts."""

    kind = "link proxy"  # what error messages call this proxy

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "socket" or not parts.hostname or parts.port is None:
            raise LinkUrlError(f"a {self.kind} fronts a socket://HOST:PORT link, not {upstream!r}")
        self.upstream = upstream
        self._upstream = (parts.hostname, parts.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=self.kind, daemon=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._listener.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                host_side, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with host_side, socket.create_connection(self._upstream, timeout=10) as device_side:
                # a UART sends each byte as it comes: no holding small writes back for a TCP acknowledgement (which
                # the far end delays by up to 40 ms)
                for side in (host_side, device_side):
                    side.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._pump(host_side, device_side)

    @abstractmethod
    def _pump(self, host_side: socket.socket, device_side: socket.socket) -> None:
        """Carry both directions until either end closes or the proxy is closed."""
