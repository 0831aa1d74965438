"""Finishing a run folder after pytest is done: Parquet rows, the history, run.json, report.html and the report's
check in a browser. Kept apart from the pytest plugin so a run whose pytest process crashed is still finished."""

from __future__ import annotations

import json
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from harness.lifetime import process_alive, start_ticks
from harness.reporting import history, html_report
from harness.reporting.failure_classes import EXIT_MEANINGS
from harness.reporting.results import RESULTS_FILE, utc_now

log = logging.getLogger("harness.runs")

SCREENSHOT_FILE = "report.png"

__all__ = ["SCREENSHOT_FILE", "Finished", "NoRunError", "begin_run", "find_run", "finish_run", "latest_run",
           "recover_abandoned"]  # fmt: skip

# run.json "state": a run folder is "running" from begin_run until finish_run makes it "finished" or, for a run
# that was killed (its pytest by a signal, or the whole run: recover_abandoned), "incomplete".
RUNNING, FINISHED, INCOMPLETE = "running", "finished", "incomplete"


class NoRunError(FileNotFoundError):
    """There is no run folder with rows where one was looked for."""


@dataclass
class Finished:
    run_dir: Path
    report: Path | None = None
    history_file: Path | None = None
    screenshot: Path | None = None
    browser_problems: str = ""  # console errors or broken images the browser check found
    browser_skipped: str = ""  # why the browser check did not run


def latest_run(report_root: Path | str) -> Path:
    """The newest run folder with rows (run ids sort by start time)."""
    root = Path(report_root)
    runs = sorted(p for p in root.iterdir() if p.is_dir() and (p / RESULTS_FILE).is_file()) if root.is_dir() else []
    if not runs:
        raise NoRunError(f"no run folder with {RESULTS_FILE} under {root}; run `python -m harness run` first")
    return runs[-1]


def find_run(report_root: Path | str, run_id: str | None) -> Path:
    if run_id is None:
        return latest_run(report_root)
    run_dir = Path(report_root) / run_id
    if not (run_dir / RESULTS_FILE).is_file() and not (run_dir / history.PARQUET_FILE).is_file():
        raise NoRunError(f"{run_dir} holds no rows ({RESULTS_FILE}); is {run_id!r} a run id under {report_root}?")
    return run_dir


def write_meta(run_dir: Path, **facts: object) -> None:
    path = run_dir / html_report.RUN_META_FILE
    meta = json.loads(path.read_text()) if path.is_file() else {}
    meta.update({k: v for k, v in facts.items() if v is not None})
    path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def begin_run(run_dir: Path, *, command: str | None = None, size: str | None = None) -> None:
    """run.json of a run that starts now: who runs it (host, pid and that process's start time), so a later run can
    tell that it was killed and finish its folder (recover_abandoned)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_meta(run_dir, started=utc_now(), state=RUNNING, host=platform.node(), owner_pid=os.getpid(),
               owner_start=start_ticks(os.getpid()), command=command, size=size)  # fmt: skip


def recover_abandoned(report_root: Path, *, baselines_dir: Path | None = None) -> list[Path]:
    """Finish the folders of runs on this host that were killed before they finished (run.json still says
    running, and its owner process is gone): the rows they wrote become a history entry marked incomplete, and
    their report is built. Runs of other hosts, and runs still going, are left alone."""
    recovered = []
    root = Path(report_root)
    for meta_path in sorted(root.glob(f"*/{html_report.RUN_META_FILE}")) if root.is_dir() else []:
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("state") != RUNNING or meta.get("host") != platform.node():
            continue
        if process_alive(int(meta.get("owner_pid", 0)), meta.get("owner_start")):
            continue
        why = f"the run's process (pid {meta.get('owner_pid')}) was killed before it finished"
        finish_run(meta_path.parent, root, incomplete=why, baselines_dir=baselines_dir, browser=False)
        recovered.append(meta_path.parent)
    return recovered


def finish_run(
    run_dir: Path,
    report_root: Path,
    *,
    exit_status: int | None = None,
    command: str | None = None,
    size: str | None = None,
    baselines_dir: Path | None = None,
    browser: bool = True,
    incomplete: str | None = None,
) -> Finished:
    """Parquet, history, run.json, report.html (and its screenshot) for a run whose pytest has ended.
    ``incomplete`` says why the run did not finish (killed): its rows go to the history marked incomplete."""
    done = Finished(run_dir)
    write_meta(
        run_dir,
        finished=utc_now(),
        state=INCOMPLETE if incomplete else FINISHED,
        incomplete=incomplete,
        exit_status=exit_status,
        exit_meaning=EXIT_MEANINGS.get(exit_status, f"pytest exit status {exit_status}")
        if exit_status is not None
        else None,
        command=command,
        size=size,
        host=platform.node(),
    )
    if not (run_dir / RESULTS_FILE).is_file():
        return done  # nothing was measured: no rows to convert, append or plot
    history.write_parquet(run_dir, complete=not incomplete)
    done.history_file = history.append(run_dir, report_root, complete=not incomplete)
    done.report = html_report.build_report(run_dir, baselines_dir=baselines_dir, report_root=report_root)
    if browser:
        check_in_browser(done)
    return done


def check_in_browser(done: Finished) -> None:
    """Open the report in headless Chromium, keep a screenshot beside it, note any console error or broken image."""
    from harness.reporting import browser

    assert done.report is not None
    try:
        page = browser.check_page(done.report, done.run_dir / SCREENSHOT_FILE)
    except browser.BrowserMissing as exc:
        done.browser_skipped = str(exc)
        return
    except browser.BrowserError as exc:
        done.browser_problems = f"the browser check did not finish: {exc}"
        return
    done.screenshot = page.screenshot
    if not page.ok:
        done.browser_problems = page.problems()
