"""The NUCLEO-F401RE port (firmware/boards/nucleo-f401re/): built as a lab.toml row of its kind builds it, held to the
STM32F401RE's 96 KB / 512 KB at link time, hard-float Cortex-M4 with the FPU on before C, its vector table, its clock
plan's arithmetic, its clock code against a model of the RCC, the docs' bench rows, and its link path under QEMU.

No emulator models this board: QEMU's netduinoplus2 is an STM32F405 whose USART2 sits at the F401's address on the
same IRQ 38, but it has no RCC (reads 0) and no DWT (CYCCNT reads 0). So the image's UART, interrupt, ring, frame loop
and the clock code's HSE-and-PLL-timeout fallback are run there; the HSE-bypass path and the register words clock.c
writes are run on this machine against a model of the RCC; the real clock tree, its timing and the cycle counter are
not run anywhere without the board, and docs/porting.md says so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import numpy as np
import pytest

from harness.boards import get_board
from harness.build import FIRMWARE_DIR, BuildError, FirmwareSpec, Image, MemoryBudgetExceeded, build_firmware
from harness.defaults import REPO_ROOT
from harness.flashing import Flasher, get_flasher
from harness.lab import load_lab
from harness.link import free_local_port, open_link
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
    assert "Tag_ABI_HardFP_use: SP only" in attributes, attributes  # fpv4-sp: single precision in hardware
    # GCC hands the assembler -march=armv7e-m+fp for -mcpu=cortex-m4, so Tag_CPU_name is the architecture's, not the
    # core's: the core is checked on every compile command of the image instead.
    assert 'Tag_CPU_name: "7E-M"' in attributes, attributes
    assert "hard-float ABI" in _tool("arm-none-eabi-readelf", "-h", str(image.path))  # e_flags EF_ARM_ABI_FLOAT_HARD
    commands = json.loads((image.path.parent / "compile_commands.json").read_text())
    flags = {"-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-Wall", "-Wextra", "-Werror"}
    assert commands and all(flags <= set(c["command"].split()) for c in commands), "every file, warnings as errors"
    # The FPU is on before any C runs (DESIGN section 4): Reset_Handler's first instructions set CP10/CP11 in CPACR.
    reset = _tool("arm-none-eabi-objdump", "-d", "--disassemble=Reset_Handler", str(image.path))
    body = reset.split("<Reset_Handler>:")[1]
    assert re.search(r"movw\s+r0, #60808.*\n.*movt\s+r0, #57344", body), "CPACR (0xE000ED88) not loaded first"
    assert "orr.w\tr1, r1, #15728640" in body and "isb" in body, reset


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


# clock.c compiled for this machine against a model of the RCC and flash interface: board.h's register addresses
# resolve to variables through a stand-in cortex_m.h (CM_REG), and every access first lets the model answer (HSERDY
# after HSEON when the ST-LINK's MCO runs, PLLRDY after PLLON, SWS following SW) and check the writes since the last
# one against RM0368's rules. This runs the HSE path QEMU cannot (netduinoplus2 has no RCC) and reads back the words
# the code wrote, which the tests below compare with the fields as the manual places them.
_FAKE_CORTEX_M_H = """
#include <stddef.h>
#include <stdint.h>
volatile uint32_t *sim_reg(uint32_t addr);
#define CM_REG(addr) (*sim_reg(addr))
"""
_CLOCK_SIM_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"

#define CR_HSEON (1u << 16)
#define CR_HSERDY (1u << 17)
#define CR_HSEBYP (1u << 18)
#define CR_PLLON (1u << 24)
#define CR_PLLRDY (1u << 25)
#define PLLCFGR_SRC_HSE (1u << 22)

static uint32_t cr = 0x00000083u, pllcfgr = 0x24003010u, cfgr, acr; /* reset values: HSION, HSIRDY */
static uint32_t was_cr = 0x00000083u, was_pllcfgr = 0x24003010u, was_cfgr, was_acr;
static int hse_runs, pll_locks;
static unsigned hse_on_for, pll_on_for, violations;

static void violation(const char *what)
{
    printf("violation: %s\n", what);
    violations++;
}

static void step(void)
{
    if (((cr ^ was_cr) & CR_HSEBYP) != 0u && (was_cr & CR_HSEON) != 0u) {
        violation("HSEBYP written while HSE is on");
    }
    if (pllcfgr != was_pllcfgr && (was_cr & CR_PLLON) != 0u) {
        violation("PLLCFGR written while the PLL is on");
    }
    if ((cfgr & 3u) == 2u && (was_cfgr & 3u) != 2u) {
        if ((was_cr & CR_PLLRDY) == 0u) {
            violation("PLL selected as SYSCLK before it locked");
        }
        if ((acr & 0xFu) < 2u) {
            violation("84 MHz with fewer than 2 flash wait states");
        }
        if (((cfgr >> 10) & 7u) < 4u) {
            violation("APB1 undivided at 84 MHz (max 42 MHz)");
        }
    }
    if ((was_cr & CR_PLLON) != 0u && (cr & CR_PLLON) == 0u && (cfgr & 0xCu) == 0x8u) {
        violation("PLL stopped while it clocks the core");
    }
    /* the hardware's answers, a few polls after the request */
    hse_on_for = (cr & CR_HSEON) != 0u ? hse_on_for + 1u : 0u;
    cr = (hse_runs && hse_on_for > 6u) ? cr | CR_HSERDY : cr & ~CR_HSERDY;
    const int pll_input = (pllcfgr & PLLCFGR_SRC_HSE) == 0u || (cr & CR_HSERDY) != 0u;
    pll_on_for = (cr & CR_PLLON) != 0u ? pll_on_for + 1u : 0u;
    cr = (pll_locks && pll_input && pll_on_for > 100u) ? cr | CR_PLLRDY : cr & ~CR_PLLRDY;
    cfgr = (cfgr & ~0xCu) | ((cfgr & 3u) << 2);
    was_cr = cr, was_pllcfgr = pllcfgr, was_cfgr = cfgr, was_acr = acr;
}

volatile uint32_t *sim_reg(uint32_t addr)
{
    step();
    switch (addr) {
    case 0x40023800u: return &cr;
    case 0x40023804u: return &pllcfgr;
    case 0x40023808u: return &cfgr;
    case 0x40023C00u: return &acr;
    default: printf("violation: clock.c touched 0x%08x\n", (unsigned)addr); exit(2);
    }
}

int main(int argc, char **argv)
{
    hse_runs = argc > 1 && strcmp(argv[1], "hse") == 0;
    pll_locks = !(argc > 1 && strcmp(argv[1], "no-pll") == 0);
    const uint32_t apb1 = nucleo_clock_init();
    step();
    printf("apb1=%u sysclk=%u brr=%u cr=%u pllcfgr=%u cfgr=%u acr=%u violations=%u cpu=%s\n", (unsigned)apb1,
           (unsigned)nucleo_sysclk_hz, (unsigned)NUCLEO_BRR_FOR(apb1), (unsigned)cr, (unsigned)pllcfgr,
           (unsigned)cfgr, (unsigned)acr, violations, nucleo_cpu_name);
    return 0;
}
"""


