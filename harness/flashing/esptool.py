"""esptool: a prebuilt image (an ESP-IDF build merged into one binary, written at 0x0) onto an ESP32 board over its
USB serial port. The harness builds nothing for such a board: the row names the ``image``, its ``chip``, and the
``build_id`` it answers HELLO with, which the harness checks after the flash as for any other board.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.flashing.base import Flasher, FlashError, ToolRun

if TYPE_CHECKING:
    from harness.build import Image
    from harness.lab import BenchRow

FLASH_BAUD = 460800


class Esptool(Flasher):
    name = "esptool"
    description = "esptool: write a prebuilt merged image at 0x0, then hard reset (ESP32 boards)"
    tools = ("esptool", "esptool.py")
    install = "install it into the virtual environment: .venv/bin/pip install esptool"
    keys = frozenset({"image", "chip", "build_id"})
    required = frozenset({"image", "chip", "build_id"})

    def problems(self, row: BenchRow) -> list[str]:
        if "://" in row.serial:
            return [f"flasher esptool writes through the serial port itself, so serial must be a local device "
                    f"(/dev/serial/by-id/...), not {row.serial}"]  # fmt: skip
        return []

    def flash(self, image: Image, row: BenchRow) -> ToolRun:
        if not Path(image.path).is_file():
            raise FlashError(f"cannot flash {row.name}: prebuilt image {image.path} does not exist "
                             f"(row key image, {row.where('image')})")  # fmt: skip
        argv = [self.require(), "--chip", row.chip, "--port", row.serial, "--baud", str(FLASH_BAUD),
                "--after", "hard_reset", "write_flash", "0x0", str(image.path)]  # fmt: skip
        return self.run(argv, timeout=row.flash_timeout, what=f"flashing {row.name} with esptool",
                        check=f"check nothing else holds {row.serial} and that chip {row.chip!r} is the board's "
                              "(hold BOOT while pressing RESET if it does not enter the bootloader)")  # fmt: skip

    def reset(self, row: BenchRow) -> None:
        self.run([self.require(), "--chip", row.chip, "--port", row.serial, "--after", "hard_reset", "chip_id"],
                 timeout=row.flash_timeout, what=f"resetting {row.name} with esptool",
                 check=f"check nothing else holds {row.serial}")  # fmt: skip
