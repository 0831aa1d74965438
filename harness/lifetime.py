"""Processes that live and die with the run that started them: a board's process (host firmware, QEMU) and the
pytest child of ``python -m harness run`` get a parent-death signal, so a run killed with ``kill -9`` leaves no
board running on its own; and a process is told apart from a later one that reused its pid by its start time."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1  # <sys/prctl.h>

__all__ = ["die_with_parent", "forks_die_with_this_process", "process_alive", "start_ticks"]

_forks_armed = False


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` for subprocess.Popen: the child gets ``sig`` when the thread that started it dies (also by
    SIGKILL, which runs no cleanup). Linux only; elsewhere None (no preexec_fn), and a killed run may leave its
    children running as before."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    parent = os.getpid()

    def _arm() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl: the signal would never come
            os.kill(os.getpid(), sig)

    return _arm


def forks_die_with_this_process() -> None:
    """Every child this process forks from now on without exec'ing (multiprocessing's fork workers and managers,
    such as the one a pytest plugin starts for its session) gets SIGKILL when this process dies, instead of living
    on with no parent. Idempotent; Linux only."""
    global _forks_armed
    arm = die_with_parent(signal.SIGKILL)
    if arm is None or _forks_armed:
        return
    os.register_at_fork(after_in_child=arm)
    _forks_armed = True


def start_ticks(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (/proc/PID/stat field 22); None if not known."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes().decode(errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name may hold spaces and parentheses
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, started: int | None = None) -> bool:
    """Whether ``pid`` runs, and is the process that started at ``started`` (start_ticks) when that is given."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    if started is None:
        return True
    now = start_ticks(pid)
    return now is None or now == started
