"""openocd: ``program ELF verify reset exit`` through an ST-LINK (or any adapter OpenOCD drives).

The config files come from the row's ``openocd_cfg``, else from the board kind (:data:`CONFIG_BY_KIND`); the row's
``probe`` selects one adapter among several (``adapter serial``, OpenOCD 0.11+).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.flashing.base import Flasher, ToolRun

if TYPE_CHECKING:
    from harness.build import Image
    from harness.lab import BenchRow

CONFIG_BY_KIND: dict[str, tuple[str, ...]] = {
    "nucleo-f401re": ("board/st_nucleo_f4.cfg",),  # ST-LINK/V2-1 on the Nucleo, STM32F4 target
}


class OpenOcd(Flasher):
    name = "openocd"
    description = "OpenOCD: program + verify + reset run (ST-LINK and other adapters)"
    tools = ("openocd",)
    install = "install it: apt-get install openocd"
    keys = frozenset({"openocd_cfg"})

    def _config(self, row: BenchRow) -> tuple[str, ...]:
        return row.openocd_cfg or CONFIG_BY_KIND.get(row.kind, ())

    def problems(self, row: BenchRow) -> list[str]:
        if not self._config(row):
            return [f"flasher openocd needs openocd_cfg for kind {row.kind!r} (e.g. openocd_cfg = "
                    '["interface/stlink.cfg", "target/stm32f4x.cfg"])']  # fmt: skip
        return []

    def _argv(self, row: BenchRow, *commands: str) -> list[str]:
        argv = [self.require()]
        for cfg in self._config(row):
            argv += ["-f", cfg]
        if row.probe:
            argv += ["-c", f"adapter serial {row.probe}"]
        for command in commands:
            argv += ["-c", command]
        return argv

    def flash(self, image: Image, row: BenchRow) -> ToolRun:
        return self.run(self._argv(row, f"program {{{image.path}}} verify reset exit"), timeout=row.flash_timeout,
                        what=f"flashing {row.name} with openocd",
                        check=f"check the probe {row.probe or '(any)'} is plugged in, the board powered, and "
                              f"openocd_cfg {list(self._config(row))} fits it")  # fmt: skip

    def reset(self, row: BenchRow) -> None:
        self.run(self._argv(row, "init", "reset run", "shutdown"), timeout=row.flash_timeout,
                 what=f"resetting {row.name} with openocd", check="check the probe is plugged in")  # fmt: skip
