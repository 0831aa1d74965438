"""lab.toml, the bench inventory: rows read as data, and every refusal names the file and the line to change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import defaults
from harness.lab import LAB_ENV, BenchRow, LabError, find_lab, load_lab

pytest_plugins = ["pytester"]

GOOD = """\
# the bench by the window
[boards.nucleo-3]
kind    = "qemu-stm32f4"
serial  = "/dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_066DFF-if02"
baud    = 115200
flasher = "openocd"
probe   = "066DFF"
openocd_cfg = ["interface/stlink.cfg", "target/stm32f4x.cfg"]

[boards."bench-gdb"]
kind    = "qemu-stm32f4"
serial  = "socket://127.0.0.1:4000"
flasher = "gdb-remote"
gdb     = "127.0.0.1:3333"
boot_timeout = 3

[boards.esp-1]
kind     = "esp32-s3"
serial   = "/dev/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit_F4:12-if00"
flasher  = "esptool"
chip     = "esp32s3"
image    = "images/hil-fw-esp32s3.bin"
build_id = "0123456789abcdef"
"""


def _lab(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    return path


def _refused(tmp_path: Path, text: str, line: int, *fragments: str) -> str:
    """load_lab refuses ``text``, naming the file and ``line``, and says each of ``fragments``."""
    path = _lab(tmp_path, text)
    with pytest.raises(LabError) as refused:
        load_lab(path)
    message = str(refused.value)
    assert message.startswith(f"{path}:{line}:"), message
    for fragment in fragments:
        assert re.search(fragment, message), f"{fragment!r} not in: {message}"
    return message


def test_rows_are_read_as_data(tmp_path: Path) -> None:
    lab = load_lab(_lab(tmp_path, GOOD))
    assert list(lab.rows) == ["nucleo-3", "bench-gdb", "esp-1"]
    nucleo = lab.row("nucleo-3")
    by_id = "/dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_066DFF-if02"
    assert nucleo == BenchRow(
        name="nucleo-3", kind="qemu-stm32f4", serial=by_id, flasher="openocd", baud=115200, probe="066DFF",
        openocd_cfg=("interface/stlink.cfg", "target/stm32f4x.cfg"),
    )  # fmt: skip
    assert nucleo.where() == f"{lab.path}:2" and nucleo.where("probe") == f"{lab.path}:7"
    gdb = lab.row("bench-gdb")
    assert gdb.reset == "reset run", "OpenOCD's reset command is the default"
    assert gdb.boot_timeout == 3.0 and isinstance(gdb.boot_timeout, float)
    assert gdb.gdb_address() == ("127.0.0.1", 3333) and gdb.line == 10
    esp = lab.row("esp-1")
    assert esp.prebuilt and esp.image == tmp_path / "images" / "hil-fw-esp32s3.bin"
    assert esp.build_id == 0x0123456789ABCDEF
    with pytest.raises(LabError, match=r"no row \[boards.nucleo-9\]; rows: nucleo-3, bench-gdb, esp-1"):
        lab.row("nucleo-9")


ROW = '[boards.b1]\nkind = "qemu-stm32f4"\nserial = "socket://127.0.0.1:4001"\nflasher = "gdb-remote"\ngdb = "h:1"\n'


def test_unknown_key_names_its_line(tmp_path: Path) -> None:
    _refused(tmp_path, ROW + "speed = 3\n", 6, "unknown key 'speed'", "a row has kind, serial")


def test_missing_serial_names_the_table(tmp_path: Path) -> None:
    _refused(tmp_path, "\n\n" + ROW.replace('serial = "socket://127.0.0.1:4001"\n', ""), 3, r"has no serial")


def test_two_rows_on_one_serial_port(tmp_path: Path) -> None:
    second = ROW.replace("b1", "b2").replace("h:1", "h:2")
    message = _refused(tmp_path, ROW + "\n" + second, 9, r"\[boards.b2\] has the serial port of \[boards.b1\]")
    assert f"{tmp_path / 'lab.toml'}:3" in message, "the first row's line is named too"


def test_two_spellings_of_one_device_are_one_port(tmp_path: Path) -> None:
    device = tmp_path / "ttyACM0"
    device.touch()
    (tmp_path / "by-id-link").symlink_to(device)
    row = '[boards.{n}]\nkind = "qemu-stm32f4"\nserial = "{s}"\nflasher = "none"\n'
    text = row.format(n="a", s=device) + row.format(n="b", s=tmp_path / "by-id-link")
    _refused(tmp_path, text, 7, "has the serial port of")


def test_two_rows_on_one_probe(tmp_path: Path) -> None:
    row = '[boards.{n}]\nkind = "qemu-stm32f4"\nserial = "/dev/tty{n}"\nflasher = "pyocd"\nprobe = "066DFF"\n'
    row += 'target = "stm32f405rg"\n'
    _refused(tmp_path, row.format(n="A") + row.format(n="B"), 11, r"has the probe of \[boards.A\]", "one probe")


def test_two_rows_on_one_gdb_server(tmp_path: Path) -> None:
    second = ROW.replace("b1", "b2").replace("4001", "4002")
    _refused(tmp_path, ROW + second, 10, r"has the gdb of \[boards.b1\]")


def test_unknown_kind_lists_the_kinds(tmp_path: Path) -> None:
    _refused(tmp_path, ROW.replace('kind = "qemu-stm32f4"', 'kind = "stm32h7-disco"'), 2,
             "kind 'stm32h7-disco', which has no firmware here", "qemu-stm32f4")  # fmt: skip


def test_a_kind_with_a_firmware_folder_is_known(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A physical kind needs no harness module: its folder under firmware/boards/ is enough (dash or underscore)."""
    firmware = tmp_path / "firmware"
    (firmware / "boards" / "nucleo_f401re").mkdir(parents=True)
    (firmware / "boards" / "nucleo_f401re" / "board.cmake").write_text("")
    monkeypatch.setattr(defaults, "FIRMWARE_DIR", firmware)
    text = ROW.replace('kind = "qemu-stm32f4"', 'kind = "nucleo-f401re"')
    assert load_lab(_lab(tmp_path, text)).row("b1").kind == "nucleo-f401re"


