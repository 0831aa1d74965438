"""Failure classes from exception types and board evidence; the exit status they make."""

from __future__ import annotations

import os
import socket

import pytest
import serial

from harness import datasets
from harness.boards.base import Board, BoardError, BoardState
from harness.build import BuildError, MemoryBudgetExceeded, ToolMissing
from harness.link import LinkError, LinkUrlError, open_link
from harness.proto.client import BuildMismatch, DeviceError, LinkTimeout
from harness.proto.wire import Status
from harness.reporting import failure_classes as taxonomy
from harness.reporting.baselines import BudgetExceeded
from harness.reporting.failure_classes import Evidence, FailureClass, classify


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (BuildError("cc failed"), FailureClass.BUILD),
        (ToolMissing("no cmake"), FailureClass.BUILD),
        (MemoryBudgetExceeded("region RAM overflowed"), FailureClass.MODEL),  # the model outgrew the target
        (BuildMismatch("other image"), FailureClass.FLASH),
        (LinkTimeout("no answer"), FailureClass.LINK),
        (LinkUrlError("bad url"), FailureClass.LINK),
        (serial.SerialException("port gone"), FailureClass.LINK),
        (ConnectionResetError("reset by peer"), FailureClass.LINK),
        (BoardError("QEMU did not start"), FailureClass.BOARD),
        (BudgetExceeded("budget exceeded"), FailureClass.MODEL),
        (DeviceError(0x22, Status.HIL_ERR_SHAPE_MISMATCH, "bad shape"), FailureClass.MODEL),
        (AssertionError("mismatch"), FailureClass.MODEL),
        (KeyError("x"), FailureClass.MODEL),  # a bug in a test is the test failing, not the bench
    ],
)
def test_exception_types(exc: BaseException, expected: FailureClass) -> None:
    found = classify(exc)
    assert found.failure_class is expected
    assert found.exception == type(exc).__name__


def test_the_cause_decides_when_the_wrapper_says_nothing() -> None:
    try:
        try:
            raise LinkTimeout("no answer for INFER")
        except LinkTimeout as inner:
            raise RuntimeError("inference failed") from inner
    except RuntimeError as outer:
        assert classify(outer).failure_class is FailureClass.LINK


def test_a_dead_board_process_makes_a_link_failure_a_board_failure() -> None:
    found = classify(LinkError("socket disconnected"), Evidence(board_alive=False))
    assert found.failure_class is FailureClass.BOARD and "died" in found.reason
    assert classify(LinkError("socket disconnected"), Evidence(board_alive=True)).failure_class is FailureClass.LINK


def test_a_fault_marker_makes_any_failure_the_boards() -> None:
    text = "device text: HIL-FAULT exception=00000003 pc=08001234 lr=fffffff9"
    found = classify(AssertionError("wrong output after the crash"), Evidence(device_text=text))
    assert found.failure_class is FailureClass.BOARD and "pc=08001234" in found.reason
    log = "qemu-system-arm: fatal: Lockup: can't escalate 3 to HardFault"
    assert classify(LinkTimeout("no answer"), Evidence(board_log=log)).failure_class is FailureClass.BOARD


def test_an_emulator_this_process_stopped_is_no_emulator_failure() -> None:
    ours = f"qemu-system-arm: terminating on signal 15 from pid {os.getpid()} (python)"
    assert classify(LinkError("port closed"), Evidence(board_log=ours)).failure_class is FailureClass.LINK
    theirs = f"qemu-system-arm: terminating on signal 15 from pid {os.getpid() + 1} (kill)"
    assert classify(LinkError("port closed"), Evidence(board_log=theirs)).failure_class is FailureClass.BOARD
    both = ours + "\n" + theirs
    assert classify(LinkError("port closed"), Evidence(board_log=both)).failure_class is FailureClass.BOARD


def test_build_and_flash_failures_are_not_overridden_by_evidence() -> None:
    evidence = Evidence(board_alive=False, device_text="HIL-FAULT exception=3")
    assert classify(BuildError("x"), evidence).failure_class is FailureClass.BUILD


class _UnflashableBoard(Board):
    """No `name`: the board registry skips it."""

    description = "a board whose programmer is unplugged"
    firmware_board = "host"

    def _flash(self, image) -> None:
        raise BoardError("openocd: no device found")

    def _start(self) -> str:
        raise BoardError("the device never booted")

    def _stop(self) -> None:
        pass

    def reset(self) -> None:
        pass


def test_a_board_error_while_flashing_is_a_flash_failure(tmp_path) -> None:
    board = _UnflashableBoard()
    with pytest.raises(BoardError) as failed:
        board.flash(None)  # type: ignore[arg-type]
    assert classify(failed.value).failure_class is FailureClass.FLASH
    with pytest.raises(BoardError) as failed:
        board.state = BoardState.FLASHED
        board.start()
    assert classify(failed.value).failure_class is FailureClass.BOARD  # the same error type, outside flash()


def test_a_closed_port_is_a_link_failure() -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listening, closed at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LinkError) as failed:
        open_link(f"socket://127.0.0.1:{port}", connect_timeout=0.3)
    assert classify(failed.value).failure_class is FailureClass.LINK


def test_classes_that_are_infrastructure_and_retried() -> None:
    assert not FailureClass.MODEL.infrastructure and not FailureClass.MODEL.retryable
    assert not FailureClass.DATA.infrastructure and not FailureClass.DATA.retryable  # no restart mends a dataset
    assert {c for c in FailureClass if c.retryable} == {FailureClass.FLASH, FailureClass.LINK, FailureClass.BOARD}
    assert {c for c in FailureClass if c.infrastructure} == {
        FailureClass.BUILD, FailureClass.FLASH, FailureClass.LINK, FailureClass.BOARD,
    }  # fmt: skip


@pytest.mark.parametrize(
    "exc",
    [
        datasets.DatasetNotFoundError("no dataset 'x'"),
        datasets.DatasetIntegrityError("sha256 differs"),
        datasets.ManifestError("column missing"),
        datasets.WindowError("window too long"),
    ],
)
def test_a_dataset_that_fails_its_checks_is_a_data_failure(exc: Exception) -> None:
    found = classify(exc)
    assert found.failure_class is FailureClass.DATA
    assert found.reason.startswith("the dataset is missing or does not match its manifest")
    # wrapped by test code, the cause still decides
    try:
        try:
            raise exc
        except Exception as inner:
            raise RuntimeError("could not prepare the windows") from inner
    except RuntimeError as outer:
        assert classify(outer).failure_class is FailureClass.DATA


@pytest.mark.parametrize(
    ("classes", "code"),
    [
        ([], 0), (["model"], 1), (["link", "board"], 3), (["link", "model"], 1), (["build"], 3), (["data"], 6),
        (["data", "link"], 6), (["data", "model"], 1),
    ],
)  # fmt: skip
def test_exit_status(classes: list[str], code: int) -> None:
    assert taxonomy.exit_status(classes) == code
    assert code in taxonomy.EXIT_MEANINGS
