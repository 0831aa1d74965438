"""The plugin's pytest hooks, each in one place: options, the run folder, parametrizing tests by board, the frame
log and retries around every HIL test, failure classes, and the run's verdicts."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from harness.lifetime import forks_die_with_this_process
from harness.plugin import failures, markers, options, progress, retries, run_folder, workers
from harness.plugin.frame_log import frame_log
from harness.plugin.stash import BOOKS_KEY, EVIDENCE_KEY, FAILURES_KEY, RUN_DIR_KEY, VERDICTS_KEY


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)  # before pytest's junitxml plugin reads the path we give it
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hil_requires(*capabilities): skip unless the board's HELLO lists them all")
    for key, empty in ((BOOKS_KEY, {}), (VERDICTS_KEY, []), (FAILURES_KEY, {}), (EVIDENCE_KEY, {})):
        config.stash[key] = empty
    progress.install(config)
    options.lab(config)  # a broken lab.toml is a usage error naming its line, before anything is collected
    options.baud(config)  # and so is a rate that is not one
    options.lg_place(config)  # and a labgrid place without its coordinator
    run_folder.configure(config)  # an xdist worker takes the controller's folder
    os.environ[RUN_ID_ENV] = config.stash[RUN_DIR_KEY].name  # boards started by this run carry its id
    workers.install(config)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
        forks_die_with_this_process()  # a plugin's multiprocessing manager must not outlive a killed pytest
    config.pluginmanager.register(failures.RunVerdicts(config), "hil-verdicts")


RUN_ID_ENV = "HIL_RUN_ID"


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (CI cancelling a job, or the parent-death signal of a killed ``harness run``) stops the session as
    Ctrl-C does: fixtures are torn down, boards stopped, rows written so far kept."""
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def pytest_unconfigure(config: pytest.Config) -> None:
    run_folder.close(config)


def pytest_report_header(config: pytest.Config) -> str:
    return f"hil: boards {', '.join(options.board_names(config))}; run folder {config.stash.get(RUN_DIR_KEY, None)}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hil_board_name" in metafunc.fixturenames:
        metafunc.parametrize("hil_board_name", options.board_names(metafunc.config), scope="session")


@pytest.hookimpl(trylast=True)  # after -k / -m deselection: only the tests that will run decide
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markers.check_hil_requires(items)
    if RUN_DIR_KEY in config.stash:
        run_folder.settle(config, items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """A HIL test runs with its frame log open, and again after an infrastructure failure (--hil-retries)."""
    if "hil_session" not in getattr(item, "fixturenames", ()) or RUN_DIR_KEY not in item.config.stash:
        return None  # pytest's own protocol; failures are still classified
    with frame_log(run_folder.ensure(item.config), item.nodeid):
        retries.run_with_retries(item, nextitem, max(0, item.config.getoption("--hil-retries")))
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    failures.mark_evidence(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    failures.classify_report(item, call, outcome.get_result())
