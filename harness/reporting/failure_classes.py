"""Failure classes: what broke when a test failed, from the exception and from what the board showed meanwhile.

======  ================================================================================================
build   the firmware did not build (compiler error, tool missing)
flash   the image did not get onto the board, or the board answers with another image than the one flashed
link    the serial link failed: cannot open, no answer after every retransmission, port gone
board   the board itself failed: its process died, it faulted (``HIL-FAULT``), the emulator gave up
data    a dataset is not found, fails its sha256 check or does not match its manifest (``DatasetError``)
model   the device ran and answered, and the answer was wrong: mismatch, budget exceeded, device refused
======  ================================================================================================

The first four are infrastructure: the bench is broken and says nothing about the model, so a retry with the
board restarted may pass. A data failure says nothing about the model either, but no retry mends it. A model
failure is a finding and is never retried. :data:`EXCEPTION_CLASSES` is the one
place that maps exception types to classes; :func:`classify` adds what the board showed.
"""

from __future__ import annotations

import enum
import os
import re
import sys
from dataclasses import dataclass

import serial

from harness.boards.base import Board, BoardError, FlashError
from harness.build import BuildError, MemoryBudgetExceeded
from harness.link import LinkError
from harness.proto.client import BuildMismatch, DeviceError, PeerLinkError
from harness.reporting.baselines import BudgetExceeded

__all__ = [
    "EXCEPTION_CLASSES",
    "EXIT_DATA",
    "EXIT_MEANINGS",
    "Classification",
    "Evidence",
    "FailureClass",
    "classify",
    "exit_status",
]

# Exit status of a run. 1 is pytest's own "tests failed"; 3 is pytest's number for an internal error, which is
# what a broken bench is to the model under test. pytest's 2 (interrupted), 4 (usage) and 5 (no tests) stay.
EXIT_OK = 0
EXIT_MODEL_FAILED = 1
EXIT_INFRASTRUCTURE = 3
EXIT_DATA = 6
EXIT_MEANINGS = {
    0: "all tests passed",
    1: "model failures: the model regressed (or a test failed)",
    2: "interrupted",
    3: "infrastructure failures only: the bench is broken (build, flash, link or board), not the model",
    4: "usage error",
    5: "no tests ran",
    6: "data failures, no model failure: a dataset is missing or does not match its manifest",
}

# JUnit properties a failed testcase carries (harness.plugin.failures writes them, reports read them)
PROPERTY_CLASS = "hil_failure_class"
PROPERTY_REASON = "hil_failure_reason"
PROPERTY_ATTEMPTS = "hil_attempts"
PROPERTY_RETRIED = "hil_retried_after"


class FailureClass(enum.Enum):
    BUILD = "build"
    FLASH = "flash"
    LINK = "link"
    BOARD = "board"
    DATA = "data"
    MODEL = "model"

    @property
    def infrastructure(self) -> bool:
        """The bench's fault: neither the model's nor the data's."""
        return self not in (FailureClass.MODEL, FailureClass.DATA)

    @property
    def retryable(self) -> bool:
        """Worth a retry with the board restarted. A build is cached and deterministic: it would fail the same way."""
        return self in (FailureClass.FLASH, FailureClass.LINK, FailureClass.BOARD)


# Most specific first: the first type the exception is an instance of decides.
EXCEPTION_CLASSES: tuple[tuple[type[BaseException], FailureClass, str], ...] = (
    # An image that does not fit its target is the model (or firmware) outgrowing the board: a finding.
    (MemoryBudgetExceeded, FailureClass.MODEL, "the image exceeds the target's memory budget"),
    (BuildError, FailureClass.BUILD, "the firmware did not build"),
    (BuildMismatch, FailureClass.FLASH, "the board runs another image than the one flashed"),
    (FlashError, FailureClass.FLASH, "the image did not get onto the board"),  # a BoardError: before it
    (LinkError, FailureClass.LINK, "the serial link failed"),  # LinkTimeout, LinkUrlError are LinkErrors
    (serial.SerialException, FailureClass.LINK, "the serial port failed"),
    (ConnectionError, FailureClass.LINK, "the connection to the board failed"),
    (BoardError, FailureClass.BOARD, "the board failed"),
    (BudgetExceeded, FailureClass.MODEL, "a measurement exceeded its budget"),
    (PeerLinkError, FailureClass.LINK, "the board-to-board link failed"),  # a DeviceError: before it
    (DeviceError, FailureClass.MODEL, "the device refused a request"),
    (AssertionError, FailureClass.MODEL, "the device's answer did not match"),
)

# What a board prints when it, not the link or the model, failed.
_FAULT = re.compile(r"HIL-FAULT[^\r\n]*")
_EMULATOR_FATAL = re.compile(r"(qemu[\w-]*: (fatal|terminating)[^\r\n]*|Lockup[^\r\n]*)", re.I)


