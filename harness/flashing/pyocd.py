"""pyocd: ``pyocd flash`` (programs, then resets and runs) through an ST-LINK, CMSIS-DAP or J-Link probe.

The target type comes from the row's ``target``, else from the board kind (:data:`TARGET_BY_KIND`); the row's
``probe`` is the probe's unique id (``pyocd list``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.flashing.base import Flasher, ToolRun

if TYPE_CHECKING:
    from harness.build import Image
    from harness.lab import BenchRow

TARGET_BY_KIND: dict[str, str] = {"nucleo-f401re": "stm32f401re"}


class PyOcd(Flasher):
    name = "pyocd"
    description = "pyOCD: flash (then reset and run) through ST-LINK, CMSIS-DAP or J-Link"
    tools = ("pyocd",)
    install = "install it into the virtual environment: .venv/bin/pip install pyocd"
    keys = frozenset({"target"})

    def _target(self, row: BenchRow) -> str:
        return row.target or TARGET_BY_KIND.get(row.kind, "")

    def problems(self, row: BenchRow) -> list[str]:
        if not self._target(row):
            return [f"flasher pyocd needs target for kind {row.kind!r} (e.g. target = \"stm32f401re\"; "
                    "pyocd list --targets)"]  # fmt: skip
        return []

    def _argv(self, row: BenchRow, command: str, *rest: str) -> list[str]:
        return [self.require(), command, "-t", self._target(row), *(["-u", row.probe] if row.probe else []), *rest]

    def flash(self, image: Image, row: BenchRow) -> ToolRun:
        return self.run(self._argv(row, "flash", str(image.path)), timeout=row.flash_timeout,
                        what=f"flashing {row.name} with pyocd",
                        check=f"check the probe {row.probe or '(any)'} is plugged in (pyocd list) and the target "
                              f"{self._target(row)!r} is the board's part")  # fmt: skip

    def reset(self, row: BenchRow) -> None:
        self.run(
            self._argv(row, "reset"),
            timeout=row.flash_timeout,
            what=f"resetting {row.name} with pyocd",
            check="check the probe is plugged in (pyocd list)",
        )
