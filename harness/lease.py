"""Leases on boards that only one run may drive at a time: a board on the bench (a lab.toml row) or one reached at a
given URL. Emulated and host boards need none: every run starts its own.

A lease is an exclusive ``flock`` on one lock file per board, in a folder every user of the machine shares
(``$HIL_LOCK_DIR``, default ``<tmp>/hil-locks``). The file holds who has the board (pid, host, run id, since when),
so a run that has to wait says for whom, and ``python -m harness boards`` can show it. The kernel drops a lock when
its process dies, whatever killed it; the file's stale contents then tell the next holder that it took the board
over from a run that ended without releasing it, which it says in a warning.

flock is local to the machine: two machines reaching one board over the network need the bench's own locking
(labgrid's places), not this.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import platform
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.boards.base import BoardError
from harness.lifetime import start_ticks

log = logging.getLogger("harness.lease")
progress = logging.getLogger("harness.progress")

LOCK_DIR_ENV = "HIL_LOCK_DIR"

__all__ = ["BoardBusy", "BoardLease", "Holder", "holder_of", "lock_dir", "row_key"]


class BoardBusy(BoardError):
    """Another run holds the board for longer than this one would wait (a ``board`` failure: the bench's, not the
    model's)."""


@dataclass(frozen=True)
class Holder:
    board: str
    pid: int
    host: str
    run_id: str
    since: str  # UTC, ISO 8601
    start_ticks: int | None = None  # the holder process's start time (harness.lifetime), against pid reuse

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, run {self.run_id or '(no run id)'}, since {self.since}"


def row_key(row: str) -> str:
    """The lease key of a lab.toml row."""
    return f"lab:{row}"


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "hil-locks")


def _lock_path(board: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", board).strip("_") or "board"
    return lock_dir() / f"{safe}.lock"


def _read(path: Path) -> Holder | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    try:
        return Holder(**json.loads(text)) if text.strip() else None
    except (TypeError, ValueError):
        return None


def holder_of(board: str) -> Holder | None:
    """Who holds ``board`` now (None: nobody). A file whose holder's process is gone, or whose lock nobody holds,
    counts as free."""
    path = _lock_path(board)
    if not path.is_file():
        return None
    with open(path, "a+") as fh:  # a file object for flock
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(path)  # locked: its contents name the holder
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


class BoardLease:
    """``with BoardLease("bench-f4", run_id="...", timeout=300):`` holds the board for the block. Waits up to
    ``timeout`` seconds for another holder, saying every ``notice`` seconds whom it waits for; raises BoardBusy
    naming the holder when the time is up."""

    def __init__(self, board: str, *, run_id: str = "", timeout: float = 300.0, notice: float = 30.0) -> None:
        self.board = board
        self.run_id = run_id
        self.timeout = timeout
        self.notice = notice
        self.path = _lock_path(board)
        self._fd: int | None = None
        self.took_over: Holder | None = None  # the holder before us, when it ended without releasing the board

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> BoardLease:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # shared by every user of the machine; the sticky bit keeps files theirs
            folder.chmod(0o1777)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666)
        started = time.monotonic()
        said: float | None = None  # when the last "waiting for" line went out
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = _read(self.path)
                    waited = time.monotonic() - started
                    who = holder.describe() if holder else "a process that has not written its name yet"
                    if waited >= self.timeout:
                        raise BoardBusy(
                            f"board {self.board!r} is held by {who}; waited {waited:.0f} s. Wait for that run, "
                            f"stop it, or raise --hil-lease-timeout (lock file {self.path})"
                        ) from None
                    if said is None or time.monotonic() - said >= self.notice:
                        progress.info("waiting for board %s, held by %s (%.0f s so far)", self.board, who, waited)
                        said = time.monotonic()
                    time.sleep(0.2)
        except BaseException:
            os.close(fd)
            raise
        self.took_over = _read(self.path)  # a clean release leaves the file empty
        if self.took_over is not None:
            log.warning("took board %s over from %s, which ended without releasing it", self.board,
                        self.took_over.describe())  # fmt: skip
        me = Holder(self.board, os.getpid(), platform.node(), self.run_id,
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), start_ticks(os.getpid()))  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(me)).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)  # empty: released cleanly
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> BoardLease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lease_one_of(boards: list[str], *, run_id: str = "", timeout: float = 300.0, notice: float = 30.0) -> BoardLease:
    """A lease on whichever of ``boards`` is free first (in their order when several are): how workers of one run,
    or several runs, share a pool. Raises BoardBusy naming every holder when none came free within ``timeout``."""
    if not boards:
        raise BoardBusy("no board to lease: the pool is empty")
    started = time.monotonic()
    said: float | None = None
    while True:
        for board in boards:
            try:
                return BoardLease(board, run_id=run_id, timeout=0.0).acquire()
            except BoardBusy:
                continue
        waited = time.monotonic() - started
        holders = "; ".join(f"{b}: {h.describe() if (h := holder_of(b)) else 'just released'}" for b in boards)
        if waited >= timeout:
            raise BoardBusy(f"every board of the pool is held ({holders}); waited {waited:.0f} s. Wait for those "
                            "runs, use fewer workers than boards, or raise --hil-lease-timeout")  # fmt: skip
        if said is None or time.monotonic() - said >= notice:
            progress.info("waiting for a board of %s (%.0f s so far): %s", ", ".join(boards), waited, holders)
            said = time.monotonic()
        time.sleep(0.2)