@dataclass(frozen=True)
class Evidence:
    """What the board showed while the test ran."""

    board_alive: bool | None = None  # False: its process is gone; None: not known (remote board, none started)
    device_text: str = ""  # text lines the device sent on the link during the test (banner, fault markers)
    board_log: str = ""  # what the board's own process (emulator, host firmware) printed during the test


@dataclass(frozen=True)
class Classification:
    failure_class: FailureClass
    reason: str
    exception: str  # type name of the exception that decided

    def __str__(self) -> str:
        return f"{self.failure_class.value}: {self.reason}"


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, then what caused it: a wrapper's type may say less than its cause's."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return seen


def _dataset_error() -> type[BaseException] | None:
    """harness.datasets' base exception, if the data store was imported at all: looked up rather than imported, so
    classifying a failure never loads the data store (and pandas) into a run that had no dataset to fail."""
    module = sys.modules.get("harness.datasets.errors")
    return getattr(module, "DatasetError", None)


def _by_type(exc: BaseException) -> Classification:
    dataset_error = _dataset_error()
    for link in _chain(exc):
        if dataset_error is not None and isinstance(link, dataset_error):
            why = "the dataset is missing or does not match its manifest"
            return Classification(FailureClass.DATA, f"{why} ({type(link).__name__})", type(link).__name__)
        for exc_type, cls, why in EXCEPTION_CLASSES:
            if isinstance(link, exc_type):
                return Classification(cls, f"{why} ({type(link).__name__})", type(link).__name__)
    # Anything else (pytest.fail, a KeyError in test code) is the test failing, which pytest counts as a failure.
    return Classification(FailureClass.MODEL, f"the test failed ({type(exc).__name__})", type(exc).__name__)


def _raised_while_flashing(exc: BaseException) -> bool:
    """Boards raise BoardError for every step; one raised inside a Board's flash() (or in harness.flashing, the
    flashers' package) is a flashing failure."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if str(frame.f_globals.get("__name__", "")).startswith("harness.flashing"):
            return True
        if frame.f_code.co_name in ("flash", "_flash") and isinstance(frame.f_locals.get("self"), Board):
            return True
        tb = tb.tb_next
    return False


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def classify(exc: BaseException, evidence: Evidence | None = None) -> Classification:
    """The failure class of a test that raised ``exc``, with the board's evidence taken into account:
    a fault marker makes any failure after it a board failure (everything after a crash is its consequence),
    and a link failure while the board's process is dead or its emulator gave up is the board's. (A reboot without
    a fault marker cannot be told from the boot banner every fresh board prints, so it stays a link failure.)"""
    evidence = evidence or Evidence()
    found = _by_type(exc)
    if found.failure_class in (FailureClass.BUILD, FailureClass.FLASH):
        return found
    if found.failure_class is FailureClass.BOARD and _raised_while_flashing(exc):
        reason = f"flashing the board failed: {_first_line(str(exc))}"
        return Classification(FailureClass.FLASH, reason, found.exception)
    name = found.exception
    fault = _FAULT.search(evidence.device_text) or _FAULT.search(evidence.board_log)
    if fault:
        return Classification(FailureClass.BOARD, f"the firmware faulted: {fault.group(0).strip()}", name)
    if found.failure_class is FailureClass.LINK:
        if evidence.board_alive is False:
            return Classification(FailureClass.BOARD, f"the board's process died ({name} on its link)", name)
        fatal = next((m for m in _EMULATOR_FATAL.finditer(evidence.board_log) if not _stopped_by_us(m.group(0))), None)
        if fatal:
            return Classification(FailureClass.BOARD, f"the emulator failed: {fatal.group(0).strip()}", name)
        return Classification(FailureClass.LINK, f"{found.reason}: {_first_line(str(exc))}", name)
    return found


def _stopped_by_us(line: str) -> bool:
    """QEMU says "terminating on signal 15 from pid N" when it is stopped; stopped by this process (a board the
    harness stopped), that is no failure of the emulator."""
    return f"from pid {os.getpid()} " in line + " "


def exit_status(failure_classes: list[str]) -> int:
    """0 nothing failed; 1 some failure was the model's (a regression is news even on a shaky bench); 6 no model
    failure but a dataset failed its checks (the data must be fixed before anything is known of the model); 3 every
    failure was the bench's."""
    if not failure_classes:
        return EXIT_OK
    if FailureClass.MODEL.value in failure_classes:
        return EXIT_MODEL_FAILED
    return EXIT_DATA if FailureClass.DATA.value in failure_classes else EXIT_INFRASTRUCTURE
