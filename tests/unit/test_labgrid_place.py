"""harness.boards.labgrid_place without a coordinator: what labgrid-client prints is read right, a holder names its
run, and the usage errors say what to do. tests/labgrid runs the same code against a real coordinator."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys

import pytest

from harness.boards import BoardError, get_board
from harness.boards import labgrid_place as lg
from harness.defaults import REPO_ROOT
from harness.lifetime import start_ticks

# labgrid-client 26.0.1 `-p hil-host show` of an acquired place
SHOWN = """Place 'hil-host':
  comment: tools/labgrid_standin.py: host board on /dev/pts/1
  matches:
    hil-standin/hil/*
  acquired: vm/root.hil-19294-7201644
  acquired resources:
    hil-standin/hil/NetworkSerialPort/RawSerialPort
  created: 2026-12-03 23:04:31.912163
  changed: 2026-12-03 23:04:38.632284
Acquired resource 'RawSerialPort' (hil-standin/hil/NetworkSerialPort/RawSerialPort):
  {'acquired': 'hil-host',
   'avail': True,
   'cls': 'NetworkSerialPort',
   'params': {'extra': {'path': '/dev/pts/1',
                        'proxy': 'localhost',
                        'proxy_required': False},
              'host': '127.0.0.1',
              'port': 55373,
              'speed': 115200}}
"""


def test_show_gives_the_holder_and_the_network_serial_port() -> None:
    info = lg.parse_show("hil-host", SHOWN)
    assert info.holder == lg.PlaceHolder("vm", "root.hil-19294-7201644", "2026-12-03 23:04:38.632284")
    assert info.holder.run_pid == 19294
    port = info.resource("NetworkSerialPort")
    assert port is not None and port.avail
    assert (port.params["host"], port.params["port"]) == ("127.0.0.1", 55373)
    assert port.path == "hil-standin/hil/NetworkSerialPort/RawSerialPort"


def test_a_free_place_has_no_holder_and_its_port_waits_for_the_acquire() -> None:
    free = SHOWN.replace("acquired: vm/root.hil-19294-7201644", "acquired: None").replace(
        "'port': 55373", "'port': None"
    )
    info = lg.parse_show("hil-host", free.replace("Acquired resource", "Matching resource"))
    assert info.holder is None
    assert info.resource("NetworkSerialPort").params["port"] is None  # type: ignore[union-attr]


def test_a_holder_names_its_run_and_is_gone_only_when_its_process_is() -> None:
    me = lg.PlaceHolder(socket.gethostname(), lg.run_user())
    assert me.user == f"{getpass.getuser()}.hil-{os.getpid()}-{start_ticks(os.getpid())}"
    assert me.run_pid == os.getpid() and not me.process_gone()
    assert f"a harness run: pid {os.getpid()} of {getpass.getuser()} on {socket.gethostname()}" in me.describe()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = lg.PlaceHolder(socket.gethostname(), f"{getpass.getuser()}.hil-{dead.pid}-0")  # 0: start not known
    assert gone.process_gone()
    # the same pid reused by a later process is not the holder
    reused = lg.PlaceHolder(socket.gethostname(), f"{getpass.getuser()}.hil-{os.getpid()}-1")
    assert reused.process_gone()
    # another host's run, or a person, cannot be judged from here
    assert not lg.PlaceHolder("elsewhere", f"{getpass.getuser()}.hil-{dead.pid}-1").process_gone()
    assert not lg.PlaceHolder(socket.gethostname(), "alice").process_gone()
    assert lg.PlaceHolder(socket.gethostname(), "alice").describe() == f"{socket.gethostname()}/alice"


def test_without_labgrid_the_error_says_make_setup(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(lg, "LABGRID_VENV", tmp_path / "no-venv")
    monkeypatch.setattr(lg, "REPO", tmp_path)
    monkeypatch.delenv(lg.CLIENT_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BoardError, match=r"labgrid is not installed: run `make setup`"):
        lg.labgrid_client()


def test_without_lg_coordinator_the_place_is_a_usage_error_naming_it(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LG_COORDINATOR"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/hil/test_handshake.py",
                           "--hil-lg-place", "bench-7", "--hil-report-dir", str(tmp_path)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]  # pytest's usage error
    assert "--hil-lg-place bench-7: LG_COORDINATOR is not set" in done.stderr, done.stderr[-2000:]
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("LG_COORDINATOR", raising=False)
        with pytest.raises(BoardError, match="LG_COORDINATOR is not set"):
            lg.coordinator()


def test_the_harness_venv_keeps_pyserial_and_has_no_labgrid() -> None:
    """labgrid lives in .hil-cache/labgrid-venv: its pyserial-labgrid would provide ``serial`` here, and its pytest
    plugin would load into every run."""
    import importlib.metadata
    import importlib.util

    assert importlib.metadata.packages_distributions()["serial"] == ["pyserial"]
    assert importlib.util.find_spec("labgrid") is None


LAB_ROW = '[boards.lg-1]\nkind = "qemu-stm32f4"\nplace = "bench-7"\nflasher = "none"\n'


def test_a_lab_row_with_a_place_needs_no_serial(tmp_path) -> None:
    from harness.lab import load_lab

    path = tmp_path / "lab.toml"
    path.write_text(LAB_ROW)
    row = load_lab(path).row("lg-1")
    assert (row.place, row.serial) == ("bench-7", "")
    board = get_board("lg-1", lab=load_lab(path))
    assert isinstance(board, lg.PlaceBenchBoard) and board.place.name == "bench-7"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            LAB_ROW + 'serial = "socket://127.0.0.1:4000"\n',
            5,
            "has a labgrid place, whose NetworkSerialPort is its serial",
        ),
        (
            LAB_ROW + "\n" + LAB_ROW.replace("lg-1", "lg-2"),
            8,
            r"has the serial port of \[boards.lg-1\].*labgrid place bench-7",
        ),
        (LAB_ROW.replace('place = "bench-7"\n', ""), 1, "has no serial .*or a labgrid place"),
    ],
)
def test_lab_rows_with_places_are_checked(tmp_path, text: str, line: int, message: str) -> None:
    from harness.lab import LabError, load_lab

    path = tmp_path / "lab.toml"
    path.write_text(text)
    with pytest.raises(LabError, match=message) as refused:
        load_lab(path)
    assert f"{path}:{line}:" in str(refused.value)
