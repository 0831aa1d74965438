"""pytest plugin: --hil-* options, the board/link/client/dataset/record/deploy fixtures, hil_requires.

Our names never reuse pytest-embedded's (`--port`, `--target`, `dut`, `serial`, `app`), so both plugins load
side by side and a test may use pytest-embedded's `dut` on one of our boards.
Value precedence: `request.param` > command line > default.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import results, verdicts
from harness.boards import board_kinds, get_board
from harness.build import REPO_ROOT
from harness.proto.client import Client
from harness.session import BoardSession, Deployment, session_for

# Budgets gated at record time, failure classes, retries, exit status, live progress: harness/verdicts.py
pytest_plugins = ["harness.verdicts"]

DEFAULT_BOARD = "qemu-stm32f4"
WINDOWS_BY_SIZE = {"quick": 6, "full": 48}
RUN_DIR_KEY = pytest.StashKey[Path]()
WRITER_KEY = pytest.StashKey[results.ResultsWriter]()
SESSIONS_KEY = pytest.StashKey[dict[str, BoardSession]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware-in-the-loop harness")
    group.addoption(
        "--hil-board",
        action="append",
        default=None,
        metavar="NAME",
        help=f"board to run tests/hil on; repeat for several (default {DEFAULT_BOARD}; list: python -m harness boards)",
    )
    group.addoption(
        "--hil-link",
        default=None,
        metavar="URL",
        help="talk to an already running board at this pyserial URL (socket://, rfc2217://, /dev/...) instead of "
        "building and starting one; --hil-board then only names it",
    )
    group.addoption(
        "--hil-report-dir",
        default=None,
        metavar="DIR",
        help="root of run folders (default reports/); each run writes DIR/<run_id>/results.csv and junit.xml",
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


def _board_names(config: pytest.Config) -> list[str]:
    names = config.getoption("--hil-board") or [os.environ.get("HIL_BOARD", DEFAULT_BOARD)]
    out: list[str] = []
    for entry in names:
        out += [n.strip() for n in entry.split(",") if n.strip()]
    if config.getoption("--hil-link") is None:
        known = board_kinds()
        unknown = [n for n in out if n not in known]
        if unknown:
            raise pytest.UsageError(f"unknown --hil-board {unknown}; known boards: {', '.join(known)}")
    return out


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hil_requires(*capabilities): skip unless the board's HELLO lists them all")
    if hasattr(config, "workerinput"):
        return  # xdist workers write through the controller's folder; keep one run folder per run
    root = Path(config.getoption("--hil-report-dir") or REPO_ROOT / "reports")
    run_id = config.getoption("--hil-run-id") or results.new_run_id()
    run_dir = root / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    config.stash[RUN_DIR_KEY] = run_dir
    config.stash[SESSIONS_KEY] = {}
    if not config.option.xmlpath:  # junit.xml beside the rows unless the user chose a path
        config.option.xmlpath = str(run_dir / "junit.xml")


def pytest_unconfigure(config: pytest.Config) -> None:
    for session in config.stash.get(SESSIONS_KEY, {}).values():
        session.close()
    writer = config.stash.get(WRITER_KEY, None)
    if writer is not None:
        writer.close()


def pytest_report_header(config: pytest.Config) -> str:
    run_dir = config.stash.get(RUN_DIR_KEY, None)
    return f"hil: boards {', '.join(_board_names(config))}; run folder {run_dir}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hil_board_name" in metafunc.fixturenames:
        metafunc.parametrize("hil_board_name", _board_names(metafunc.config), scope="session")


# ---- per-test frame logs ------------------------------------------------------------------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    run_dir = item.config.stash.get(RUN_DIR_KEY, None)
    if run_dir is None or "hil_session" not in getattr(item, "fixturenames", ()):
        yield
        return
    log_dir = run_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    handler = logging.FileHandler(log_dir / (re.sub(r"[^\w.\-\[\]]+", "_", item.nodeid) + ".log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger("harness")
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        handler.close()


# ---- fixtures -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def hil_run_dir(pytestconfig: pytest.Config) -> Path:
    return pytestconfig.stash[RUN_DIR_KEY]


@pytest.fixture(scope="session")
def hil_session(request: pytest.FixtureRequest, hil_board_name: str, hil_run_dir: Path) -> Iterator[BoardSession]:
    """The board under test, built (cached), flashed, started and answering HELLO with the right build id."""
    config = request.config
    name = getattr(request, "param", None) or hil_board_name
    sessions = config.stash[SESSIONS_KEY]
    link_url = config.getoption("--hil-link")
    if link_url is not None:
        from harness.boards.remote import LinkBoard

        board = LinkBoard(name, link_url)
    else:
        board = get_board(name)
    session = session_for(board, link_url=link_url, log_dir=hil_run_dir / "boards")
    sessions[name] = session
    try:
        session.open()
        yield session
    finally:
        session.close()
        sessions.pop(name, None)


@pytest.fixture
def board(hil_session: BoardSession):
    return hil_session.board


@pytest.fixture
def client(hil_session: BoardSession) -> Client:
    return hil_session.open(hil_session.image)


@pytest.fixture
def link(hil_session: BoardSession):
    hil_session.open(hil_session.image)
    return hil_session.port


@pytest.fixture
def deploy(hil_session: BoardSession) -> Callable[..., Deployment]:
    """deploy(model, where="auto"|"arena"|"flash") -> Deployment: the model on the device, ready to infer. Any kind:
    LstmModel, dense.MlpModel, a quantized model from harness.models.quant, or blob bytes."""
    return hil_session.deploy


@pytest.fixture(scope="session")
def hil_windows(pytestconfig: pytest.Config) -> int:
    """How many dataset windows a test streams, from --hil-size."""
    return WINDOWS_BY_SIZE[pytestconfig.getoption("--hil-size")]


@pytest.fixture
def dataset(request: pytest.FixtureRequest):
    """The dataset named by `request.param` (indirect parametrization) or the Beijing weather data."""
    from harness import datasets

    return datasets.load_any(getattr(request, "param", "beijing_pm"))


def _writer(config: pytest.Config) -> results.ResultsWriter:
    writer = config.stash.get(WRITER_KEY, None)
    if writer is None:
        info = results.RunInfo.start(REPO_ROOT)
        info = results.RunInfo(config.stash[RUN_DIR_KEY].name, info.started, info.git_sha)
        writer = results.ResultsWriter(config.stash[RUN_DIR_KEY], info)
        config.stash[WRITER_KEY] = writer
    return writer


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[..., None]:
    """record(metric, value, unit, *, model="", dataset="", sample=None): one result row, written at once."""
    writer = _writer(request.config)
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
        verdicts.gate(request.config, board=writer.board, test=test, model=model, metric=metric, value=value,
                      unit=unit, sample=sample)  # fmt: skip

    return _record


@pytest.fixture(autouse=True)
def _hil_requires(request: pytest.FixtureRequest) -> None:
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
