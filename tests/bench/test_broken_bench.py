"""A broken bench fails as the bench, not as the model: QEMU's netduinoplus2 halted behind its GDB stub is the board,
gdb-multiarch the flasher, and each fault of a real bench is made for real — a wrong image, a GDB server nobody
runs, a serial port nobody serves, an image whose UART is not the one on the port. Each is classed ``flash`` or
``board`` with a message that says what to check. The working path (flash, then a second flash skipped by build
id) is measured here too."""

from __future__ import annotations

import dataclasses
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.boards import get_board
from harness.boards import standin as bench_standin
from harness.boards.bench import BenchBoard, BoardSilent
from harness.build import Image
from harness.flashing import FlashError
from harness.lab import load_lab
from harness.link import free_local_port
from harness.reporting.failure_classes import FailureClass, classify
from harness.session import BoardSession

pytest_plugins = ["pytester"]

BOOT_TIMEOUT = 2  # s: the stand-in answers HELLO within ~0.3 s of its reset


@pytest.fixture(scope="module")
def image() -> Image:
    return get_board(bench_standin.KIND).build()


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Callable[..., BenchBoard]]:
    """bench(uart_connected=True, **row overrides) -> a BenchBoard on a fresh stand-in QEMU (stopped afterwards)."""
    started: list[bench_standin.Standin] = []

    def _bench(*, uart_connected: bool = True, **overrides: object) -> BenchBoard:
        found = bench_standin.start(tmp_path / f"qemu-{len(started)}.log", uart_connected=uart_connected)
        started.append(found)
        lab = tmp_path / "lab.toml"
        lab.write_text(found.row("bench-t", boot_timeout=BOOT_TIMEOUT, **overrides))
        board = get_board("bench-t", lab=load_lab(lab))
        assert isinstance(board, BenchBoard)
        return board

    yield _bench
    for found in started:
        bench_standin.stop(found.pid)


def _failure(fn: Callable[[], object]) -> tuple[BaseException, FailureClass]:
    with pytest.raises(Exception) as failed:
        fn()
    found = classify(failed.value).failure_class
    assert found is not FailureClass.MODEL, f"a broken bench was blamed on the model: {failed.value}"
    return failed.value, found


def test_flash_then_a_second_flash_is_skipped_by_build_id(bench, image: Image, caplog) -> None:
    board = bench()
    caplog.set_level(logging.INFO, logger="harness")
    started = time.monotonic()
    session = BoardSession(board)
    session.open(image)
    assert session.hello is not None and session.hello.build_id == image.build_id
    assert board.last_flash.startswith(f"flashed build id {image.build_id_hex} in "), board.last_flash
    loads = [r for r in caplog.records if r.name == "harness.flashing" and "load size" in r.getMessage()]
    assert len(loads) == 1, "gdb-multiarch loaded the image once, and its output is in the log"
    logging.getLogger("harness.progress").info("bench: built, flashed and answering in %.2f s; %s",
                                               time.monotonic() - started, board.last_flash)  # fmt: skip
    session.close()
    caplog.clear()
    assert board.start() == board.row.serial  # started again (as after a retry): restarted through the probe
    assert "resetting bench-t through" in caplog.text and "answers with build id" in caplog.text

    again = BenchBoard(board.row)  # a new run on the same bench: the board already runs this image
    caplog.clear()
    again.flash(image)
    assert f"flash skipped: board bench-t already runs build id {image.build_id_hex}" in caplog.text
    assert not [r for r in caplog.records if r.name == "harness.flashing"], "no flasher ran"
    assert again.start() == board.row.serial and again.facts()["last_flash"].startswith("skipped")


def test_wrong_image_is_a_flash_failure(bench, image: Image) -> None:
    """The flasher writes an image whose build id is not the one expected: HELLO after the flash says so."""
    board = bench()
    claimed = dataclasses.replace(image, build_id=image.build_id ^ 0xFFFF)
    exc, found = _failure(lambda: BoardSession(board).open(claimed))
    assert isinstance(exc, FlashError) and found is FailureClass.FLASH
    message = str(exc)
    assert f"answers on {board.row.serial} with another image after the flash" in message
    assert f"build id {image.build_id_hex}, but the harness flashed {claimed.build_id_hex}" in message
    assert "belong to the same board" in message


def test_unreachable_gdb_server_is_a_flash_failure(bench, image: Image) -> None:
    address = f"127.0.0.1:{free_local_port()}"
    board = bench(gdb=address)
    exc, found = _failure(lambda: board.flash(image))
    assert isinstance(exc, FlashError) and found is FailureClass.FLASH
    assert f"no GDB server answers at {address}" in str(exc)
    assert "start the board's GDB server" in str(exc) and "row's gdb key" in str(exc)


def test_serial_port_nobody_serves_is_a_board_failure(bench, image: Image) -> None:
    """Flashed fine, but the row's serial URL leads nowhere (a wrong by-id name, a ser2net that is not running)."""
    board = bench(serial=f"socket://127.0.0.1:{free_local_port()}")
    board.flash(image)
    assert board.last_flash.startswith("flashed")
    exc, found = _failure(board.start)
    assert isinstance(exc, BoardSilent) and found is FailureClass.BOARD
    assert f"does not answer HELLO on {board.row.serial} within {BOOT_TIMEOUT} s after the flash" in str(exc)
    for what in ("serial wiring", "baud 115200", "the image's UART is the one behind this port"):
        assert what in str(exc)


def test_image_talking_on_another_uart_is_a_board_failure(bench, image: Image) -> None:
    """The port is open and the core runs, but the firmware's UART (USART1) is not the one on the port (USART2)."""
    board = bench(uart_connected=False)
    session = BoardSession(board)
    exc, found = _failure(lambda: session.open(image))
    assert isinstance(exc, BoardSilent) and found is FailureClass.BOARD
    assert "the image's UART is the one behind this port (firmware/boards/qemu-stm32f4)" in str(exc)
    assert "LinkTimeout" in str(exc)


def test_through_the_plugin_a_broken_bench_exits_3_classed_flash_and_retried(pytester, tmp_path: Path) -> None:
    """The same unreachable GDB server in a pytest run of its own: the test is retried as infrastructure, its
    JUnit case carries class flash, and the run exits 3 (the bench is broken), not 1 (the model)."""
    lab = tmp_path / "lab.toml"
    lab.write_text(
        bench_standin.Standin(0, free_local_port(), free_local_port(), "", ()).row("bench-dead", boot_timeout=1)
    )
    pytester.makepyfile(test_inner="def test_hello(client):\n    assert client.hello()\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--hil-lab", str(lab), "--hil-board", "bench-dead", "--hil-retries", "1",
        "--hil-report-dir", str(tmp_path / "reports"), "--hil-run-id", "r",
    )  # fmt: skip
    assert result.ret == 3, result.stdout.str()
    result.stdout.fnmatch_lines([
        "*FlashError: flashing bench-dead through *: no GDB server answers at *; start the board's GDB server*",
        "*[[]flash[]] *test_hello[[]bench-dead[]]: the image did not get onto the board (FlashError)",
    ])  # fmt: skip
    case = next(ET.parse(tmp_path / "reports" / "r" / "junit.xml").getroot().iter("testcase"))
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["hil_failure_class"] == "flash" and props["hil_attempts"] == "2", props
