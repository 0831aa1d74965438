"""Parallel runs with pytest-xdist (``-n N``): every worker writes into the controller's run folder, and the budget
verdicts each worker gated come back to the controller for the run's summary.

The controller fixes the run folder (run_folder.configure) and hands its path to each worker; a worker opens the
same ``results.csv`` for appending (results.ResultsWriter appends each row in one write, so rows of different
workers never interleave) and writes its board logs and frame logs beside the others'. Failure classes already
cross on the test reports (failures.classify_report). What a worker's boards are: a host or emulated kind is
started by each worker for itself; a ``--hil-pool`` of bench rows gives each worker a different row, leased
(harness.lease) for the worker's session.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from harness.plugin.stash import RUN_DIR_KEY, VERDICTS_KEY
from harness.reporting.baselines import Budget, BudgetStatus, Verdict

WORKER_RUN_DIR = "hil_run_dir"
WORKER_VERDICTS = "hil_verdicts"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def worker_run_dir(config: pytest.Config) -> Path | None:
    """The run folder the controller chose, in a worker (None in the controller or a run without xdist)."""
    value = getattr(config, "workerinput", {}).get(WORKER_RUN_DIR)
    return Path(value) if value else None


def _verdict_to_plain(v: Verdict) -> dict:
    return {"status": v.status.value, "budget": dataclasses.asdict(v.budget), "value": v.value, "message": v.message}


def _verdict_from_plain(d: dict) -> Verdict:
    return Verdict(BudgetStatus(d["status"]), Budget(**d["budget"]), float(d["value"]), d["message"])


class XdistHooks:
    """Registered only when pytest-xdist is active: its hooks are unknown to pytest otherwise."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:  # xdist's WorkerController
        node.workerinput[WORKER_RUN_DIR] = str(self.config.stash[RUN_DIR_KEY])

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        plain = getattr(node, "workeroutput", {}).get(WORKER_VERDICTS, [])
        self.config.stash[VERDICTS_KEY].extend(_verdict_from_plain(d) for d in plain)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if is_worker(self.config):
            self.config.workeroutput[WORKER_VERDICTS] = [  # type: ignore[attr-defined]
                _verdict_to_plain(v) for v in self.config.stash[VERDICTS_KEY]
            ]


def install(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(config), "hil-xdist")
