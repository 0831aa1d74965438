"""The flasher registry and the one way a flasher runs its tool: output logged and kept, timeouts, a missing tool
named with the package to install. (Flashing a board for real is tests/bench.)"""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from harness.boards.base import BoardError
from harness.build import FirmwareSpec, Image
from harness.flashing import Flasher, FlashError, flashers, get_flasher
from harness.lab import BenchRow
from harness.reporting.failure_classes import FailureClass, classify


class Scripted(Flasher):
    """A flasher whose tool is this Python: no class-level name, so the registry leaves it out."""

    description = "runs python -c SCRIPT"
    tools = (Path(sys.executable).name,)

    def flash(self, image: Image, row: BenchRow):
        return self.run([sys.executable, "-c", row.probe], timeout=row.flash_timeout, what=f"flashing {row.name}",
                        check="check the script")  # fmt: skip

    def reset(self, row: BenchRow) -> None:
        pass


ROW = BenchRow(name="b1", kind="qemu-stm32f4", serial="socket://127.0.0.1:4001", flasher="none")
IMAGE = Image(Path("/nonexistent/hil_fw.elf"), 0x1234, FirmwareSpec("qemu-stm32f4", True), Path("/"), {}, True)


def test_registry_finds_every_flasher_module() -> None:
    found = flashers()
    assert set(found) == {"openocd", "pyocd", "gdb-remote", "esptool", "none"}
    for name, cls in found.items():
        assert issubclass(cls, Flasher) and cls.name == name and cls.description
        assert cls.required <= cls.keys, f"{name} requires a key it does not declare"
    assert "Scripted" not in {cls.__name__ for cls in found.values()}, "a class without a name is no flasher"
    assert isinstance(get_flasher("gdb-remote"), found["gdb-remote"])


def test_unknown_flasher_lists_the_known_ones() -> None:
    with pytest.raises(FlashError, match=r"unknown flasher 'jlink'; flashers: esptool, gdb-remote, none, openocd"):
        get_flasher("jlink")


def test_tool_output_is_logged_and_kept_in_the_error(caplog: pytest.LogCaptureFixture) -> None:
    row = replace(ROW, probe="print('erasing sector 0'); print('verify failed'); raise SystemExit(3)")
    with caplog.at_level(logging.INFO, logger="harness.flashing"), pytest.raises(FlashError) as failed:
        Scripted().flash(IMAGE, row)
    assert "failed (exit 3); check the script" in str(failed.value)
    assert "verify failed" in str(failed.value) and "erasing sector 0" in failed.value.output
    logged = [r.getMessage() for r in caplog.records if r.name == "harness.flashing"]
    assert any("verify failed" in m for m in logged), "the tool's lines go to the test's log"
    assert isinstance(failed.value, BoardError)
    assert classify(failed.value).failure_class is FailureClass.FLASH


def test_a_tool_that_hangs_is_stopped_at_the_row_timeout() -> None:
    row = replace(ROW, probe="import time; print('connecting', flush=True); time.sleep(30)", flash_timeout=0.5)
    with pytest.raises(FlashError, match=r"did not finish within 0.5 s \(the row's flash_timeout\)") as failed:
        Scripted().flash(IMAGE, row)
    assert "connecting" in failed.value.output


def test_a_successful_run_is_timed() -> None:
    run = Scripted().flash(IMAGE, replace(ROW, probe="print('ok')"))
    assert run.returncode == 0 and run.output.strip() == "ok" and 0 < run.seconds < 30


@pytest.mark.parametrize(("name", "package"), [("openocd", "apt-get install openocd"), ("pyocd", "pip install pyocd"),
    ("gdb-remote", "apt-get install gdb-multiarch"), ("esptool", "pip install esptool")])  # fmt: skip
def test_a_missing_tool_says_what_to_install(name: str, package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    flasher = get_flasher(name)
    assert not flasher.present()
    with pytest.raises(FlashError, match=rf"flasher {name} needs .*not installed here: .*{package}"):
        flasher.require()


def test_flasher_none_flashes_nothing_and_cannot_reset() -> None:
    none = get_flasher("none")
    assert none.present() and none.flash(IMAGE, ROW) is None
    with pytest.raises(FlashError, match="has flasher none, so nothing can reset it"):
        none.reset(ROW)


def test_command_lines_carry_the_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """What each tool is asked to do, from the row's keys (the tools themselves need a probe: docs/bench.md)."""
    ran: list[list[str]] = []
    monkeypatch.setattr(Flasher, "executable", lambda self: self.tools[0])
    monkeypatch.setattr(Flasher, "run", lambda self, argv, **kw: ran.append(argv))
    nucleo = BenchRow(name="n3", kind="nucleo-f401re", serial="/dev/ttyACM0", flasher="openocd", probe="066DFF")
    get_flasher("openocd").flash(IMAGE, nucleo)
    assert ran[-1] == ["openocd", "-f", "board/st_nucleo_f4.cfg", "-c", "adapter serial 066DFF",
                       "-c", "program {/nonexistent/hil_fw.elf} verify reset exit"]  # fmt: skip
    get_flasher("pyocd").flash(IMAGE, nucleo)
    assert ran[-1] == ["pyocd", "flash", "-t", "stm32f401re", "-u", "066DFF", "/nonexistent/hil_fw.elf"]
    get_flasher("pyocd").reset(nucleo)
    assert ran[-1] == ["pyocd", "reset", "-t", "stm32f401re", "-u", "066DFF"]
    esp = BenchRow(name="e1", kind="esp32-s3", serial="/dev/ttyACM1", flasher="esptool", chip="esp32s3",
                   image=Path(sys.executable), build_id=1)  # fmt: skip
    get_flasher("esptool").flash(Image(Path(sys.executable), 1, IMAGE.spec, Path("/"), {}, True), esp)
    assert ran[-1][:4] == ["esptool", "--chip", "esp32s3", "--port"]
    assert ran[-1][-3:] == ["write_flash", "0x0", sys.executable]
