"""A run's folder, ``<report dir>/<run_id>/``: rows, junit.xml, per-test frame logs and board logs.

Its path is fixed when pytest starts; the folder itself is made by the first test that needs it (a board session,
a recorded row). A run with no such test (unit or kernel tests) leaves nothing under reports/: the junit.xml we
pointed there is removed at the end, after pytest and pytest-embedded (which rewrites it) are done with it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from harness.defaults import DEFAULT_REPORTS, REPO_ROOT
from harness.plugin import workers
from harness.plugin.stash import OWN_JUNIT_KEY, RUN_DIR_KEY, SESSIONS_KEY, USED_KEY, WRITER_KEY
from harness.reporting import results

# A test that asks for any of these writes into the run folder.
FIXTURES_THAT_WRITE = frozenset({"hil_session", "record", "hil_run_dir"})


def configure(config: pytest.Config) -> None:
    """Fix the run folder's path; point junit.xml into it unless the user chose a path (--junitxml). An xdist
    worker takes the controller's folder (harness.plugin.workers); the controller writes junit.xml."""
    config.stash[SESSIONS_KEY] = {}
    shared = workers.worker_run_dir(config)
    if shared is not None:
        config.stash[RUN_DIR_KEY] = shared
        config.stash[OWN_JUNIT_KEY] = False
        return
    root = Path(config.getoption("--hil-report-dir") or DEFAULT_REPORTS)
    run_id = config.getoption("--hil-run-id") or results.new_run_id()
    config.stash[RUN_DIR_KEY] = root / run_id
    config.stash[OWN_JUNIT_KEY] = not config.option.xmlpath
    if config.stash[OWN_JUNIT_KEY]:
        config.option.xmlpath = str(root / run_id / "junit.xml")


def writes(item: pytest.Item) -> bool:
    return not FIXTURES_THAT_WRITE.isdisjoint(getattr(item, "fixturenames", ()))


def settle(config: pytest.Config, items: list[pytest.Item]) -> None:
    """After collection and deselection: make the folder when a selected test writes into it (and will run:
    ``--collect-only`` runs nothing, so it leaves nothing)."""
    if not config.option.collectonly and any(writes(item) for item in items):
        ensure(config)


def ensure(config: pytest.Config) -> Path:
    """The run folder, made if it is not there yet."""
    run_dir = config.stash[RUN_DIR_KEY]
    run_dir.mkdir(parents=True, exist_ok=True)
    config.stash[USED_KEY] = True
    return run_dir


def boards_dir(config: pytest.Config) -> Path:
    """Where this process's boards write their logs: ``boards/``, or ``boards/<worker>/`` in an xdist worker, so two
    workers' boards of one kind never share a log (a failure reads only its own board's)."""
    worker = getattr(config, "workerinput", {}).get("workerid")
    base = config.stash[RUN_DIR_KEY] / "boards"
    return base / worker if worker else base


def existing(config: pytest.Config) -> Path | None:
    """The run folder if this run has made it, else None."""
    run_dir = config.stash.get(RUN_DIR_KEY, None)
    return run_dir if run_dir is not None and run_dir.is_dir() else None


def writer(config: pytest.Config) -> results.ResultsWriter:
    """The run's row writer, opened on first use (the rows file appears with the first row)."""
    found = config.stash.get(WRITER_KEY, None)
    if found is None:
        run_dir = ensure(config)
        info = results.RunInfo.start(REPO_ROOT)
        found = results.ResultsWriter(run_dir, results.RunInfo(run_dir.name, info.started, info.git_sha))
        config.stash[WRITER_KEY] = found
    return found


def _used(config: pytest.Config, run_dir: Path) -> bool:
    """This run wrote into its folder: here, or in xdist workers (the controller runs no test itself)."""
    if config.stash.get(USED_KEY, False):
        return True
    return run_dir.is_dir() and any(p.name != "junit.xml" for p in run_dir.iterdir())


def close(config: pytest.Config) -> None:
    for session in config.stash.get(SESSIONS_KEY, {}).values():
        session.close()
    found = config.stash.get(WRITER_KEY, None)
    if found is not None:
        found.close()
    run_dir = config.stash.get(RUN_DIR_KEY, None)
    if run_dir is not None and config.stash.get(OWN_JUNIT_KEY, False) and not _used(config, run_dir):
        (run_dir / "junit.xml").unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: something else wrote there; keep it
            run_dir.rmdir()
