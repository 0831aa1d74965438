"""The NUCLEO-F401RE port (firmware/boards/nucleo-f401re/): built as a lab.toml row of its kind builds it, held to the
STM32F401RE's 96 KB / 512 KB at link time, hard-float Cortex-M4, its vector table, its clock plan's arithmetic, and
its link path run under QEMU.

No emulator models this board: QEMU's netduinoplus2 is an STM32F405 whose USART2 sits at the F401's address on the
same IRQ 38, but it has no RCC (reads 0) and no DWT (CYCCNT reads 0). So the image's UART, interrupt, ring, frame loop
and the clock code's HSE-and-PLL-timeout fallback are run here; the 84 MHz clock tree and the cycle counter are not,
and docs/porting.md says so.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest

from harness.boards import get_board
from harness.build import FIRMWARE_DIR, BuildError, FirmwareSpec, Image, MemoryBudgetExceeded, build_firmware
from harness.lab import load_lab
from harness.link import open_link
from harness.models.lstm import LstmModel, forward, to_blob
from harness.proto.client import Client
from harness.proto.wire import HIL_COUNTER_CPU_CYCLES

KIND = "nucleo-f401re"
BOARD_DIR = FIRMWARE_DIR / "boards" / KIND
RAM_BUDGET = 96 * 1024
FLASH_BUDGET = 512 * 1024
STACK_BYTES = 4 * 1024  # linker.ld: the stack is not a section, so it is not in the size report
USART2_IRQ = 38
IRQ_COUNT = 85  # STM32F401: IRQ 0..84

needs_cross = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc missing")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm missing")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The image a lab.toml row of kind nucleo-f401re builds: the kind names the firmware folder."""
    lab_file = tmp_path_factory.mktemp("lab") / "lab.toml"
    lab_file.write_text(
        '[boards.nucleo-1]\nkind = "nucleo-f401re"\nserial = "/dev/ttyACM0"\nflasher = "openocd"\nprobe = "066DFF"\n'
    )
    board = get_board("nucleo-1", lab=load_lab(lab_file))
    built = board.build()
    assert built.spec.board_dir == KIND and built.spec.cross
    return built


