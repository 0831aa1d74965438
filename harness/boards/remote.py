"""A board the harness neither builds nor starts: already running behind a link URL (a bench board on a USB
serial port, or a labgrid exporter's rfc2217:// port). It is not in the registry; --hil-link selects it.
"""

from __future__ import annotations

from harness.boards.base import Board, BoardError, BoardOptions, BoardState
from harness.build import Image


class LinkBoard(Board):
    description = "a board already running behind a pyserial URL"
    firmware_board = None

    def __init__(self, name: str, url: str, options: BoardOptions | None = None) -> None:
        super().__init__(options)
        self.name = name  # type: ignore[misc]  # per instance: it names whatever board sits behind the URL
        self.url = url
        self.state = BoardState.RUNNING

    @property
    def lease_key(self) -> str | None:
        assert self.url is not None
        return f"link:{self.url.split('?', 1)[0]}"  # the address; ?options do not make it another board

    def _flash(self, image: Image) -> None:
        raise BoardError(f"board {self.name!r} at {self.url} is not flashed by the harness; flash it on its bench")

    def _start(self) -> str:
        assert self.url is not None
        return self.url

    def _stop(self) -> None:
        """The link is closed by the session; the board itself keeps running."""

    def reset(self) -> None:
        raise BoardError(f"board {self.name!r} at {self.url} has no reset line the harness controls")

    def stop(self) -> None:
        pass
