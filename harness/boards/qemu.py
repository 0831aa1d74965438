"""Cortex-M microcontrollers emulated by QEMU, run with -icount shift=0 so the virtual clock advances exactly
1 ns per executed instruction: the device counter then measures instructions, repeatably.

The firmware's UART is QEMU's first serial port, served as a TCP socket that pyserial opens as socket://.
QEMU's QMP socket is the board's reset line.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from harness.boards._process import BoardProcess, default_log_dir
from harness.boards.base import Board, BoardError
from harness.build import Image
from harness.link import free_local_port

QEMU = "qemu-system-arm"


class Qmp:
    """The few QMP commands a board needs, over QEMU's unix socket."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout

    def execute(self, command: str) -> dict:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(self.timeout)
            s.connect(str(self.path))
            f = s.makefile("rwb")
            json.loads(f.readline())  # greeting
            for cmd in ("qmp_capabilities", command):
                f.write(json.dumps({"execute": cmd}).encode() + b"\n")
                f.flush()
                while True:  # skip asynchronous events until the command's answer
                    answer = json.loads(f.readline())
                    if "return" in answer or "error" in answer:
                        break
                if "error" in answer:
                    raise BoardError(f"QEMU refused {cmd}: {answer['error']}")
            return answer


UNIX_PATH_MAX = 100  # a unix socket's path must stay below 108 bytes (sun_path), with room for the kernel's NUL


class QemuBoard(Board):
    machine: ClassVar[str]
    cpu_name: ClassVar[str]

    def __init__(self, options=None) -> None:
        super().__init__(options)
        self._proc: BoardProcess | None = None
        self._qmp: Qmp | None = None

    def _flash(self, image: Image) -> None:
        if shutil.which(QEMU) is None:
            raise BoardError(f"{QEMU} is not installed; run `make setup` (apt-get install qemu-system-arm)")

    def argv(self, serial_port: int, qmp_path: Path) -> list[str]:
        assert self.image is not None
        # nodelay: the UART hands QEMU one byte at a time; with Nagle's algorithm on, every answer after its first
        # byte waited for the client's delayed ACK (40 ms), which made each round trip ~44 ms instead of ~4 ms
        return [
            QEMU, "-M", self.machine, "-display", "none", "-monitor", "none",
            "-icount", "shift=0",
            "-kernel", str(self.image.path),
            "-serial", f"tcp:127.0.0.1:{serial_port},server=on,wait=on,nodelay=on",
            "-qmp", f"unix:{qmp_path},server=on,wait=off",
            *self._peer_args(),
            *self._trace_args(),
        ]  # fmt: skip

    def _trace_args(self) -> list[str]:
        """options.extra["exec_trace"] = PATH: QEMU writes every block it translates and every block it executes there
        (the input of harness.cycles' Cortex-M4 cycle estimate). Slow and large: about 80 bytes per block executed."""
        path = self.options.extra.get("exec_trace")
        return ["-d", "exec,nochain,in_asm", "-D", path] if path else []

    def _peer_args(self) -> list[str]:
        """The board-to-board link (options.extra["peer"] = "listen:PORT" or "connect:PORT"): the machine's second
        UART joined to another QEMU's over a local TCP socket. The listening side starts first and does not wait;
        the connecting side retries each second until it is there."""
        peer = self.options.extra.get("peer")
        if peer is None:
            return []
        role, _, port = peer.partition(":")
        if role not in ("listen", "connect") or not port.isdigit():
            raise BoardError(f"peer link {peer!r}: write 'listen:PORT' or 'connect:PORT'")
        mode = "server=on,wait=off" if role == "listen" else "reconnect=1"
        return [
            "-chardev", f"socket,id=peer,host=127.0.0.1,port={port},{mode},nodelay=on",
            "-serial", "chardev:peer",
        ]  # fmt: skip

    def _start(self) -> str:
        log_dir = self.options.log_dir or default_log_dir()
        log_dir.mkdir(parents=True, exist_ok=True)
        qmp_path = log_dir / f"{self.name}-{id(self):x}.qmp"
        if len(str(qmp_path)) > UNIX_PATH_MAX:  # a deep report folder: the socket goes where its path fits
            qmp_path = Path(tempfile.gettempdir()) / f"hil-{os.getpid()}-{id(self):x}.qmp"
        for _attempt in range(5):  # the free port can be taken between our probe and QEMU's bind
            port = free_local_port()
            qmp_path.unlink(missing_ok=True)
            self._proc = BoardProcess(self.argv(port, qmp_path), log_dir / f"{self.name}.log")
            if self._wait_listening(port):
                self._qmp = Qmp(qmp_path)
                return f"socket://127.0.0.1:{port}"
            out = self._proc.output()
            self._proc.stop()
            if "Address already in use" not in out:
                raise BoardError(f"QEMU did not start ({self.machine}); its output:\n{out[-2000:]}")
        raise BoardError("QEMU could not bind a free TCP port for the serial link after 5 attempts")

    def _wait_listening(self, port: int, timeout: float = 10.0) -> bool:
        """QEMU prints nothing when ready; it is ready once its serial server socket exists."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._proc.alive():
            with open("/proc/net/tcp") as f:
                if any(f":{port:04X} " in line and " 0A " in line for line in f):  # 0A = LISTEN
                    return True
            time.sleep(0.02)
        return False

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None
        if self._qmp is not None:
            self._qmp.path.unlink(missing_ok=True)  # a socket left behind would only collect in the folder
        self._qmp = None

    def alive(self) -> bool | None:
        return None if self._proc is None else self._proc.alive()  # None: not started, nothing to judge

    def reset(self) -> None:
        """QMP system_reset: the emulated reset line; the firmware boots again and prints its banner."""
        if self._qmp is None:
            raise BoardError(f"board {self.name} is not running; start() it first")
        self._qmp.execute("system_reset")

    def facts(self) -> dict[str, str]:
        return {
            "board": self.name,
            "machine": self.machine,
            "command": " ".join(self._proc.argv) if self._proc else "",
            "log": str(self._proc.log_path) if self._proc else "",
        }


class QemuStm32f4(QemuBoard):
    name = "qemu-stm32f4"
    description = (
        "STM32F405 (Cortex-M4F) on QEMU netduinoplus2, held to the STM32F401RE's 96 KB RAM / "
        "512 KB flash; counter = instructions under -icount shift=0"
    )
    firmware_board = "qemu-stm32f4"
    machine = "netduinoplus2"
    cpu_name = "cortex-m4"


class QemuCortexM3(QemuBoard):
    name = "qemu-cm3"
    description = (
        "Cortex-M3 without FPU (soft float) on QEMU mps2-an385, held to the STM32F103RE's 64 KB RAM / "
        "512 KB flash; counter = exact instructions under -icount shift=0 (25 MHz FPGAIO counter + tick phase)"
    )
    firmware_board = "qemu-cm3"
    machine = "mps2-an385"
    cpu_name = "cortex-m3"