def _tool(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@needs_cross
def test_the_image_fits_the_stm32f401re(image: Image) -> None:
    flash, ram = image.sizes["flash"], image.sizes["ram_static"] + STACK_BYTES
    print(f"\nnucleo-f401re: flash {flash} B of {FLASH_BUDGET} ({flash / FLASH_BUDGET:.1%}), "
          f"RAM {ram} B of {RAM_BUDGET} ({ram / RAM_BUDGET:.1%}) with the 4 KB stack")  # fmt: skip
    assert flash <= FLASH_BUDGET
    assert ram <= RAM_BUDGET


@needs_cross
def test_the_image_is_hard_float_cortex_m4(image: Image) -> None:
    attributes = _tool("arm-none-eabi-readelf", "-A", str(image.path))
    assert "Tag_CPU_arch: v7E-M" in attributes and "Tag_CPU_arch_profile: Microcontroller" in attributes, attributes
    assert "Tag_FP_arch: VFPv4-D16" in attributes, attributes
    assert "Tag_ABI_VFP_args: VFP registers" in attributes, "not the hard-float calling convention"


@needs_cross
def test_the_vector_table_routes_usart2_and_systick(image: Image) -> None:
    symbols = {
        name: int(addr, 16)
        for addr, _, name in (line.split() for line in _tool("arm-none-eabi-nm", str(image.path)).splitlines())
        if len(addr) == 8
    }
    raw = subprocess.run(
        ["arm-none-eabi-objcopy", "-O", "binary", "-j", ".isr_vector", str(image.path), "/dev/stdout"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    vectors = np.frombuffer(raw, dtype="<u4")
    assert symbols["cm_vectors"] == 0x08000000, "the vector table must open the flash"
    assert len(vectors) == 16 + IRQ_COUNT
    assert vectors[16 + USART2_IRQ] == symbols["USART2_IRQHandler"] | 1
    assert vectors[15] == symbols["SysTick_Handler"] | 1
    assert vectors[0] == 0x20000000 + RAM_BUDGET, "initial stack pointer: the top of the 96 KB"
    # every interrupt has a handler (an unlisted one would be 0: a jump to address 0 on the first stray interrupt)
    assert np.all(vectors[16:] != 0)
    assert np.all(vectors[16:] & 1), "Thumb bit"


def _clock_plan() -> dict[str, int]:
    """The clock plan's #defines in board.h, evaluated: numbers and arithmetic on names defined before."""
    text = (BOARD_DIR / "board.h").read_text()
    plan = re.findall(
        r"^#define (NUCLEO_(?:HSE|HSI|PLL|VCO|SYSCLK|USB|APB1|FLASH_LATENCY)\w*) (.+?)\s*(?:/\*.*)?$", text, re.M
    )
    values: dict[str, int] = {}
    for name, expr in plan:
        values[name] = int(eval(re.sub(r"\b(\d+)u\b", r"\1", expr).replace("/", "//"), {}, dict(values)))
    return values


def test_the_clock_plan_gives_84_mhz_and_a_usb_clock() -> None:
    d = _clock_plan()
    assert d["NUCLEO_HSE_HZ"] // d["NUCLEO_PLL_M_HSE"] == 1_000_000  # VCO input, within 1..2 MHz
    assert d["NUCLEO_HSI_HZ"] // d["NUCLEO_PLL_M_HSI"] == 1_000_000, "the HSI fallback must reach the same VCO"
    vco = d["NUCLEO_VCO_OUT_HZ"]
    assert 192_000_000 <= vco <= 432_000_000
    assert d["NUCLEO_SYSCLK_HZ"] == 84_000_000
    assert d["NUCLEO_APB1_HZ"] == 42_000_000
    assert d["NUCLEO_USB_HZ"] == 48_000_000
    assert d["NUCLEO_PLL_P"] in (2, 4, 6, 8) and 2 <= d["NUCLEO_PLL_Q"] <= 15 and 50 <= d["NUCLEO_PLL_N"] <= 432
    assert d["NUCLEO_FLASH_LATENCY"] == 2  # RM0368: 64 < HCLK <= 84 MHz at 2.7..3.6 V
    # The UART divider at 42 MHz, oversampling by 16: 42e6 / 115200 = 364.58 -> 365, an error of -0.11 %.
    brr = (d["NUCLEO_APB1_HZ"] + 115200 // 2) // 115200
    assert brr == 365 and abs(d["NUCLEO_APB1_HZ"] / brr / 115200 - 1) < 0.002


@needs_cross
def test_a_clock_plan_outside_the_parts_limits_does_not_compile(tmp_path) -> None:
    """The plan's limits are static assertions in board.h: an override of PLL N that pushes the VCO past 432 MHz (or
    SYSCLK past 84 MHz) stops the build with the limit's message."""
    spec = FirmwareSpec(KIND, cross=True, defines={"NUCLEO_PLL_N": "440u"})
    with pytest.raises(BuildError, match=r"PLL VCO output outside 192\.\.432"):
        build_firmware(spec, cache_dir=tmp_path)


@needs_cross
def test_an_arena_larger_than_the_ram_fails_to_link_naming_the_budget(tmp_path) -> None:
    spec = FirmwareSpec(KIND, cross=True, defines={"HIL_ARENA_BYTES": str(96 * 1024)})
    with pytest.raises(MemoryBudgetExceeded, match=r"96 KB RAM budget of the STM32F401RE"):
        build_firmware(spec, cache_dir=tmp_path)


@needs_cross
def test_the_port_is_clang_formatted() -> None:
    if shutil.which("clang-format") is None:
        pytest.skip("clang-format missing (make setup installs it)")
    sources = sorted(str(p) for p in BOARD_DIR.glob("*.[ch]"))
    out = subprocess.run(["clang-format", "--dry-run", "--Werror", *sources], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_cross
@needs_qemu
def test_the_link_path_runs_under_qemus_stm32f405(image: Image, tmp_path) -> None:
    """USART2 on IRQ 38 into the ring, the frame loop, an LSTM inference; with no RCC to answer, HSE and the PLL
    time out and the port stays on the 16 MHz HSI, which HELLO reports as its counter clock and in its cpu string."""
    port = _free_port()
    log = (tmp_path / "qemu.log").open("w")
    qemu = subprocess.Popen(
        ["qemu-system-arm", "-M", "netduinoplus2", "-display", "none", "-monitor", "none", "-serial", "null",
         "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on", "-kernel", str(image.path)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                link = open_link(f"socket://127.0.0.1:{port}")
                break
            except Exception:
                if time.monotonic() > deadline or qemu.poll() is not None:
                    raise
                time.sleep(0.1)
        client = Client(link)
        hello = client.hello()
        assert hello.board == KIND
        assert hello.cpu == "cortex-m4f stm32f401re hsi-16MHz"
        assert (hello.counter_kind, hello.counter_hz) == (HIL_COUNTER_CPU_CYCLES, 16_000_000)
        assert (hello.ram_bytes, hello.flash_bytes) == (RAM_BUDGET, FLASH_BUDGET)
        assert hello.build_id == image.build_id
        model = LstmModel.random(3, [8], 2, seed=1)
        client.load_model(to_blob(model))
        x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
        np.testing.assert_allclose(client.infer(x).outputs, forward(model, x), atol=1e-5)
        link.close()
    finally:
        qemu.kill()
        qemu.wait()
        log.close()
