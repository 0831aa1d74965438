"""none: the harness does not flash this board; it must already run the image the harness would have flashed.
The build id is still checked against HELLO, so a board running something else is refused, not tested."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.flashing.base import Flasher, FlashError, log

if TYPE_CHECKING:
    from harness.build import Image
    from harness.lab import BenchRow


class NoFlasher(Flasher):
    name = "none"
    description = "flash nothing: the board already runs the image (its build id is still checked)"

    def flash(self, image: Image, row: BenchRow) -> None:
        log.info("flasher none: %s is expected to run build id %016x already", row.name, image.build_id)
        return None

    def reset(self, row: BenchRow) -> None:
        raise FlashError(f"board {row.name} has flasher none, so nothing can reset it; give its row a flasher "
                         f"({row.where('flasher')})")  # fmt: skip
