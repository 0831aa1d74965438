"""On a lab.toml row (``--hil-lab PATH --hil-board ROW``; in CI the QEMU stand-in of tools/bench_standin.py): the
board is flashed by the row's flasher, a second flash of the same image is skipped by build id, the run's rows
name the row and its flasher, and pytest-embedded's ``dut`` reads the boot banner on the same port after our
flasher wrote the image. On a board kind these tests skip: they are about the bench path."""

from __future__ import annotations

import logging
import os

import pytest

from harness.boards.bench import BenchBoard
from harness.plugin import options
from harness.proto.client import Client
from harness.reporting import results
from harness.session import BoardSession


@pytest.fixture
def bench_session(request: pytest.FixtureRequest, hil_board_name: str, hil_session: BoardSession) -> BoardSession:
    """The board session of a lab.toml row (named as a fixture argument, so the plugin gives the test its frame log
    and retries)."""
    inventory = options.lab(request.config)
    if inventory is None or hil_board_name not in inventory.rows:
        pytest.skip(f"{hil_board_name} is a board kind, not a lab.toml row (--hil-lab, docs/bench.md)")
    assert isinstance(hil_session.board, BenchBoard)
    return hil_session


def test_second_flash_of_the_same_image_is_skipped_by_build_id(bench_session: BoardSession, record, caplog) -> None:
    board = bench_session.board
    assert isinstance(board, BenchBoard)
    image = board.build()
    bench_session.open(image)
    bench_session.close_link()  # the flasher may need the port (esptool); the next fixture reopens it
    caplog.set_level(logging.INFO, logger="harness")
    run = board.flasher.flash(image, board.row)  # a real flash of the image the board runs, timed
    board.wait_ready(image, after="the flash")
    if run is not None:
        record("flash_seconds", run.seconds, "s")
        assert [r for r in caplog.records if r.name == "harness.flashing"], "the flasher's output is in the log"
    caplog.clear()

    again = BenchBoard(board.row, board.options)  # as the next run on this bench would
    again.flash(image)
    assert f"flash skipped: board {board.name} already runs build id {image.build_id_hex}" in caplog.text
    assert not [r for r in caplog.records if r.name == "harness.flashing"], "no flasher ran the second time"
    assert again.last_flash == f"skipped: already runs build id {image.build_id_hex}"


def test_rows_name_the_row_and_its_flasher(bench_session: BoardSession, client: Client, record, hil_run_dir) -> None:
    board = bench_session.board
    record("ram_budget", client.hello().ram_bytes, "B")
    rows = results.read_results(hil_run_dir)
    mine = rows[rows["test"] == "tests/bench/test_bench_row.py::" + "test_rows_name_the_row_and_its_flasher"
                + f"[{board.name}]"]  # fmt: skip
    assert len(mine) == 1, rows[["test", "board"]].tail()
    assert mine["board"].iloc[0] == board.name, "rows name the lab.toml row, not its kind"
    assert f"flasher {board.row.flasher}" in mine["toolchain"].iloc[0], mine["toolchain"].iloc[0]
    assert board.facts()["flasher"].startswith(board.row.flasher)


@pytest.fixture
def port(bench_session: BoardSession) -> str:
    """pytest-embedded's ``port``: the row's serial URL, our link closed first (a socket has one client)."""
    bench_session.open(bench_session.image)
    bench_session.close_link()
    return bench_session.board.row.serial  # type: ignore[attr-defined]


@pytest.fixture
def embedded_services() -> str:
    return "serial"


def test_dut_reads_the_banner_after_our_flasher(dut, bench_session: BoardSession) -> None:
    board = bench_session.board
    assert isinstance(board, BenchBoard) and bench_session.image is not None
    if board.row.flasher == "esptool":
        pytest.skip("esptool writes through the serial port pytest-embedded holds; use its esp service there")
    if board.row.flasher == "none":
        pytest.skip("flasher none writes nothing")
    board.flasher.flash(bench_session.image, board.row)  # our flasher; the firmware boots and prints its banner
    match = dut.expect(r"HIL-FW (\S+) (\S+) board=(\S+) cpu=(\S+) build=([0-9a-f]{16})", timeout=15)
    assert match.group(5).decode() == bench_session.image.build_id_hex
    with dut.serial.disable_redirect_thread():
        hello = Client(dut.serial.proc).hello(expect_build_id=bench_session.image.build_id)
    assert hello.board == match.group(3).decode()


def test_the_row_is_leased_for_the_session_and_another_run_is_told_who_has_it(bench_session: BoardSession) -> None:
    from harness.lease import BoardBusy, BoardLease, holder_of

    key = bench_session.board.lease_key
    assert key == f"lab:{bench_session.board.name}"
    holder = holder_of(key)
    assert holder is not None and holder.pid == os.getpid(), f"this run should hold {key}: {holder}"
    with pytest.raises(BoardBusy, match=rf"held by pid {os.getpid()} on .*run {holder.run_id}"):
        BoardLease(key, run_id="another-run", timeout=0.5).acquire()
