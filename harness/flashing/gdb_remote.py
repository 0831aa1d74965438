"""gdb-remote: any GDB server is the probe — OpenOCD's port, pyOCD gdbserver, st-util, SEGGER J-Link GDB Server, a
Black Magic Probe (row key ``gdb`` is then its serial device), or QEMU's own stub. ``gdb-multiarch`` connects, runs
the row's ``gdb_init``, ``load``s the ELF, resets the core with the server's monitor command (the row's ``reset``),
and detaches so the board runs.

The commands go to GDB as a command file: GDB stops a command file at its first error, so a reached
``HIL-FLASH-OK`` marker means every step worked (with ``-ex`` options GDB carries on after a failed step and may
still exit 0).

Reset commands by server (row key ``reset``, without the word ``monitor``):

- OpenOCD: ``reset run`` (the default)
- pyOCD gdbserver, SEGGER J-Link GDB Server, st-util: ``reset``
- QEMU's gdbstub: ``system_reset`` (an unknown monitor command aborts QEMU 7.2)
"""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from harness.flashing.base import Flasher, FlashError, ToolRun, log

if TYPE_CHECKING:
    from harness.build import Image
    from harness.lab import BenchRow

DONE = "HIL-FLASH-OK"
CONNECT_TIMEOUT = 3.0  # seconds to reach the GDB server's port before GDB is started


class GdbRemote(Flasher):
    name = "gdb-remote"
    description = "gdb-multiarch load + monitor reset through any GDB server (OpenOCD, pyOCD, J-Link, BMP, QEMU)"
    tools = ("gdb-multiarch", "arm-none-eabi-gdb")
    install = "install it: apt-get install gdb-multiarch (make setup does)"
    keys = frozenset({"gdb", "reset", "gdb_init"})
    required = frozenset({"gdb"})

    def _reachable(self, row: BenchRow, what: str) -> None:
        address = row.gdb_address()
        try:
            if isinstance(address, Path):  # a probe that is its own GDB server on a serial device (Black Magic)
                address.open("rb").close()
            else:
                with socket.create_connection(address, timeout=CONNECT_TIMEOUT):
                    pass
        except OSError as exc:
            raise FlashError(
                f"{what}: no GDB server answers at {row.gdb} ({exc}); start the board's GDB server (openocd, "
                f"pyocd gdbserver, JLinkGDBServer, st-util) and check the row's gdb key ({row.where('gdb')})"
            ) from exc

    def _session(self, row: BenchRow, commands: list[str], elf: Path | None, *, what: str, check: str) -> ToolRun:
        exe = self.require()
        self._reachable(row, what)
        script = ["set confirm off", "set pagination off", f"set tcp connect-timeout {CONNECT_TIMEOUT:.0f}",
                  f"target extended-remote {row.gdb}", *row.gdb_init, *commands,
                  "detach", f"echo {DONE}\\n"]  # fmt: skip
        with tempfile.NamedTemporaryFile("w", suffix=".gdb", prefix="hil-flash-") as f:
            f.write("\n".join(script) + "\n")
            f.flush()
            log.info("gdb commands: %s", "; ".join(script))
            argv = [exe, "-nx", "-batch", "-x", f.name] + ([str(elf)] if elf else [])
            run = self.run(argv, timeout=row.flash_timeout, what=what, check=check)
        if DONE not in run.output:
            raise FlashError(f"{what}: gdb stopped before the end of its commands; {check}. Its output:\n"
                             f"{run.tail()}", run.output)  # fmt: skip
        return run

    def flash(self, image: Image, row: BenchRow) -> ToolRun:
        if not Path(image.path).is_file():
            raise FlashError(f"cannot flash {row.name}: image {image.path} does not exist; build it again")
        run = self._session(
            row, ["load", f"monitor {row.reset}"], Path(image.path), what=f"flashing {row.name} through {row.gdb}",
            check=f"check the GDB server's log, that it is attached to this board's core, and that "
                  f"'monitor {row.reset}' is its reset command (row key reset, {row.where()})",
        )  # fmt: skip
        if "load size" not in run.output:
            raise FlashError(f"flashing {row.name}: gdb did not report a load; its output:\n{run.tail()}", run.output)
        return run

    def reset(self, row: BenchRow) -> None:
        self._session(
            row,
            [f"monitor {row.reset}"],
            None,
            what=f"resetting {row.name} through {row.gdb}",
            check=f"check that 'monitor {row.reset}' is the GDB server's reset command (row key reset)",
        )
