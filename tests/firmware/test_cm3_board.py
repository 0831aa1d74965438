"""The Cortex-M3 board (qemu-cm3, QEMU mps2-an385): held to the STM32F103RE's 64 KB RAM / 512 KB flash at link time,
built soft-float, and its arena really survives both resets it claims to survive (HELLO capability `recover`)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from harness.boards import BoardOptions, get_board
from harness.build import FIRMWARE_DIR, FirmwareSpec, MemoryBudgetExceeded, build_firmware
from harness.models.lstm import LstmModel, to_blob
from harness.session import session_for

BOARD_DIR = "qemu-cm3"
RAM_BUDGET = 64 * 1024
FLASH_BUDGET = 512 * 1024
STACK_BYTES = 4 * 1024  # linker.ld: the stack is not a section, so it is not in the size report

needs_cross = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc missing")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm missing")


@needs_cross
def test_plain_image_fits_the_stm32f103re_and_is_soft_float() -> None:
    image = get_board("qemu-cm3").build()
    assert image.sizes["flash"] <= FLASH_BUDGET
    assert image.sizes["ram_static"] + STACK_BYTES <= RAM_BUDGET
    attributes = subprocess.run(["arm-none-eabi-readelf", "-A", str(image.path)], capture_output=True, text=True,
                                check=True).stdout  # fmt: skip
    assert "Tag_CPU_arch: v7" in attributes and "Tag_CPU_arch_profile: Microcontroller" in attributes, attributes
    # A hard-float or FPU build would carry Tag_FP_arch / Tag_ABI_VFP_args: the M3 has no FPU to run it.
    assert "Tag_FP_arch" not in attributes and "Tag_ABI_VFP_args" not in attributes, attributes


@needs_cross
def test_image_over_the_ram_budget_fails_to_link_naming_the_budget(tmp_path) -> None:
    spec = FirmwareSpec(BOARD_DIR, cross=True, defines={"HIL_ARENA_BYTES": str(64 * 1024)})
    with pytest.raises(MemoryBudgetExceeded, match=r"64 KB RAM budget of the STM32F103RE"):
        build_firmware(spec, cache_dir=tmp_path)


@needs_cross
def test_arena_is_as_large_as_fits(tmp_path) -> None:
    """The arena takes what the 4 KB stack and the buffers leave, less a little headroom so a new static buffer in the
    runtime does not break this board's link at once: 4 KB more breaks the RAM budget."""
    config = (FIRMWARE_DIR / "boards" / BOARD_DIR / "hil_board_config.h").read_text()
    found = re.search(r"#define HIL_ARENA_BYTES \((\d+)u \* 1024u\)", config)
    assert found, "hil_board_config.h no longer states the arena as (N u * 1024u)"
    spec = FirmwareSpec(BOARD_DIR, cross=True, defines={"HIL_ARENA_BYTES": str((int(found[1]) + 4) * 1024)})
    with pytest.raises(MemoryBudgetExceeded, match=r"64 KB RAM budget of the STM32F103RE"):
        build_firmware(spec, cache_dir=tmp_path)


@needs_cross
def test_image_over_the_flash_budget_fails_to_link_naming_the_budget(tmp_path) -> None:
    blob = bytes(600 * 1024)  # a "model" bigger than the 512 KB of flash
    spec = FirmwareSpec(BOARD_DIR, cross=True, builtin_model=blob)
    with pytest.raises(MemoryBudgetExceeded, match=r"512 KB flash budget of the STM32F103RE"):
        build_firmware(spec, cache_dir=tmp_path)


@needs_cross
@needs_qemu
@pytest.mark.parametrize("how", ["reset_line", "sysresetreq"])
def test_arena_survives_a_reset(tmp_path, how: str) -> None:
    """HIL_ARENA_SURVIVES_RESET is a claim about QEMU: its reset reloads the image (code SSRAM at 0) and resets the
    devices, but leaves the data SSRAM alone. A model loaded before a reset is recovered whole after it, whether the
    reset comes from outside (QMP system_reset, the reset line) or from the core (RESET reboot -> SYSRESETREQ)."""
    session = session_for(get_board("qemu-cm3", BoardOptions(log_dir=tmp_path)))
    try:
        client = session.open()
        assert "recover" in client.hello_info.capability_names
        model = LstmModel.random(3, [8], 2, seed=3)
        loaded = client.load_model(to_blob(model))
        x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
        before = client.infer(x).outputs
        if how == "reset_line":
            session.board.reset()
        else:
            client.reset(reboot=True)
        client.hello()  # retried until the rebooted firmware answers
        recovered = client.recover_model()
        assert recovered.model_bytes == loaded.model_bytes
        np.testing.assert_array_equal(client.infer(x).outputs, before)
    finally:
        session.close()
