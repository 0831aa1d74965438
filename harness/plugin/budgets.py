"""Budgets gated at record time: ``record`` calls :func:`gate` for every row. A measurement beyond its budget's fail
band raises :class:`~harness.reporting.baselines.BudgetExceeded` (the test fails); one in the marginal band warns."""

from __future__ import annotations

import shutil
import warnings

import pytest

from harness.plugin import options, run_folder
from harness.plugin.progress import progress
from harness.plugin.stash import BOOKS_KEY, RUN_DIR_KEY, VERDICTS_KEY
from harness.reporting import baselines
from harness.reporting.baselines import BudgetBook, BudgetExceeded, BudgetMarginal, BudgetStatus, Verdict


def budget_book(config: pytest.Config, board: str) -> BudgetBook | None:
    """The budgets of ``board`` (None: it has none). Loaded once per run and copied into the run folder, so the
    report rebuilt later shows the budgets that gated this run, not whatever the baseline is by then."""
    books = config.stash[BOOKS_KEY]
    if board not in books:
        directory = options.baselines_dir(config)
        book = BudgetBook.for_board(directory, board) if directory and board else None
        if book is not None and book.path is not None:
            snapshot = run_folder.ensure(config) / "baselines"
            snapshot.mkdir(exist_ok=True)
            shutil.copyfile(book.path, snapshot / book.path.name)
        books[board] = book
    return books[board]


def gate(
    config: pytest.Config, *, board: str, test: str, model: str, metric: str, value: float, unit: str,
    sample: int | None = None, tally: bool = True,
) -> Verdict | None:  # fmt: skip
    """Check one measurement against its budget: raise BudgetExceeded beyond the fail band, warn when marginal.
    ``tally=False`` keeps the verdict out of the run's budget summary (a deliberately altered image's figure)."""
    book = budget_book(config, board)
    budget = book.lookup(test, model, metric) if book else None
    if budget is None:
        return None
    verdict = budget.check(float(value), sample=sample, run_id=config.stash[RUN_DIR_KEY].name)
    if tally:
        config.stash[VERDICTS_KEY].append(verdict)
    if tally and verdict.status is not BudgetStatus.PASS:
        progress.info("budget %s: %s", verdict.status.value, verdict.message)
    elif tally and sample is None:  # a pass is one short line; the whole budget is in the report
        progress.info("budget pass: %s %s %s = %s", board, model, metric, baselines.fmt(float(value), unit))
    if verdict.status is BudgetStatus.FAIL:
        raise BudgetExceeded(verdict.message)
    if verdict.status is BudgetStatus.MARGINAL:
        warnings.warn(BudgetMarginal(verdict.message), stacklevel=3)
    return verdict
