"""A board on the bench, made from its lab.toml row: built as its kind, flashed by the row's flasher, reached on
the row's serial URL, reset through the probe.

Not a registry kind (the class has no ``name``): one is made per row, by ``get_board(row_name, lab=...)``.

flash() first asks the board over its serial port whether it already runs the image: a HELLO answered with the
image's build id skips the flash (pytest-embedded's skip-autoflash, decided by the build id instead of a flag).
start() waits until the board answers HELLO with that build id, so a silent board is a ``board`` failure that says
what to check, and a board running another image a ``flash`` failure — never a link timeout inside a model test.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from harness.boards.base import Board, BoardError, BoardOptions
from harness.build import FirmwareSpec, Image
from harness.flashing import FlashError, get_flasher
from harness.lab import BenchRow
from harness.link import LinkError, open_link
from harness.proto.client import BuildMismatch, Client

log = logging.getLogger("harness.boards")

PROBE_SECONDS = 1.0  # how long flash() waits for a running board to answer before it flashes


class BoardSilent(BoardError):
    """The board does not answer HELLO on its serial port after a flash or reset."""


def firmware_of(kind: str) -> tuple[str, bool]:
    """The firmware folder (under firmware/boards/) and cross flag a bench row of ``kind`` builds: a registry
    kind's own (a QEMU stand-in builds exactly its kind's image), else a folder named like the kind."""
    from harness.boards import board_kinds
    from harness.defaults import FIRMWARE_DIR

    cls = board_kinds().get(kind)
    if cls is not None and cls.firmware_board:
        return cls.firmware_board, cls.cross
    for folder in (kind, kind.replace("-", "_")):
        if (FIRMWARE_DIR / "boards" / folder / "board.cmake").is_file():
            return folder, True
    raise BoardError(f"kind {kind!r} has no firmware folder under firmware/boards/ and is no board kind "
                     "(python -m harness boards); add the board port or fix the row's kind")  # fmt: skip


def port_present(url: str, timeout: float = 0.5) -> tuple[bool, str]:
    """Whether the serial URL is there on this machine: a device node exists, a socket accepts connections."""
    parts = urlsplit(url)
    if parts.scheme in ("socket", "rfc2217"):
        try:
            with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=timeout):
                return True, "accepts connections"
        except (OSError, ValueError) as exc:
            return False, f"no answer ({exc})"
    if parts.scheme == "loop":
        return True, "loopback"
    if "://" in url:
        return False, f"cannot check a {parts.scheme}:// URL"
    if not os.path.exists(url):
        return False, "no such device (unplugged? see ls /dev/serial/by-id/)"
    if not os.access(url, os.R_OK | os.W_OK):
        return False, "present but not readable/writable by this user (udev rule, docs/bench.md)"
    return True, "present"


class BenchBoard(Board):
    description = "a board on the bench, from a lab.toml row"

    def __init__(self, row: BenchRow, options: BoardOptions | None = None) -> None:
        super().__init__(options)
        self.row = row
        self.name = row.name  # type: ignore[misc]  # per instance: the row's name is the board's
        self.flasher = get_flasher(row.flasher)
        if row.prebuilt:
            self.firmware_board = None  # type: ignore[misc]
        else:
            self.firmware_board, self.cross = firmware_of(row.kind)  # type: ignore[misc]
        self.last_flash = ""  # what the last flash() did, for facts()
        self._reset_on_start = False  # stopped (a session closed, a retry): start() restarts the board first
        self._tool_version: str | None = None

    # ---- build ------------------------------------------------------------------------------------------------

    @property
    def lease_key(self) -> str | None:
        from harness.lease import row_key

        return row_key(self.row.name)

    @property
    def line_baud(self) -> int | None:
        return self.row.baud

    @property
    def budgets_name(self) -> str:
        """The kind's budgets: a row is one board of its kind, and the kind's figures are what it must meet (the CI
        stand-in runs the qemu-stm32f4 image on the same emulator, so its instruction counts must be those)."""
        return self.row.kind

    def build(self, *, builtin_model: bytes | None = None, defines: dict[str, str] | None = None) -> Image:
        if self.row.prebuilt:
            if builtin_model is not None or defines:
                raise BoardError(f"board {self.name} runs a prebuilt image ({self.row.image}); the harness cannot "
                                 "compile a model or options into it")  # fmt: skip
            assert self.row.image is not None and self.row.build_id is not None
            spec = FirmwareSpec(f"prebuilt:{self.row.image.name}", True)
            image = Image(self.row.image, self.row.build_id, spec, self.row.image.parent, {}, True, "prebuilt")
        else:
            image = super().build(builtin_model=builtin_model, defines=defines)
        # the rows of a run name what put the image on the board beside what built it
        return dataclasses.replace(image, toolchain=f"{image.toolchain} | flasher {self.flasher_identity()}")

    def flasher_identity(self) -> str:
        if self._tool_version is None:
            self._tool_version = self.flasher.version()
        return f"{self.flasher.name} ({self._tool_version})" if self._tool_version else self.flasher.name

    # ---- flash, start, reset ----------------------------------------------------------------------------------
    def _answering_build_id(self, within: float) -> int | None:
        """The build id the board answers HELLO with now, or None when it does not answer."""
        try:
            port = open_link(self.row.serial, baudrate=self.row.baud, connect_timeout=within)
        except LinkError as exc:
            log.info("board %s: no link on %s (%s)", self.name, self.row.serial, exc)
            return None
        try:
            return Client(port, timeout=0.25, attempts=2).hello(within=within).build_id
        except (LinkError, OSError) as exc:
            log.info("board %s does not answer HELLO on %s (%s)", self.name, self.row.serial, type(exc).__name__)
            return None
        finally:
            port.close()

    def _flash(self, image: Image) -> None:
        self._reset_on_start = False  # a flash resets the board, or finds it running the image
        running = self._answering_build_id(PROBE_SECONDS)
        if running == image.build_id:
            self.last_flash = f"skipped: already runs build id {image.build_id_hex}"
            log.info("flash skipped: board %s already runs build id %s", self.name, image.build_id_hex)
            return
        if running is not None:
            log.info("board %s runs build id %016x; flashing %s", self.name, running, image.build_id_hex)
        started = time.monotonic()
        self.flasher.flash(image, self.row)
        seconds = time.monotonic() - started
        self.last_flash = f"flashed build id {image.build_id_hex} in {seconds:.2f} s"
        log.info("board %s: %s by %s", self.name, self.last_flash, self.flasher.name)

    def _start(self) -> str:
        assert self.image is not None
        if self._reset_on_start and self.flasher.name != "none":
            # a board started again after stop() (a retry after an infrastructure failure) restarts, as an emulator
            # would: a hung or wedged firmware gets a clean boot instead of the same state
            log.info("board %s started again: resetting it through %s", self.name, self.flasher.name)
            self.reset()
            self._reset_on_start = False
        self.wait_ready(self.image, after="the flash" if self.last_flash.startswith("flashed") else "start")
        return self.row.serial

    def wait_ready(self, image: Image, *, after: str) -> None:
        """Wait until the board answers HELLO with ``image``'s build id; BoardSilent or FlashError otherwise."""
        row = self.row
        started = time.monotonic()
        try:
            port = open_link(row.serial, baudrate=row.baud, connect_timeout=row.boot_timeout)
            try:
                # short attempts, so the wait ends near boot_timeout (a Client's default retransmits for 4 s)
                Client(port, timeout=0.5, attempts=2).hello(within=row.boot_timeout, expect_build_id=image.build_id)
            finally:
                port.close()
        except BuildMismatch as exc:
            if self.flasher.name == "none":
                raise FlashError(f"board {self.name} has flasher none and does not run build id "
                                 f"{image.build_id_hex}: {exc}. Flash that image by hand, or give the row a "
                                 f"flasher ({row.where('flasher')})") from exc  # fmt: skip
            raise FlashError(
                f"board {self.name} answers on {row.serial} with another image after {after}: {exc}. Check that "
                f"the probe ({row.probe or row.gdb or row.flasher}) and the serial port of [boards.{self.name}] "
                f"belong to the same board, and the flasher's output in the test log ({row.where()})"
            ) from exc
        except (LinkError, OSError) as exc:
            raise BoardSilent(
                f"board {self.name} does not answer HELLO on {row.serial} within {row.boot_timeout:.0f} s after "
                f"{after} (build id {image.build_id_hex}, flasher {row.flasher}): check the serial wiring or USB "
                f"cable, that baud {row.baud} is the firmware's, that the image's UART is the one behind this port "
                f"(firmware/boards/{self.firmware_board or row.kind}), and that the core left reset. "
                f"({row.where()}; {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc
        log.info("board %s answers with build id %s, %.2f s after %s", self.name, image.build_id_hex,
                 time.monotonic() - started, after)  # fmt: skip

    def _stop(self) -> None:
        """The session closes the link; the board keeps running its image until the next start() resets it."""
        self._reset_on_start = True

    def reset(self) -> None:
        """Through the probe (the flasher's reset); the serial link stays open."""
        self.flasher.reset(self.row)

    def facts(self) -> dict[str, str]:
        row = self.row
        return {
            "board": self.name,
            "kind": row.kind,
            "flasher": self.flasher_identity(),
            "probe": row.probe or row.gdb,
            "serial": row.serial,
            "last_flash": self.last_flash,
            "lab": str(Path(row.source)),
        }
