"""``--hil-retries N``: a test on a board that failed for an infrastructure reason (flash, link, board) is run
again up to N times with the board restarted (its session closed; the next fixture that needs it starts it
again); model failures never are."""

from __future__ import annotations

import pytest
from _pytest.runner import runtestprotocol

from harness.plugin.progress import progress
from harness.plugin.stash import SESSIONS_KEY
from harness.reporting import failure_classes
from harness.reporting.failure_classes import PROPERTY_ATTEMPTS, PROPERTY_CLASS, PROPERTY_REASON, PROPERTY_RETRIED


def _restart_boards(config: pytest.Config) -> None:
    for session in list(config.stash.get(SESSIONS_KEY, {}).values()):
        session.close()  # the next fixture that needs the board starts it again: a fresh process, a new link


def _forget_failed_fixtures(item: pytest.Item) -> None:
    """pytest keeps a fixture's setup error for the rest of its scope; a retry must run the fixture again."""
    for defs in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values():
        for fixturedef in defs:
            cached = getattr(fixturedef, "cached_result", None)
            if cached is not None and cached[2] is not None:
                # its finalizers go too (after a failed setup only pytest's post-finalizer hook is there): kept,
                # they made pytest's next setup of the fixture fail its own assertion instead of the board's error
                getattr(fixturedef, "_finalizers", []).clear()
                fixturedef.cached_result = None


def run_with_retries(item: pytest.Item, nextitem: pytest.Item | None, retries: int) -> None:
    """pytest's run protocol for one item, repeated after a retryable failure; reports only the last attempt."""
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    attempt = 1
    retried_after: list[str] = []
    while True:
        item._hil_failure = None  # type: ignore[attr-defined]
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        found: failure_classes.Classification | None = item._hil_failure  # type: ignore[attr-defined]
        if found is None or not found.failure_class.retryable or attempt > retries:
            break
        progress.warning("retry %d/%d of %s after a %s", attempt, retries, item.nodeid, found)
        retried_after.append(str(found))
        item.user_properties[:] = [p for p in item.user_properties if p[0] not in (PROPERTY_CLASS, PROPERTY_REASON)]
        _restart_boards(item.config)
        _forget_failed_fixtures(item)
        attempt += 1
    if attempt > 1:
        for report in reports:
            report.user_properties += [(PROPERTY_ATTEMPTS, attempt), (PROPERTY_RETRIED, " | ".join(retried_after))]
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
