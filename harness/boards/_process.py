"""A board that is a local process (the host firmware, an emulator): start, watch its log, stop."""

from __future__ import annotations

import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from harness.boards.base import BoardError
from harness.lifetime import die_with_parent


class BoardProcess:
    def __init__(self, argv: list[str], log_path: Path) -> None:
        self.argv = argv
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self._log.write(f"$ {' '.join(argv)}\n".encode())
        self._log.flush()
        self._offset = log_path.stat().st_size
        try:
            # killed with whoever started it: a board never outlives a run that was killed with kill -9
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent())  # fmt: skip
        except OSError as exc:
            self._log.close()
            raise BoardError(f"cannot start {argv[0]}: {exc}") from exc

    def output(self) -> str:
        """What the process has printed since it started."""
        with self.log_path.open("rb") as f:
            f.seek(self._offset)
            return f.read().decode(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            m = regex.search(self.output())
            if m:
                return m
            if self.proc.poll() is not None:
                raise BoardError(
                    f"{self.argv[0]} exited with {self.proc.returncode} before printing "
                    f"/{pattern}/; its output:\n{self.output()[-2000:]}"
                )
            if time.monotonic() >= deadline:
                raise BoardError(
                    f"{self.argv[0]} did not print /{pattern}/ within {timeout:.0f} s; "
                    f"its output:\n{self.output()[-2000:]}"
                )
            time.sleep(0.02)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if not self.alive():
            raise BoardError(
                f"{self.argv[0]} is not running (exit {self.proc.returncode}); output:\n{self.output()[-2000:]}"
            )
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 5.0) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def default_log_dir() -> Path:
    return Path(tempfile.gettempdir()) / "hil-board-logs"
