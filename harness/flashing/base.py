"""Flasher: how an image gets onto a bench board and how the board is reset, through its probe.

A flasher is a subclass with a ``name`` in a module of this package (the registry finds it by import). It reads
its keys of the board's lab.toml row (``keys``, ``required``), runs its tool as a subprocess with a timeout, logs
every line the tool prints to the ``harness.flashing`` logger (so it lands in the test's log), and raises
:class:`FlashError` — with the tool's output — when the image did not get onto the board.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from harness.boards.base import FlashError  # defined with BoardError, so reporting maps it without this package

if TYPE_CHECKING:
    from harness.build import Image
    from harness.lab import BenchRow

log = logging.getLogger("harness.flashing")


@dataclass(frozen=True)
class ToolRun:
    """One run of a flasher's tool."""

    argv: tuple[str, ...]
    returncode: int
    output: str
    seconds: float

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output.strip().splitlines()[-lines:])


class Flasher(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    tools: ClassVar[tuple[str, ...]] = ()  # executables it runs, the first one found is used; () runs nothing
    install: ClassVar[str] = ""  # how to get the tool, said when it is missing
    keys: ClassVar[frozenset[str]] = frozenset()  # the lab.toml keys it reads beyond the common ones
    required: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def flash(self, image: Image, row: BenchRow) -> ToolRun | None:
        """Write ``image`` and leave the board running it (reset and run). None: nothing was run."""

    @abstractmethod
    def reset(self, row: BenchRow) -> None:
        """Reset the board and let it run, without touching its serial port."""

    def problems(self, row: BenchRow) -> list[str]:
        """What in ``row`` this flasher cannot work with (lab.toml refuses the row with these)."""
        return []

    # ---- the tool ---------------------------------------------------------------------------------------------
    def executable(self) -> str | None:
        for tool in self.tools:
            found = shutil.which(tool)
            if found:
                return found
        return None

    def present(self) -> bool:
        return not self.tools or self.executable() is not None

    def require(self) -> str:
        exe = self.executable()
        if exe is None:
            raise FlashError(f"flasher {self.name} needs {' or '.join(self.tools)}, which is not installed here: "
                             f"{self.install}")  # fmt: skip
        return exe

    def version(self) -> str:
        """First line of the tool's --version, for the run's rows ('' when it runs no tool or is missing)."""
        exe = self.executable()
        if exe is None:
            return ""
        try:
            done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        text = (done.stdout or done.stderr).strip()
        return text.splitlines()[0] if text else ""

    def run(self, argv: list[str], *, timeout: float, what: str, check: str) -> ToolRun:
        """Run the tool; its output is logged line by line. A non-zero exit or a timeout is a FlashError that
        carries the output and says what to ``check``."""
        log.info("$ %s", " ".join(argv))
        started = time.monotonic()
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            out = (exc.output or b"").decode(errors="replace")
            _log_output(out)
            raise FlashError(
                f"{what}: {argv[0]} did not finish within {timeout:g} s (the row's flash_timeout); {check}. "
                f"Its output:\n{_tail(out)}",
                out,
            ) from exc
        except OSError as exc:
            raise FlashError(f"{what}: cannot run {argv[0]}: {exc}; {self.install}") from exc
        out = done.stdout.decode(errors="replace")
        _log_output(out)
        result = ToolRun(tuple(argv), done.returncode, out, time.monotonic() - started)
        if done.returncode != 0:
            raise FlashError(f"{what}: {argv[0]} failed (exit {done.returncode}); {check}. Its output:\n"
                             f"{result.tail()}", out)  # fmt: skip
        log.info("%s: done in %.2f s", what, result.seconds)
        return result


def _log_output(out: str) -> None:
    for line in out.splitlines():
        if line.strip():
            log.info("  %s", line.rstrip())


def _tail(out: str, lines: int = 20) -> str:
    return "\n".join(out.strip().splitlines()[-lines:]) or "(nothing)"
