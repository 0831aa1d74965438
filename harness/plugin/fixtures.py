"""The fixtures a HIL test uses. ``pytest --fixtures`` shows each one's docstring."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import serial

from harness.boards import Board, get_board
from harness.lease import BoardBusy, BoardLease, lease_one_of, row_key
from harness.plugin import budgets, options, run_folder
from harness.plugin.stash import SESSIONS_KEY
from harness.proto.client import Client
from harness.reporting import results, runs
from harness.reporting.baselines import BudgetBook, Verdict
from harness.session import BoardSession, Deployment, session_for

if TYPE_CHECKING:
    from harness.suites.validate import ValidationResult


@pytest.fixture(scope="session")
def hil_run_dir(pytestconfig: pytest.Config) -> Path:
    """Session: this run's folder as a Path, ``<report dir>/<run_id>/`` (made on first use): rows, junit.xml,
    logs/, boards/."""
    return run_folder.ensure(pytestconfig)


@pytest.fixture(scope="session")
def hil_session(request: pytest.FixtureRequest, hil_board_name: str, hil_run_dir: Path) -> Iterator[BoardSession]:
    """Session, one per board: the BoardSession of the board under test, built (cached), flashed, started and
    answering HELLO with the right build id. Tests that take it are parametrized over every --hil-board."""
    config = request.config
    name = getattr(request, "param", None) or hil_board_name
    sessions = config.stash[SESSIONS_KEY]
    link_url = config.getoption("--hil-link")
    lg_place = options.lg_place(config)
    timeout = config.getoption("--hil-lease-timeout")
    lease: BoardLease | None = None
    rows = options.pool_rows(config, name) if link_url is None and lg_place is None else []
    board: Board
    if lg_place is not None:  # a labgrid place: acquired when the session opens, released when it closes
        from harness.boards.labgrid_place import LabgridPlaceBoard

        board = LabgridPlaceBoard(name, lg_place)
    elif link_url is not None:
        from harness.boards.remote import LinkBoard

        board = LinkBoard(name, link_url)
    elif rows:  # a pool: whichever row is free, for this session (with -n, each worker has its own)
        keys = [row_key(row) for row in rows]
        lease = lease_one_of(keys, run_id=hil_run_dir.name, timeout=timeout)
        board = get_board(rows[keys.index(lease.board)], lab=options.lab(config))
    else:
        board = get_board(name, lab=options.lab(config))  # a board kind, or a lab.toml row's bench board
    session = session_for(board, link_url=link_url, log_dir=run_folder.boards_dir(config), baud=options.baud(config))
    # a board only one run may drive (a bench row, a URL) is leased for the session: another run waits, then is
    # told who has it
    key = board.lease_key
    if lease is None and key is not None:
        lease = BoardLease(key, run_id=hil_run_dir.name, timeout=timeout).acquire()
    sessions[name] = session
    if session.baud is not None:
        runs.write_meta(hil_run_dir, link_baud=session.baud)
    try:
        if lg_place is not None:
            session.link_url = board.start()  # acquires the place; session.close() releases it
        session.open()
        yield session
    finally:
        session.close()
        sessions.pop(name, None)
        if lease is not None:
            lease.release()


@pytest.fixture
def hil_boards(
    request: pytest.FixtureRequest, hil_board_name: str, hil_run_dir: Path
) -> Iterator[Callable[[int], list[BoardSession]]]:
    """Per test: hil_boards(n) -> n more boards like the one under test, each a BoardSession with its own client
    (built, flashed, started, HELLO checked). A host or emulated kind starts n new instances; a lab.toml row takes n
    other rows of its pool (``pool = "..."``), leased as hil_session leases its own. Every one is closed, stopped
    and released when the test ends, pass or fail."""
    config = request.config
    taken: list[tuple[BoardSession, BoardLease | None]] = []

    def take(n: int) -> list[BoardSession]:
        if config.getoption("--hil-link") is not None or config.getoption("--hil-lg-place") is not None:
            pytest.skip("a --hil-link or --hil-lg-place board is one board: hil_boards has nothing to start")
        lab = options.lab(config)
        picked: list[tuple[Board, BoardLease | None]] = []
        under_test = hil_board_name
        if options.pool_rows(config, hil_board_name):  # --hil-pool: the row this session leased
            under_test = request.getfixturevalue("hil_session").board.name
        if lab is not None and under_test in lab.rows:
            row = lab.rows[under_test]
            mates = [r for r in lab.pool(row.pool) if r.name != row.name] if row.pool else []
            if len(mates) < n:
                pytest.skip(f"this test needs {n} more boards like {row.name}; its pool {row.pool or '(none)'!r} has "
                            f"{len(mates)} other rows (give interchangeable rows the same pool = \"...\" in "
                            f"{lab.path})")  # fmt: skip
            leases: dict[str, BoardLease] = {}
            for wait in (0.0, config.getoption("--hil-lease-timeout")):  # free rows first, then wait for the rest
                for mate in mates:
                    if len(leases) == n or mate.name in leases:
                        continue
                    with contextlib.suppress(BoardBusy) if wait == 0 else contextlib.nullcontext():
                        lease = BoardLease(row_key(mate.name), run_id=hil_run_dir.name, timeout=wait)
                        leases[mate.name] = lease.acquire()
            picked = [(get_board(name, lab=lab), lease) for name, lease in leases.items()]
        else:
            picked = [(get_board(hil_board_name), None) for _ in range(n)]
        out = []
        for i, (board, lease) in enumerate(picked):
            session = session_for(board, log_dir=run_folder.boards_dir(config) / f"{board.name}-more-{i + 1}",
                                  baud=options.baud(config))  # fmt: skip
            taken.append((session, lease))
            session.open()
            out.append(session)
        return out

    try:
        yield take
    finally:
        for session, lease in reversed(taken):
            try:
                session.close()
            finally:
                if lease is not None:
                    lease.release()


@pytest.fixture
def board(hil_session: BoardSession) -> Board:
    """Per test: the Board object under test (state off/flashed/running, facts(), reset(), alive())."""
    return hil_session.board


@pytest.fixture
def client(hil_session: BoardSession) -> Client:
    """Per test: the binary protocol Client on the board's open link (HELLO already answered, build id checked);
    client.infer(x) runs the deployed model."""
    return hil_session.open(hil_session.image)


@pytest.fixture
def link(hil_session: BoardSession) -> serial.SerialBase:
    """Per test: the open pyserial port to the board (socket://, pty, rfc2217:// or a /dev path), shared with
    ``client``."""
    hil_session.open(hil_session.image)
    return hil_session.port


@pytest.fixture
def deploy(hil_session: BoardSession) -> Callable[..., Deployment]:
    """Per test: deploy(model, where="auto"|"arena"|"flash") -> Deployment, the model on the device, ready to infer
    (dep.client.infer(x)). Any kind: LstmModel, dense.MlpModel, a model from harness.models.quant, or blob bytes."""
    return hil_session.deploy


@pytest.fixture
def validate_model(
    request: pytest.FixtureRequest, hil_session: BoardSession, record: Callable[..., None]
) -> Callable[..., ValidationResult]:
    """Per test: validate_model(path, dataset=NAME|CSV, windows=N) -> ValidationResult. Imports the model file
    (.onnx, .tflite, .keras, .pt), deploys it on the board under test, compares its framework, the numpy reference
    and the device on real windows, records the figures as rows; ``.check()`` fails the test with every figure and,
    when the device and the reference part, the first step, layer, gate and unit where they do (docs/validate.md)."""
    from harness.suites.validate import validate

    def _validate(path: str | Path, *, dataset: str, windows: int | None = None) -> ValidationResult:
        count = windows if windows is not None else options.windows(request.config)
        return validate(hil_session, Path(path), dataset=dataset, windows=count, record=record)

    return _validate


@pytest.fixture(scope="session")
def hil_windows(pytestconfig: pytest.Config) -> int:
    """Session: how many dataset windows a test streams (an int), from --hil-size (quick: CI; full: nightly)."""
    return options.windows(pytestconfig)


@pytest.fixture
def dataset(request: pytest.FixtureRequest):
    """Per test: the dataset named by ``request.param`` (indirect parametrization) or the Beijing weather data,
    loaded by its format's loader."""
    from harness import datasets

    return datasets.load_any(getattr(request, "param", "beijing_pm"))


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Per test: record(metric, value, unit, *, model="", dataset="", sample=None) writes one row of results.csv at
    once, then checks it against the board's budget (beyond its fail band the test fails; the row stays)."""
    writer = run_folder.writer(request.config)
    test = request.node.nodeid
    session: BoardSession | None = None
    if "hil_session" in request.fixturenames:
        session = request.getfixturevalue("hil_session")

    def _record(metric: str, value: float, unit: str, *, model: str = "", dataset: str = "",
                sample: int | None = None) -> None:  # fmt: skip
        if session is not None:
            writer.board = session.board.name
            writer.build_id = f"{session.hello.build_id:016x}" if session.hello else ""
            writer.toolchain = session.image.toolchain if session.image else ""
        writer.write(results.Record(test, model, dataset, metric, float(value), unit, sample))
        # after the write, so a measurement that fails its budget is still in the rows and the report
        budgets_name = session.board.budgets_name if session is not None else writer.board
        budgets.gate(request.config, board=budgets_name, test=test, model=model, metric=metric, value=value,
                     unit=unit, sample=sample)  # fmt: skip

    return _record


@pytest.fixture
def hil_budgets(request: pytest.FixtureRequest) -> BudgetBook | None:
    """Per test: the BudgetBook of the board under test (None when it has no baseline file)."""
    session = request.getfixturevalue("hil_session")
    return budgets.budget_book(request.config, session.board.budgets_name)


@pytest.fixture
def check_budget(request: pytest.FixtureRequest) -> Callable[..., Verdict | None]:
    """Per test: check_budget(metric, value, unit, *, model, test=None, sample=None), the gate `record` applies,
    without writing a row — for a test that measures a deliberately altered image and must not pollute the rows."""
    session = request.getfixturevalue("hil_session")

    def _check(metric: str, value: float, unit: str, *, model: str, test: str | None = None,
               sample: int | None = None) -> Verdict | None:  # fmt: skip
        return budgets.gate(request.config, board=session.board.budgets_name, test=test or request.node.nodeid,
                            model=model, metric=metric, value=value, unit=unit, sample=sample,
                            tally=False)  # fmt: skip

    return _check


@pytest.fixture(autouse=True)
def _hil_requires(request: pytest.FixtureRequest) -> None:
    """Per test, automatic: applies the ``hil_requires(*capabilities)`` marker, skipping the test unless the board's
    HELLO lists every capability."""
    marker = request.node.get_closest_marker("hil_requires")
    if marker is None:
        return
    session: BoardSession = request.getfixturevalue("hil_session")
    session.open(session.image)
    assert session.hello is not None
    missing = sorted(set(marker.args) - session.hello.capability_names)
    if missing:
        pytest.skip(
            f"board {session.board.name} lacks capabilities {missing} (has {sorted(session.hello.capability_names)})"
        )
