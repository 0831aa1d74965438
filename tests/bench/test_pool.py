"""A pool of bench rows shared by parallel workers: two stand-in boards (QEMU halted behind its GDB stub, flashed by
gdb-multiarch) as rows of one ``pool`` in a lab.toml, and a run with two pytest-xdist workers and ``--hil-pool``.
Each worker must lease a different row for its whole session and flash and drive it; every row of the run lands in
the one run folder; and while both rows are held, a third run asking for the pool is told who holds them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.boards import standin as bench_standin
from harness.defaults import REPO_ROOT
from harness.lease import BoardBusy, BoardLease, lease_one_of, row_key
from harness.reporting import results

ROWS = ("pool-a", "pool-b")

INNER = """
import os, time, pytest

@pytest.mark.parametrize("k", range(6))
def test_on_a_pool_board(hil_session, record, k):
    assert hil_session.client.hello().build_id == hil_session.image.build_id  # flashed and answering
    record("worker_pid", os.getpid(), "", model="m", sample=k)
    time.sleep(0.3)  # long enough that both workers hold their rows at once
"""


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path / "locks"))
    started = [bench_standin.start(tmp_path / f"{row}.log") for row in ROWS]
    try:
        path = tmp_path / "lab.toml"
        path.write_text("".join(s.row(row, pool="f4", boot_timeout=5) for s, row in zip(started, ROWS, strict=True)))
        yield path
    finally:
        for s in started:
            bench_standin.stop(s.pid)


def test_two_workers_lease_different_rows_of_the_pool(lab: Path, tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    reports = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_inner.py"), "-n", "2", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "--hil-lab", str(lab), "--hil-pool", "f4", "--hil-report-dir", str(reports),
         "--hil-run-id", "pool", "--hil-baselines", "none"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    rows = results.read_results(reports / "pool")
    pids = rows[rows["metric"] == "worker_pid"]
    assert sorted(pids["sample"].astype(int)) == list(range(6))  # every row once, in the one folder
    per_board = pids.groupby("board")["value"].nunique()
    assert set(per_board.index) == set(ROWS), per_board  # both rows were used...
    assert (per_board == 1).all(), per_board  # ...each by one worker only
    assert pids["value"].nunique() == 2


def test_a_pool_whose_rows_are_all_held_names_the_holders(lab: Path) -> None:
    held = [BoardLease(row_key(row), run_id="other-run").acquire() for row in ROWS]
    try:
        with pytest.raises(BoardBusy, match=r"every board of the pool is held \(lab:pool-a: .*other-run.*lab:pool-b"):
            lease_one_of([row_key(row) for row in ROWS], run_id="mine", timeout=0.5)
        held[0].release()
        got = lease_one_of([row_key(row) for row in ROWS], run_id="mine", timeout=0.5)
        assert got.board == row_key("pool-a")  # the row that came free
        got.release()
    finally:
        for lease in held:
            lease.release()
