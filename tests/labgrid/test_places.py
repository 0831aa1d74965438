"""labgrid places with a real labgrid-coordinator and labgrid-exporter (tests/labgrid/conftest.py): a HIL run over
the place's rfc2217 port holds the place and releases it at its end; a second client is refused meanwhile; SIGTERM
releases the place; after kill -9 the place stays held by a holder that names the dead run, a client elsewhere is
told how to free it, and the next run on this host takes it over. A lab.toml row with a place: flashed through its
row's flasher, reached on the place's port, refused while someone else holds the place."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.boards import get_board
from harness.boards.labgrid_place import Place, PlaceBenchBoard, PlaceBusy, run_user
from harness.defaults import REPO_ROOT
from harness.lab import load_lab

from .conftest import Bench

HOLD = """
import os, time
from pathlib import Path

def test_hold_the_place(hil_session):
    assert hil_session.link_url.startswith("rfc2217://")
    hil_session.client.hello()
    Path(os.environ["HOLD_READY"]).write_text(str(os.getpid()))
    while not Path(os.environ["HOLD_DONE"]).exists():
        time.sleep(0.1)
"""


def _pytest(bench: Bench, tmp_path: Path, *args: str, board: tuple[str, ...] | None = None) -> list[str]:
    """A HIL run's argv, on the place's board (default: --hil-lg-place on the host board's place)."""
    where = board or ("--hil-lg-place", bench.place, "--hil-board", "host")
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *where, "--hil-report-dir",
            str(tmp_path / "reports"), "--hil-baselines", "none", *args]  # fmt: skip


def _env(bench: Bench, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "LG_COORDINATOR": bench.coordinator, "HOLD_READY": str(tmp_path / "ready"),
            "HOLD_DONE": str(tmp_path / "done")}  # fmt: skip


