"""Not a board kind but a stand-in for a board behind a probe, with no hardware: QEMU's netduinoplus2 (STM32F405)
started halted, nothing loaded, its GDB stub as the probe and its USART1 on a TCP socket as the board's serial port.
A lab.toml row with ``flasher = "gdb-remote"`` then takes exactly the path a Nucleo behind a GDB server takes: the
harness builds the image, gdb-multiarch loads it through the stub and resets the core, and the firmware answers
HELLO on the socket.

``tools/bench_standin.py start|stop --lab PATH`` runs one for ``make test``; tests use :func:`standin` directly.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.lifetime import die_with_parent
from harness.link import free_local_port

QEMU = "qemu-system-arm"
MACHINE = "netduinoplus2"
KIND = "qemu-stm32f4"  # the board kind whose image the stand-in runs
DEFAULT_NAME = "bench-stm32f4"


class StandinError(RuntimeError):
    """The stand-in QEMU did not start or cannot be found."""


@dataclass(frozen=True)
class Standin:
    pid: int
    gdb_port: int
    serial_port: int  # 0: the UART is on a pseudo-terminal (pty)
    log: str
    argv: tuple[str, ...]
    pty: str = ""

    @property
    def gdb(self) -> str:
        return f"127.0.0.1:{self.gdb_port}"

    @property
    def serial(self) -> str:
        return self.pty or f"socket://127.0.0.1:{self.serial_port}"

    def row(self, name: str = DEFAULT_NAME, **overrides: object) -> str:
        """The lab.toml table of this stand-in; ``overrides`` replace or add keys (a broken bench)."""
        keys: dict[str, object] = {"kind": KIND, "serial": self.serial, "baud": 115200, "flasher": "gdb-remote",
                                   "gdb": self.gdb, "reset": "system_reset"}  # fmt: skip
        keys.update(overrides)
        lines = [f"[boards.{name}]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
        return "\n".join(lines) + "\n"


def _listening(port: int) -> bool:
    with open("/proc/net/tcp") as f:
        return any(f":{port:04X} " in line and " 0A " in line for line in f)  # 0A = LISTEN


def start(log: Path, *, uart_connected: bool = True, pty: bool = False, tied: bool = False) -> Standin:
    """Start QEMU halted with its GDB stub; returns once both sockets listen. ``uart_connected=False`` puts the
    socket on USART2, which the firmware does not use: a board whose image talks on another UART than the port.
    ``pty=True`` puts the UART on a pseudo-terminal instead of a socket (a serial device, as a labgrid exporter
    wants one). ``tied=True``: QEMU dies with the thread that starts it (parent-death signal), for a process that
    supervises it rather than a command that starts it and exits."""
    log.parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(5):  # a free port may be taken between the probe and QEMU's bind
        gdb_port, serial_port = free_local_port(), 0 if pty else free_local_port()
        serial = "pty" if pty else f"tcp:127.0.0.1:{serial_port},server=on,wait=off,nodelay=on"
        offset = log.stat().st_size if log.exists() else 0
        argv = [QEMU, "-M", MACHINE, "-S", "-gdb", f"tcp:127.0.0.1:{gdb_port}", "-icount", "shift=0",
                "-display", "none", "-monitor", "none",
                *(["-serial", serial] if uart_connected else ["-serial", "null", "-serial", serial])]  # fmt: skip
        with log.open("ab") as out:
            out.write(f"$ {' '.join(argv)}\n".encode())
            out.flush()
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True,
                                        preexec_fn=die_with_parent() if tied else None)  # fmt: skip
            except OSError as exc:
                raise StandinError(f"cannot start {QEMU}: {exc}; make setup installs qemu-system-arm") from exc
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if pty:
                found = re.search(r"char device redirected to (/dev/pts/\d+)", log.read_text(errors="replace")[offset:])
                if found and _listening(gdb_port):
                    return Standin(proc.pid, gdb_port, 0, str(log), tuple(argv), found.group(1))
            elif _listening(gdb_port) and _listening(serial_port):
                return Standin(proc.pid, gdb_port, serial_port, str(log), tuple(argv))
            time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if "Address already in use" not in log.read_text(errors="replace"):
            raise StandinError(f"{QEMU} did not start; see {log}")
    raise StandinError(f"{QEMU} found no free TCP ports in 5 attempts; see {log}")


def stop(pid: int, timeout: float = 5.0) -> None:
    """Stop the stand-in with this pid, if it is still a QEMU (a pid file may outlive its process)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if QEMU.encode() not in cmdline:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it
        except ChildProcessError:
            waited = 0 if Path(f"/proc/{pid}").exists() else pid
        if waited == pid:
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)


@contextmanager
def standin(log: Path, *, uart_connected: bool = True) -> Iterator[Standin]:
    """A stand-in for the length of a ``with`` block."""
    found = start(log, uart_connected=uart_connected)
    try:
        yield found
    finally:
        stop(found.pid)


def state_path(lab: Path) -> Path:
    return lab.with_name(lab.name + ".standin.json")


def save(lab: Path, found: Standin, name: str) -> None:
    """Write the stand-in's lab.toml row to ``lab`` and its pid beside it, for ``stop``."""
    lab.parent.mkdir(parents=True, exist_ok=True)
    lab.write_text(f"# written by tools/bench_standin.py: QEMU {MACHINE} as a board behind a GDB server\n"
                   + found.row(name))  # fmt: skip
    state_path(lab).write_text(json.dumps(asdict(found), indent=2) + "\n")


def load(lab: Path) -> Standin | None:
    path = state_path(lab)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    data["argv"] = tuple(data["argv"])
    return Standin(**data)
