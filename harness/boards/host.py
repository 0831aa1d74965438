"""The firmware built for the host by the system compiler: a process serving the protocol on a loopback socket,
or on a pseudo-terminal (options.extra["link"] = "pty") so the serial-port path of pyserial is exercised too."""

from __future__ import annotations

import signal

from harness.boards._process import BoardProcess, default_log_dir
from harness.boards.base import Board, BoardError
from harness.build import Image


class HostBoard(Board):
    name = "host"
    description = "firmware built for this machine by the system compiler; link socket://127.0.0.1:N"
    firmware_board = "host"
    cross = False

    def __init__(self, options=None) -> None:
        super().__init__(options)
        self._proc: BoardProcess | None = None

    def _flash(self, image: Image) -> None:
        if not image.path.exists():
            raise BoardError(f"host image {image.path} does not exist; rebuild it")

    def _start(self) -> str:
        assert self.image is not None
        log_dir = self.options.log_dir or default_log_dir()
        link = self.options.extra.get("link", "socket")
        if link == "pty":
            self._proc = BoardProcess([str(self.image.path), "--pty"], log_dir / f"{self.name}-pty.log")
            return self._proc.wait_for(r"HIL-HOST pty (\S+)", timeout=10).group(1)
        if link != "socket":
            raise BoardError(f"host board link {link!r} is not one it serves; use 'socket' or 'pty'")
        self._proc = BoardProcess([str(self.image.path), "--port", "0"], log_dir / f"{self.name}.log")
        m = self._proc.wait_for(r"HIL-HOST listening (127\.0\.0\.1:\d+)", timeout=10)
        return f"socket://{m.group(1)}"

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def alive(self) -> bool | None:
        return None if self._proc is None else self._proc.alive()  # None: not started, nothing to judge

    def reset(self) -> None:
        """SIGHUP is the host board's reset line: the firmware re-executes itself and keeps the link open."""
        if self._proc is None:
            raise BoardError("host board is not running; start() it first")
        self._proc.signal(signal.SIGHUP)

    def facts(self) -> dict[str, str]:
        return {"board": self.name, "log": str(self._proc.log_path) if self._proc else ""}
