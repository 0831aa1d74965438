"""The terminal summary of a run folder: test outcomes with failure classes, budget verdicts, measured figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.reporting import baselines, history
from harness.reporting.junit import read_outcomes
from harness.reporting.results import RESULTS_FILE

OUTCOMES = ("passed", "failed", "error", "skipped")


def outcomes(run_dir: Path) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    found = read_outcomes(run_dir)
    if not found:
        return {}
    for o in found:
        counts[o.outcome] = counts.get(o.outcome, 0) + 1
    return counts


def _budget_lines(rows: pd.DataFrame, run_dir: Path, baselines_dir: Path | None) -> list[str]:
    boards = sorted(b for b in rows["board"].unique() if b)
    books = baselines.load_books(run_dir / "baselines", boards)  # the budgets that gated the run
    if baselines_dir is not None:
        for board, book in baselines.load_books(baselines_dir, boards).items():
            books.setdefault(board, book)
    checks = baselines.check_rows(rows, books, run_id=run_dir.name)
    if checks.empty:
        return []
    counts = checks["status"].value_counts()
    lines = ["budgets: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    for _, c in checks[checks["status"].isin(["fail", "marginal"])].iterrows():
        lines.append(f"  {c['status'].upper()}: {c['message']}")
    return lines


def format_run(run_dir: Path, *, baselines_dir: Path | None = None) -> str:
    lines = []
    counts = outcomes(run_dir)
    if counts:
        lines.append("tests: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    for o in read_outcomes(run_dir):
        if o.outcome in ("failed", "error"):
            retried = f" (attempt {o.attempts})" if o.attempts > 1 else ""
            lines.append(f"  [{o.failure_class or 'model'}] {o.nodeid}{retried}: {o.reason or o.message}")
    if not (run_dir / RESULTS_FILE).exists():
        lines.append("no measurements were recorded")
        return "\n".join(lines)
    df = history.read_run(run_dir)
    lines += _budget_lines(df, run_dir, baselines_dir)
    summary = df[df["sample"].isna()]
    if summary.empty:
        return "\n".join(lines)
    table = (
        summary.groupby(["board", "model", "metric", "unit"], dropna=False)["value"]
        .agg(["count", "min", "max"])
        .reset_index()
    )
    with pd.option_context("display.width", 160, "display.max_rows", 200, "display.float_format", "{:.6g}".format):
        lines.append(table.to_string(index=False))
    return "\n".join(lines)
