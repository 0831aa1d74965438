"""The board registry and the Board life cycle, without starting any board."""

from __future__ import annotations

import pytest

from harness.boards import Board, BoardError, BoardState, board_kinds, get_board
from harness.boards.remote import LinkBoard
from harness.defaults import DEFAULT_BOARD, FIRMWARE_DIR


def test_registry_finds_every_board_module() -> None:
    kinds = board_kinds()
    assert {"host", "qemu-stm32f4", "qemu-cm3"} <= set(kinds)
    assert DEFAULT_BOARD in kinds
    assert all(issubclass(cls, Board) and cls.name == name for name, cls in kinds.items())


@pytest.mark.parametrize("name", ["host", "qemu-stm32f4", "qemu-cm3"])
def test_each_kind_names_a_firmware_folder_that_exists(name: str) -> None:
    folder = board_kinds()[name].firmware_board
    assert folder is not None and (FIRMWARE_DIR / "boards" / folder / "board.cmake").is_file()


def test_unknown_board_lists_the_known_ones() -> None:
    with pytest.raises(BoardError, match=r"unknown board 'nucleo-x'; known boards: .*qemu-stm32f4"):
        get_board("nucleo-x")


def test_a_board_without_an_image_refuses_to_start() -> None:
    board = get_board("qemu-stm32f4")
    assert board.state is BoardState.OFF and board.alive() is None  # not started: nothing to judge
    with pytest.raises(BoardError, match=r"has no image: build\(\) and flash\(\) it first"):
        board.start()


def test_a_linked_board_is_running_and_cannot_be_built_flashed_or_reset() -> None:
    board = LinkBoard("bench-1", "socket://127.0.0.1:4000")
    assert board.state is BoardState.RUNNING and board.start() == "socket://127.0.0.1:4000"
    assert board.alive() is None  # behind a URL: the harness cannot tell
    with pytest.raises(BoardError, match="runs firmware the harness does not build"):
        board.build()
    with pytest.raises(BoardError, match="has no reset line"):
        board.reset()


def test_a_bench_row_is_gated_by_its_kinds_budgets(tmp_path) -> None:
    """The row's figures go out under the row's name, but a row is one board of its kind: the kind's budgets apply."""
    from harness.lab import load_lab

    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(
        '[boards.bench-7]\nkind = "qemu-stm32f4"\nserial = "socket://127.0.0.1:4001"\nflasher = "gdb-remote"\n'
        'gdb = "127.0.0.1:3333"\n'
    )
    board = get_board("bench-7", lab=load_lab(lab_file))
    assert board.name == "bench-7" and board.budgets_name == "qemu-stm32f4"
    assert get_board("qemu-cm3").budgets_name == "qemu-cm3"