@pytest.fixture(scope="module")
def clock_sim(tmp_path_factory: pytest.TempPathFactory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no host C compiler")
    work = tmp_path_factory.mktemp("clock_sim")
    (work / "fake").mkdir()
    (work / "fake" / "cortex_m.h").write_text(_FAKE_CORTEX_M_H)
    (work / "sim.c").write_text(_CLOCK_SIM_C)
    exe = work / "sim"
    subprocess.run(
        [cc, "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{work / 'fake'}", f"-I{BOARD_DIR}",
         f"-I{FIRMWARE_DIR / 'include'}", "-o", str(exe), str(work / "sim.c"), str(BOARD_DIR / "clock.c")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip

    def run(case: str) -> dict[str, str]:
        done = subprocess.run([str(exe), case], capture_output=True, text=True, timeout=10)
        assert done.returncode == 0 and "violation:" not in done.stdout, done.stdout
        figures, cpu = done.stdout.split(" cpu=")
        return dict(field.split("=", 1) for field in figures.split()) | {"cpu": cpu.strip()}

    return run


def _pllcfgr(m: int, n: int, p: int, q: int, hse: bool) -> int:
    """RM0368 "RCC PLL configuration register": PLLM [5:0], PLLN [14:6], PLLP [17:16] (00 = /2 .. 11 = /8),
    PLLSRC bit 22 (1 = HSE), PLLQ [27:24]."""
    return m | n << 6 | (p // 2 - 1) << 16 | int(hse) << 22 | q << 24


def test_clock_init_with_the_st_links_mco_runs_84_mhz_from_hse_bypass(clock_sim) -> None:
    r = clock_sim("hse")
    assert int(r["pllcfgr"]) == _pllcfgr(8, 336, 4, 7, hse=True) == 0x07415408
    cr, cfgr = int(r["cr"]), int(r["cfgr"])
    assert cr & (1 << 16 | 1 << 18 | 1 << 24) == 1 << 16 | 1 << 18 | 1 << 24, "HSEON, HSEBYP, PLLON"
    # RCC_CFGR: SW = SWS = PLL, HPRE (7:4) /1, PPRE1 (12:10) = 100 (/2), PPRE2 (15:13) /1
    assert cfgr & 0xFFFF == 2 | 2 << 2 | 0b100 << 10
    assert int(r["acr"]) & 0xF == 2 and int(r["acr"]) >> 8 & 7 == 7, "2 wait states, prefetch, I- and D-cache"
    assert (int(r["sysclk"]), int(r["apb1"]), int(r["brr"])) == (84_000_000, 42_000_000, 365)
    assert r["cpu"] == "cortex-m4f stm32f401re hse-bypass-84MHz"


def test_clock_init_without_hse_runs_84_mhz_from_the_hsi(clock_sim) -> None:
    r = clock_sim("no-hse")
    assert int(r["pllcfgr"]) == _pllcfgr(16, 336, 4, 7, hse=False)
    assert int(r["cr"]) & (1 << 16 | 1 << 18) == 0, "HSE switched off again, bypass cleared"
    assert (int(r["sysclk"]), int(r["apb1"]), int(r["brr"])) == (84_000_000, 42_000_000, 365)
    assert r["cpu"] == "cortex-m4f stm32f401re hsi-pll-84MHz"


def test_clock_init_stays_on_the_hsi_when_the_pll_never_locks(clock_sim) -> None:
    r = clock_sim("no-pll")
    assert int(r["cfgr"]) & 0xF == 0 and int(r["cr"]) & 1 << 24 == 0, "SYSCLK = HSI, PLL off"
    # APB1 undivided at 16 MHz: 16e6 / 115200 = 138.9 -> 139, +0.08 %
    assert (int(r["sysclk"]), int(r["apb1"]), int(r["brr"])) == (16_000_000, 16_000_000, 139)
    assert r["cpu"] == "cortex-m4f stm32f401re hsi-16MHz"


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


def test_the_bench_docs_rows_of_this_kind_load_and_flash_as_written(tmp_path, monkeypatch) -> None:
    """docs/bench.md's example lab.toml is a valid inventory, and its Nucleo rows ask openocd and pyocd for this
    part (the tools themselves need a probe: not run here)."""
    block = re.search(r"```toml\n(.*?)```", (REPO_ROOT / "docs" / "bench.md").read_text(), re.S)
    assert block is not None
    (tmp_path / "lab.toml").write_text(block.group(1))
    lab = load_lab(tmp_path / "lab.toml")
    rows = {row.flasher: row for row in lab.rows.values() if row.kind == KIND}
    assert {"openocd", "pyocd"} <= set(rows)
    ran: list[list[str]] = []
    monkeypatch.setattr(Flasher, "executable", lambda self: self.tools[0])
    monkeypatch.setattr(Flasher, "run", lambda self, argv, **kw: ran.append(argv))
    elf = Image(tmp_path / "hil_fw.elf", 1, FirmwareSpec(KIND, cross=True), tmp_path, {}, True)
    get_flasher("openocd").flash(elf, rows["openocd"])
    assert ran[-1][:4] == ["openocd", "-f", "interface/stlink.cfg", "-f"] and ran[-1][4] == "target/stm32f4x.cfg"
    get_flasher("pyocd").flash(elf, rows["pyocd"])
    assert ran[-1][:4] == ["pyocd", "flash", "-t", "stm32f401re"]


@needs_cross
@needs_qemu
def test_the_link_path_runs_under_qemus_stm32f405(image: Image, tmp_path) -> None:
    """USART2 on IRQ 38 into the ring, the frame loop, an LSTM inference; with no RCC to answer, HSE and the PLL
    time out and the port stays on the 16 MHz HSI, which HELLO reports as its counter clock and in its cpu string."""
    port = free_local_port()
    log = (tmp_path / "qemu.log").open("w")
    qemu = subprocess.Popen(
        ["qemu-system-arm", "-M", "netduinoplus2", "-display", "none", "-monitor", "none", "-serial", "null",
         "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on", "-kernel", str(image.path)],
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
