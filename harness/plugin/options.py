"""Every ``--hil-*`` option, and how the plugin reads them. Value precedence: ``request.param`` > command line >
environment (``HIL_BOARD``, ``HIL_LAB``) > lab.toml > default (``harness.defaults``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.boards import board_kinds
from harness.defaults import DEFAULT_BASELINES, DEFAULT_BOARD, WINDOWS_BY_SIZE
from harness.lab import Lab, LabError, find_lab, load_lab


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware-in-the-loop harness")
    group.addoption(
        "--hil-board",
        action="append",
        default=None,
        metavar="NAME",
        help=f"board to run tests/hil on; repeat for several (default {DEFAULT_BOARD}; list: python -m harness boards)",
    )
    group.addoption(
        "--hil-lg-place",
        default=None,
        metavar="NAME",
        help="drive the board of this labgrid place: acquired from the coordinator at $LG_COORDINATOR for the "
        "session, its NetworkSerialPort opened as rfc2217://, released at the end (Ctrl-C and SIGTERM too); "
        "--hil-board then only names it (docs/bench.md)",
    )
    group.addoption(
        "--hil-link",
        default=None,
        metavar="URL",
        help="talk to an already running board at this pyserial URL (socket://, rfc2217://, /dev/...) instead of "
        "building and starting one; --hil-board then only names it",
    )
    group.addoption(
        "--hil-lease-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for a bench board (a lab.toml row, a --hil-link URL) another run holds before failing "
        "with who holds it (default 300)",
    )
    group.addoption(
        "--hil-pool",
        default=None,
        metavar="NAME",
        help="test on boards of this pool: a lab.toml pool (each session, each xdist worker with -n, leases a "
        "different row) or a board kind (each starts its own); instead of --hil-board",
    )
    group.addoption(
        "--hil-baud",
        type=int,
        default=None,
        metavar="BAUD",
        help="carry the link of a board without a real UART (host, QEMU) at this rate, 8N1, both ways at once, as "
        "a real line would (default: as fast as the emulator goes); a bench board's line runs at its row's baud",
    )
    group.addoption(
        "--hil-lab",
        default=None,
        metavar="PATH",
        help="the bench inventory (default $HIL_LAB, else ./lab.toml when present): --hil-board ROW then means that "
        "row's board, flashed by its flasher (docs/bench.md)",
    )
    group.addoption(
        "--hil-report-dir",
        default=None,
        metavar="DIR",
        help="root of run folders (default reports/); each run with a HIL test writes DIR/<run_id>/results.csv and "
        "junit.xml",
    )
    group.addoption(
        "--hil-size",
        choices=tuple(WINDOWS_BY_SIZE),
        default="quick",
        help="how much data each test streams: quick (CI, a few windows) or full (nightly)",
    )
    group.addoption(
        "--hil-run-id", default=None, metavar="ID", help="name of the run folder (default: UTC time + random suffix)"
    )
    group.addoption(
        "--hil-retries",
        type=int,
        default=1,
        metavar="N",
        help="run a test again up to N times, board restarted, after a flash/link/board failure (default 1); "
        "model failures are never retried",
    )
    group.addoption(
        "--hil-baselines",
        default=None,
        metavar="DIR",
        help="folder of <board>.toml budgets checked at record time (default reports/baselines/); 'none' to "
        "record without budgets",
    )
    group.addoption(
        "--hil-progress",
        action="store_true",
        default=False,
        help="show harness.progress lines (uploads, windows, budget verdicts) live while tests run",
    )
    # `python -m harness validate` passes these to its test file (harness/suites/validate_case.py)
    group.addoption("--hil-validate-model", default=None, metavar="PATH", help="model file for the validate test")
    group.addoption("--hil-validate-dataset", default=None, metavar="NAME|CSV", help="its data (dataset or CSV)")
    group.addoption("--hil-validate-windows", type=int, default=None, metavar="N",
                    help="windows to validate on (default: by --hil-size)")  # fmt: skip


def baud(config: pytest.Config) -> int | None:
    """--hil-baud, checked: None (no pacing) or a positive rate."""
    value = config.getoption("--hil-baud")
    if value is not None and value <= 0:
        raise pytest.UsageError(f"--hil-baud {value}: a UART's rate is a positive number of bits per second, e.g. "
                                "115200")  # fmt: skip
    return value


def lg_place(config: pytest.Config) -> str | None:
    """--hil-lg-place, checked: a place needs its coordinator's address in $LG_COORDINATOR, and is one board in
    place of --hil-link or --hil-pool."""
    place = config.getoption("--hil-lg-place")
    if place is None:
        return None
    for other in ("--hil-link", "--hil-pool"):
        if config.getoption(other) is not None:
            raise pytest.UsageError(f"--hil-lg-place and {other} both say where the board is; give one of them")
    if not os.environ.get("LG_COORDINATOR", "").strip():
        raise pytest.UsageError(f"--hil-lg-place {place}: LG_COORDINATOR is not set; set it to the labgrid "
                                "coordinator's HOST:PORT (labgrid's default port is 20408)")  # fmt: skip
    return place


def pool_rows(config: pytest.Config, name: str) -> list[str]:
    """The bench rows of pool ``name`` in the inventory (empty: it is no pool there)."""
    inventory = lab(config)
    return [row.name for row in inventory.pool(name)] if inventory is not None else []


def _checked_pool(config: pytest.Config, pool: str) -> str:
    if config.getoption("--hil-board"):
        raise pytest.UsageError("--hil-pool and --hil-board both name the boards under test; give one of them")
    if pool in board_kinds() or pool_rows(config, pool):
        return pool
    inventory = lab(config)
    pools = sorted({r.pool for r in inventory.rows.values() if r.pool}) if inventory else []
    where = f"pools of {inventory.path}: {', '.join(pools) or 'none'}" if inventory else "no lab.toml inventory"
    raise pytest.UsageError(f"--hil-pool {pool}: neither a pool of bench rows ({where}) nor a board kind "
                            f"({', '.join(board_kinds())})")  # fmt: skip


def board_names(config: pytest.Config) -> list[str]:
    """The boards this run tests on, from --hil-board (repeated or comma-separated), $HIL_BOARD, or the default."""
    pool = config.getoption("--hil-pool")
    if pool is not None:
        return [_checked_pool(config, pool)]
    names = config.getoption("--hil-board") or [os.environ.get("HIL_BOARD", DEFAULT_BOARD)]
    out: list[str] = []
    for entry in names:
        out += [n.strip() for n in entry.split(",") if n.strip()]
    if config.getoption("--hil-link") is None and lg_place(config) is None:
        known = list(board_kinds())
        inventory = lab(config)
        rows = list(inventory.rows) if inventory else []
        unknown = [n for n in out if n not in known and n not in rows]
        if unknown:
            where = f"; rows of {inventory.path}: {', '.join(rows) or 'none'}" if inventory else ""
            raise pytest.UsageError(f"unknown --hil-board {unknown}; known boards: {', '.join(known)}{where}")
    return out


def lab(config: pytest.Config) -> Lab | None:
    """The bench inventory from --hil-lab, $HIL_LAB or ./lab.toml (None when there is none); a broken one is a
    usage error naming its file and line."""
    try:
        path = find_lab(config.getoption("--hil-lab"))
        return load_lab(path) if path is not None else None
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from exc


def baselines_dir(config: pytest.Config) -> Path | None:
    """The budgets folder, or None when --hil-baselines none asks for a run without budgets."""
    value = config.getoption("--hil-baselines")
    if value == "none":
        return None
    return Path(value) if value else DEFAULT_BASELINES


def windows(config: pytest.Config) -> int:
    return WINDOWS_BY_SIZE[config.getoption("--hil-size")]