def test_unknown_flasher_names_its_line(tmp_path: Path) -> None:
    _refused(tmp_path, ROW.replace('"gdb-remote"', '"jlink"').replace('gdb = "h:1"\n', ""), 4,
             "unknown flasher 'jlink'", "esptool, gdb-remote, none, openocd, pyocd")  # fmt: skip


def test_a_key_of_another_flasher_is_refused(tmp_path: Path) -> None:
    text = ROW.replace('"gdb-remote"', '"pyocd"').replace('gdb = "h:1"\n', 'target = "stm32f401re"\ngdb = "h:1"\n')
    _refused(tmp_path, text, 6, "key 'gdb' is read by flasher gdb-remote", "has flasher 'pyocd'")


def test_a_flasher_without_its_required_key(tmp_path: Path) -> None:
    _refused(tmp_path, ROW.replace('gdb = "h:1"\n', ""), 1, "flasher 'gdb-remote', which needs gdb")


def test_openocd_without_a_config_for_its_kind(tmp_path: Path) -> None:
    text = ROW.replace('"gdb-remote"', '"openocd"').replace('gdb = "h:1"\n', "")
    _refused(tmp_path, text, 1, "needs openocd_cfg for kind 'qemu-stm32f4'")


def test_a_row_named_like_a_board_kind(tmp_path: Path) -> None:
    _refused(tmp_path, ROW.replace("[boards.b1]", "[boards.qemu-stm32f4]"), 1,
             "named like the board kind 'qemu-stm32f4'", "rename the row")  # fmt: skip


def test_a_value_of_the_wrong_type(tmp_path: Path) -> None:
    _refused(tmp_path, ROW + 'baud = "fast"\n', 6, "baud = 'fast' must be an integer")


