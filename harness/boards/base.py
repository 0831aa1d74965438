"""Board: what the harness does to a board, whatever it is. Data (options) apart from behaviour (this class)
apart from state (`state`: off -> flashed -> running).

A board kind is a subclass with a `name`; the registry in `harness.boards` finds every subclass in this
package's modules, so adding a board is adding a module.
"""

from __future__ import annotations

import enum
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from harness.build import FirmwareSpec, Image, build_firmware

log = logging.getLogger("harness.boards")


class BoardError(RuntimeError):
    """The board did not start, stopped, or cannot do what was asked."""


class FlashError(BoardError):
    """The image did not get onto the board, the board runs another image than the one flashed, or the probe could
    not reset it (raised by harness.flashing). ``output`` keeps what the flasher's tool printed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class BoardState(enum.Enum):
    OFF = "off"
    FLASHED = "flashed"
    RUNNING = "running"


@dataclass
class BoardOptions:
    log_dir: Path | None = None  # where the board's own output (emulator, process) is written
    extra: dict[str, str] = field(default_factory=dict)


class Board(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    firmware_board: ClassVar[str | None] = None  # folder under firmware/boards/; None: the harness builds nothing
    cross: ClassVar[bool] = True

    def __init__(self, options: BoardOptions | None = None) -> None:
        self.options = options or BoardOptions()
        self.state = BoardState.OFF
        self.image: Image | None = None
        self.url: str | None = None

    # ---- lifecycle --------------------------------------------------------------------------------------------
    def spec(self, *, builtin_model: bytes | None = None, defines: dict[str, str] | None = None) -> FirmwareSpec:
        if self.firmware_board is None:
            raise BoardError(f"board {self.name!r} runs firmware the harness does not build")
        return FirmwareSpec(self.firmware_board, self.cross, builtin_model, dict(defines or {}))

    def build(self, *, builtin_model: bytes | None = None, defines: dict[str, str] | None = None) -> Image:
        return build_firmware(self.spec(builtin_model=builtin_model, defines=defines))

    def flash(self, image: Image) -> None:
        """Put `image` on the board; a running board is stopped first and must be started again."""
        if self.state is BoardState.RUNNING:
            self.stop()
        self._flash(image)
        self.image = image
        self.state = BoardState.FLASHED

    def start(self) -> str:
        """Run the flashed image; returns the link URL."""
        if self.state is BoardState.RUNNING:
            assert self.url is not None
            return self.url
        if self.state is BoardState.OFF:
            raise BoardError(f"board {self.name!r} has no image: build() and flash() it first")
        self.url = self._start()
        self.state = BoardState.RUNNING
        log.info("board %s running, link %s", self.name, self.url)
        return self.url

    def stop(self) -> None:
        if self.state is BoardState.RUNNING:
            self._stop()
            self.state = BoardState.FLASHED
            self.url = None

    @property
    def lease_key(self) -> str | None:
        """What a run must hold a lease on (harness.lease) before it drives this board: None for a board every run
        starts for itself (host, QEMU); a bench row's name, a URL's address for a board others could reach too."""
        return None

    @property
    def line_baud(self) -> int | None:
        """The rate of the real UART line the link runs over: None where there is none (a host process's socket,
        QEMU's chardev), which carry bytes as fast as the host copies them (--hil-baud then paces them)."""
        return None

    @property
    def budgets_name(self) -> str:
        """Whose budgets gate this board's figures (``reports/baselines/<name>.toml``): its own, for a board kind."""
        return self.name

    def alive(self) -> bool | None:
        """Whether the device is still running: True/False where the harness can tell (a process it started),
        None where it cannot (a board behind a URL). Failure classes use it to tell a crashed board from a model."""
        return None

    @abstractmethod
    def reset(self) -> None:
        """Reset the device out of band (reset line, emulator reset) without closing the link."""

    @abstractmethod
    def _flash(self, image: Image) -> None: ...

    @abstractmethod
    def _start(self) -> str: ...

    @abstractmethod
    def _stop(self) -> None: ...

    def facts(self) -> dict[str, str]:
        """What a report should say about how this board was run."""
        return {"board": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.state.value} {self.url or ''}>"