def _holding_run(bench: Bench, tmp_path: Path) -> subprocess.Popen[str]:
    """A HIL run that acquires the place, says HELLO over it and holds it until tmp_path/done exists."""
    (tmp_path / "test_hold.py").write_text(HOLD)
    run = subprocess.Popen(_pytest(bench, tmp_path, str(tmp_path / "test_hold.py"), "--rootdir", str(tmp_path)),
                           cwd=REPO_ROOT, env=_env(bench, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (tmp_path / "ready").exists():
        if run.poll() is not None or time.monotonic() > deadline:
            run.kill()
            pytest.fail(f"the holding run did not get the place:\n{run.communicate()[0][-4000:]}")
        time.sleep(0.1)
    return run


def test_a_second_client_is_refused_while_a_run_holds_the_place(bench: Bench, tmp_path: Path) -> None:
    holder = _holding_run(bench, tmp_path)
    try:
        shown = bench.client("show").stdout
        assert f".hil-{holder.pid}-" in shown, shown  # the coordinator names the run that holds it
        # a person at the bench, with labgrid's own client
        other = bench.client("acquire", user="alice")
        assert other.returncode != 0
        assert "already acquired by" in other.stdout + other.stderr
        # a second HIL run: refused, told who holds the place and how to free it
        second = subprocess.run(_pytest(bench, tmp_path / "second", "tests/hil/test_handshake.py", "-q",
                                        "-k", "hello_describes", "--hil-retries", "0"),
                                cwd=REPO_ROOT, env=_env(bench, tmp_path), capture_output=True, text=True,
                                timeout=300)  # fmt: skip
        out = second.stdout + second.stderr
        assert second.returncode == 3, out[-4000:]  # a board failure: infrastructure, not the model
        assert f"labgrid place '{bench.place}' is held by" in out, out[-4000:]
        assert f"a harness run: pid {holder.pid} of" in out, out[-4000:]
        assert f"labgrid-client -p {bench.place} release --kick" in out, out[-4000:]
        assert f".hil-{holder.pid}-" in bench.client("show").stdout  # still the first run's
    finally:
        (tmp_path / "done").touch()
        out = holder.communicate(timeout=120)[0]
    assert holder.returncode == 0, out[-4000:]
    assert "acquired: None" in bench.client("show").stdout


def test_sigterm_releases_the_place(bench: Bench, tmp_path: Path) -> None:
    holder = _holding_run(bench, tmp_path)
    holder.send_signal(signal.SIGTERM)
    out = holder.communicate(timeout=120)[0]
    assert holder.returncode != 0, out[-3000:]
    shown = bench.client("show").stdout
    assert "acquired: None" in shown, shown + out[-3000:]


def test_after_kill_9_the_place_names_the_dead_run_and_the_next_run_takes_it_over(bench: Bench,
                                                                                   tmp_path: Path) -> None:  # fmt: skip
    holder = _holding_run(bench, tmp_path)
    os.kill(holder.pid, signal.SIGKILL)  # no cleanup runs: the coordinator still has the place held
    holder.communicate(timeout=60)
    shown = bench.client("show").stdout
    assert f".hil-{holder.pid}-" in shown, shown
    # a client on another host cannot tell that the run is gone: it is told who holds the place and how to free it
    with pytest.raises(PlaceBusy) as refused:
        Place(bench.place, user="bob", host="another-host").acquire()
    message = str(refused.value)
    assert f"a harness run: pid {holder.pid} of" in message, message
    assert f"labgrid-client -p {bench.place} release --kick" in message, message
    # the next run on this host sees that the holder's process is gone, takes the place over and says from whom
    nxt = subprocess.run(_pytest(bench, tmp_path / "next", "tests/hil/test_handshake.py", "-q",
                                 "-k", "hello_describes", "-o", "log_cli=true", "-o", "log_cli_level=WARNING"),
                         cwd=REPO_ROOT, env=_env(bench, tmp_path), capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    out = nxt.stdout + nxt.stderr
    assert nxt.returncode == 0, out[-4000:]
    assert f"took labgrid place {bench.place} over from" in out and f"pid {holder.pid} of" in out, out[-4000:]
    assert "acquired: None" in bench.client("show").stdout


def test_a_lab_row_with_a_place_is_flashed_and_reached_through_it(bench: Bench) -> None:
    lab = load_lab(bench.lab)
    board = get_board("lg-stm32f4", lab=lab)
    assert isinstance(board, PlaceBenchBoard) and board.lease_key is None  # the coordinator is its lock
    image = board.build()
    try:
        board.flash(image)  # gdb-remote through the stub; the HELLO probe before it already goes through the place
        url = board.start()  # HELLO with the image's build id over the place's rfc2217 port
        assert url.startswith("rfc2217://127.0.0.1:") and url.endswith("?ign_set_control"), url
        assert f"acquired: {os.uname().nodename}/{run_user()}" in bench.client("show", place=bench.qemu_place).stdout
        assert board.facts()["labgrid_place"] == bench.qemu_place
    finally:
        board.stop()
    assert "acquired: None" in bench.client("show", place=bench.qemu_place).stdout


def test_a_lab_row_whose_place_someone_holds_fails_as_the_board_naming_them(bench: Bench, tmp_path: Path) -> None:
    assert bench.client("acquire", user="alice", place=bench.qemu_place).returncode == 0
    row = ("--hil-lab", str(bench.lab), "--hil-board", "lg-stm32f4")
    done = subprocess.run(_pytest(bench, tmp_path, "tests/hil/test_handshake.py", "-q", "-k", "hello_describes",
                                  "--hil-retries", "0", board=row),
                          cwd=REPO_ROOT, env=_env(bench, tmp_path), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 3, out[-4000:]
    assert f"labgrid place '{bench.qemu_place}' is held by {os.uname().nodename}/alice" in out, out[-4000:]
    assert f"labgrid-client -p {bench.qemu_place} release --kick" in out, out[-4000:]
    assert "acquired: " + os.uname().nodename + "/alice" in bench.client("show", place=bench.qemu_place).stdout


def test_a_session_closed_for_a_retry_releases_the_place_and_takes_it_again(bench: Bench) -> None:
    from harness.boards.labgrid_place import LabgridPlaceBoard
    from harness.session import session_for

    session = session_for(LabgridPlaceBoard("host", bench.place))
    try:
        session.link_url = session.board.start()
        first = session.link_url
        assert session.open().hello().build_id == session.hello.build_id  # type: ignore[union-attr]
        session.close()  # what a retry does: the place is released, its ser2net stopped
        assert "acquired: None" in bench.client("show").stdout
        session.open()  # the next fixture that needs the board: acquired again, at the port the exporter gives now
        assert session.link_url is not None and session.link_url.startswith("rfc2217://")
        assert f"/{run_user()}" in bench.client("show").stdout
        assert session.client is not None and session.client.hello().build_id == session.hello.build_id  # type: ignore[union-attr]
        print(f"first link {first}, after the retry {session.link_url}")
    finally:
        session.close()
    assert "acquired: None" in bench.client("show").stdout