def test_gdb_must_be_host_port(tmp_path: Path) -> None:
    _refused(tmp_path, ROW.replace('gdb = "h:1"', 'gdb = "localhost"'), 5, "is not HOST:PORT")


def test_esptool_needs_a_local_port(tmp_path: Path) -> None:
    text = GOOD.split("[boards.esp-1]")[1].replace("/dev/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit_F4:12"
                                                  "-if00", "rfc2217://bench:4000")  # fmt: skip
    _refused(tmp_path, "[boards.esp-1]" + text, 1, "serial must be a local device")


def test_a_build_id_is_sixteen_hex_digits(tmp_path: Path) -> None:
    text = "[boards.esp-1]" + GOOD.split("[boards.esp-1]")[1].replace('"0123456789abcdef"', '"0x123"')
    _refused(tmp_path, text, 7, "must be 16 hex digits")


def test_a_top_level_entry_other_than_boards(tmp_path: Path) -> None:
    _refused(tmp_path, ROW + "\n[defaults]\nbaud = 9600\n", 7, "unknown top-level entry 'defaults'")


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = _lab(tmp_path, ROW + "baud = \n")
    with pytest.raises(LabError, match=rf"^{re.escape(str(path))}: not valid TOML: .*line 6"):
        load_lab(path)


def test_which_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, env, local = (tmp_path / n for n in ("explicit.toml", "env.toml", "lab.toml"))
    for p in (explicit, env, local):
        p.write_text(ROW)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(LAB_ENV, str(env))
    assert find_lab(explicit) == explicit
    assert find_lab(None) == env
    monkeypatch.delenv(LAB_ENV)
    assert find_lab(None) == Path("lab.toml")
    local.unlink()
    assert find_lab(None) is None, "no inventory is no error: the run has only board kinds"
    with pytest.raises(LabError, match=r"--hil-lab .*missing.toml: no such file"):
        find_lab(tmp_path / "missing.toml")
    monkeypatch.setenv(LAB_ENV, str(tmp_path / "gone.toml"))
    with pytest.raises(LabError, match=r"\$HIL_LAB .*gone.toml: no such file"):
        find_lab(None)


def test_a_black_magic_probe_is_a_gdb_server_on_a_device(tmp_path: Path) -> None:
    text = ROW.replace('gdb = "h:1"', 'gdb = "/dev/ttyBmpGdb"\ngdb_init = ["monitor swdp_scan", "attach 1"]')
    row = load_lab(_lab(tmp_path, text)).row("b1")
    assert row.gdb_address() == Path("/dev/ttyBmpGdb") and row.gdb_init == ("monitor swdp_scan", "attach 1")
    _refused(tmp_path, text.replace('"attach 1"]', "1]"), 6, "gdb_init must be a list of strings")


def test_pytest_refuses_a_broken_inventory_before_collecting(pytester: pytest.Pytester, tmp_path: Path) -> None:
    lab = _lab(tmp_path, ROW + "speed = 3\n")
    pytester.makepyfile(test_inner="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hil-lab", str(lab))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {lab}:6: unknown key 'speed' in [[]boards.b1[]]*"])


def test_hil_board_names_rows_and_kinds(pytester: pytest.Pytester, tmp_path: Path) -> None:
    lab = _lab(tmp_path, ROW)
    pytester.makepyfile(test_inner="def test_board(hil_board_name):\n    pass\n")
    ok = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hil-lab", str(lab), "--hil-board", "b1",
                                       "--hil-board", "qemu-stm32f4", "--collect-only", "-q")  # fmt: skip
    ok.stdout.fnmatch_lines(["*test_inner.py::test_board[[]b1[]]", "*test_inner.py::test_board[[]qemu-stm32f4[]]"])
    bad = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--hil-lab", str(lab), "--hil-board", "b2")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines([f"*unknown --hil-board [[]'b2'[]]; known boards: host, *; rows of {lab}: b1"])
