"""Firmware builds: cached by content, and held to the target's memory budget at link time."""

from __future__ import annotations

import shutil

import pytest

from harness.boards import get_board
from harness.build import FirmwareSpec, MemoryBudgetExceeded, build_firmware, cache_key

needs_cross = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc missing")


@needs_cross
def test_image_over_the_ram_budget_fails_to_link_naming_the_budget(tmp_path) -> None:
    spec = FirmwareSpec("qemu-stm32f4", cross=True, defines={"HIL_ARENA_BYTES": str(96 * 1024)})
    with pytest.raises(MemoryBudgetExceeded, match=r"96 KB RAM budget of the STM32F401RE"):
        build_firmware(spec, cache_dir=tmp_path)


@needs_cross
def test_image_over_the_flash_budget_fails_to_link_naming_the_budget(tmp_path) -> None:
    blob = bytes(600 * 1024)  # a "model" bigger than the 512 KB of flash
    spec = FirmwareSpec("qemu-stm32f4", cross=True, builtin_model=blob)
    with pytest.raises(MemoryBudgetExceeded, match=r"512 KB flash budget"):
        build_firmware(spec, cache_dir=tmp_path)


def test_unchanged_sources_are_not_rebuilt(tmp_path) -> None:
    board = get_board("host")
    first = build_firmware(board.spec(), cache_dir=tmp_path)
    second = build_firmware(board.spec(), cache_dir=tmp_path)
    assert not first.cached and second.cached
    assert first.path == second.path and first.build_id == second.build_id
    assert first.path.stat().st_mtime_ns == second.path.stat().st_mtime_ns


def test_build_id_follows_what_goes_into_the_image() -> None:
    plain = FirmwareSpec("host", cross=False)
    assert cache_key(plain) == cache_key(FirmwareSpec("host", cross=False))
    assert cache_key(plain) != cache_key(FirmwareSpec("host", cross=False, builtin_model=b"\0" * 8))
    assert cache_key(plain) != cache_key(FirmwareSpec("host", cross=False, defines={"HIL_ARENA_BYTES": "4096"}))
    assert cache_key(plain) != cache_key(FirmwareSpec("qemu-stm32f4", cross=True))
