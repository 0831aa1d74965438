"""`python -m harness boards`: the registry kinds, then the lab.toml rows with whether their port, flasher and GDB
server are there on this machine."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from harness.cli import main


def test_rows_say_what_is_present_here(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    device = tmp_path / "ttyACM0"
    device.touch()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        gdb = f"127.0.0.1:{server.getsockname()[1]}"
        lab = tmp_path / "lab.toml"
        lab.write_text(
            f'[boards.here]\nkind = "qemu-stm32f4"\nserial = "{device}"\nflasher = "gdb-remote"\ngdb = "{gdb}"\n'
            '[boards.gone]\nkind = "qemu-stm32f4"\nserial = "/dev/serial/by-id/usb-unplugged-if02"\nflasher = "none"\n'
        )
        assert main(["boards", "--lab", str(lab)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("host ") and "qemu-stm32f4" in out
    assert f"bench rows in {lab}:" in out
    assert f"port    {device}: present" in out and f"gdb     {gdb}: present, accepts connections" in out
    tool = "/gdb-multiarch" if Path("/usr/bin/gdb-multiarch").exists() else "MISSING: install it"
    assert tool in out.split("here ", 1)[1].split("gone ", 1)[0]
    assert "usb-unplugged-if02: ABSENT, no such device" in out and "flasher needs no tool" in out


def test_a_broken_inventory_is_reported_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text('[boards.b]\nkind = "qemu-stm32f4"\nserial = "/dev/ttyX"\nflasher = "none"\ncolour = "red"\n')
    assert main(["boards", "--lab", str(lab)]) == 2
    assert f"{lab}:5: unknown key 'colour'" in capsys.readouterr().err


def test_no_inventory_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HIL_LAB", raising=False)
    assert main(["boards"]) == 0
    assert "no bench inventory" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc missing")
def test_build_takes_a_bench_row_and_builds_its_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text('[boards.nucleo-3]\nkind = "nucleo-f401re"\nserial = "/dev/ttyACM0"\nflasher = "openocd"\n')
    assert main(["build", "--lab", str(lab), "--board", "nucleo-3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nucleo-3: ") and "/nucleo-f401re-" in out.splitlines()[0] and "flash" in out
    lab.write_text('[boards.nucleo-3]\nkind = "nucleo-f401re"\nflasher = "openocd"\n')
    assert main(["build", "--lab", str(lab), "--board", "nucleo-3"]) == 2
    assert "serial" in capsys.readouterr().err
