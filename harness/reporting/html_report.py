"""report.html of a run: one self-contained file (plots inlined as base64 PNG) built from the run's rows.

Everything in it comes from the run folder (rows, junit.xml, the budgets that gated the run, run.json) and the
history under the report root, so ``python -m harness report <run_id>`` rebuilds any run's report. Sections are
registered with :func:`section` and each decides from the rows whether it has anything to show, so a new kind of
row (a training curve, anomaly scores) shows up when a test records it, without a change here. Metric naming
conventions the sections read: ``<x>_device`` / ``<x>_reference`` pairs, ``latency_<unit>``, ``*_high_water``
with ``ram_budget``, ``*err*per_step``, ``*loss*`` per step, ``anomaly_score`` / ``anomaly_threshold`` /
``anomaly_label``; per-sample series nobody claims land in "Other series".
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: the report is drawn off screen, on a CI runner too

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, FuncFormatter

from harness.reporting import baselines, history
from harness.reporting.baselines import BudgetBook
from harness.reporting.junit import TestOutcome, read_outcomes

__all__ = ["REPORT_FILE", "RUN_META_FILE", "RunData", "build_report", "load_run", "section"]

REPORT_FILE = "report.html"
RUN_META_FILE = "run.json"
PROJECT_TESTS = "tests/"  # node ids of the repository's own tests start so (pytest runs from the repository)
TREND_RUNS = 20  # how many runs back a trend reaches: about three weeks of nightlies
STATUS_COLOURS = {"pass": "#2e7d32", "marginal": "#e6a700", "fail": "#c62828", "not measured": "#757575"}
BOARD_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
CLASS_COLOURS = {
    "model": "#c62828", "build": "#6a1b9a", "flash": "#ad1457", "link": "#ef6c00", "board": "#5d4037",
    "data": "#00838f",
}  # fmt: skip


# ---- the data of one run -------------------------------------------------------------------------------------
@dataclass
class RunData:
    run_dir: Path
    rows: pd.DataFrame
    outcomes: list[TestOutcome]
    books: dict[str, BudgetBook]
    checks: pd.DataFrame  # baselines.check_rows
    history: pd.DataFrame  # rows of this and earlier runs
    meta: dict
    used: set[str] = field(default_factory=set)  # metrics a section has shown, so "Other series" skips them
    project_models: frozenset[str] = frozenset()  # models the project's committed baselines know

    def is_project_model(self, model: str) -> bool:
        """A model of the project: named in its committed baselines, or measured by a test of the repository's
        tests/ folder. Anything else came from the user's own test files."""
        if model in self.project_models:
            return True
        tests = self.rows.loc[self.rows["model"] == model, "test"]
        return any(_is_project_test(t) for t in set(tests))

    @functools.cached_property
    def models(self) -> list[str]:
        """The models this run measured: the user's own first, then the project's, each group by name. Decided once:
        the tables sort every row by it."""
        names = {m for m in self.rows["model"].unique() if m}
        return sorted(names, key=lambda m: (self.is_project_model(m), m))

    @functools.cached_property
    def _model_ranks(self) -> dict[str, int]:
        return {m: i for i, m in enumerate(self.models)}

    def model_rank(self, model: str) -> int:
        return self._model_ranks.get(model, len(self.models))

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def samples(self) -> pd.DataFrame:
        return self.rows[self.rows["sample"].notna()]

    @property
    def summary(self) -> pd.DataFrame:
        return self.rows[self.rows["sample"].isna()]

    @property
    def boards(self) -> list[str]:
        return sorted(b for b in self.rows["board"].unique() if b)

    def board_colour(self, board: str) -> str:
        names = self.boards
        return BOARD_COLOURS[names.index(board) % len(BOARD_COLOURS)] if board in names else "#444444"


def _books_for(run_dir: Path, boards: list[str], baselines_dir: Path | None) -> dict[str, BudgetBook]:
    """The budgets that gated the run (its snapshot), else the current ones."""
    books = baselines.load_books(run_dir / "baselines", boards)
    if baselines_dir is not None:
        for board, book in baselines.load_books(baselines_dir, boards).items():
            books.setdefault(board, book)
    return books


def _project_models() -> frozenset[str]:
    """Every model named in the project's committed baselines (reports/baselines/*.toml)."""
    from harness.defaults import DEFAULT_BASELINES

    boards = [p.stem for p in DEFAULT_BASELINES.glob("*.toml")]
    books = baselines.load_books(DEFAULT_BASELINES, boards)
    return frozenset(b.model for book in books.values() for b in book.budgets)


def load_run(run_dir: Path | str, *, baselines_dir: Path | None = None, report_root: Path | None = None) -> RunData:
    run_dir = Path(run_dir)
    rows = history.read_run(run_dir)
    boards = sorted(b for b in rows["board"].unique() if b)
    books = _books_for(run_dir, boards, baselines_dir)
    past = history.read_history(report_root or run_dir.parent)
    past = past[past["run_id"] <= run_dir.name]  # a rebuilt old report shows the trend as it stood then
    hist = pd.concat([past[past["run_id"] != run_dir.name], rows], ignore_index=True)
    meta_path = run_dir / RUN_META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return RunData(
        run_dir=run_dir,
        rows=rows,
        outcomes=read_outcomes(run_dir),
        books=books,
        checks=baselines.check_rows(rows, books, run_id=run_dir.name),
        history=hist,
        meta=meta,
        project_models=_project_models(),
    )


def _is_project_test(nodeid: str) -> bool:
    """A node id of the repository's own tests: ``tests/...`` naming a file that this checkout has (a user's folder
    of their own may be called tests/ too)."""
    from harness.defaults import REPO_ROOT

    path = nodeid.split("::", 1)[0]
    return path.startswith(PROJECT_TESTS) and (REPO_ROOT / path).is_file()


# ---- drawing helpers -----------------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    fig.set_facecolor("white")
    return fig


def _png(fig: Figure, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _style(ax, *, title: str = "", xlabel: str = "", ylabel: str = "") -> None:
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(xlabel, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _si(value: float, unit: str) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n")):
        if abs(value) >= scale or scale == 1e-9:
            return f"{value / scale:.3g} {prefix}{unit}".strip()
    return f"{value:.3g}"


def _fmt(value: float, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit in ("B", "instructions", "cycles", "ns") or (float(value).is_integer() and abs(value) >= 1000):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _esc(text: object) -> str:
    return html.escape(str(text))


def _table(headers: list[str], rows: list[list[str]], *, cls: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _badge(status: str, colours: dict[str, str] = STATUS_COLOURS) -> str:
    colour = colours.get(status, "#757575")
    return f'<span class="badge" style="background:{colour}">{_esc(status)}</span>'


def _short_test(nodeid: str) -> str:
    return baselines.test_key(nodeid) if nodeid else ""


# ---- sections ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    render: Callable[[RunData], str | None]  # None: nothing to show for this run


SECTIONS: list[Section] = []


def section(anchor: str, title: str) -> Callable[[Callable[[RunData], str | None]], Callable[[RunData], str | None]]:
    """Register a report section; sections appear in the order they are defined."""

    def register(fn: Callable[[RunData], str | None]) -> Callable[[RunData], str | None]:
        SECTIONS.append(Section(anchor, title, fn))
        return fn

    return register


@section("run", "Run")
def _run_section(data: RunData) -> str:
    rows = data.rows
    counts: dict[str, int] = {}
    for o in data.outcomes:
        counts[o.outcome] = counts.get(o.outcome, 0) + 1
    items = [
        ("run id", data.run_id),
        ("started", str(rows["time"].min()) if len(rows) else data.meta.get("started", "-")),
        ("finished", str(rows["time"].max()) if len(rows) else "-"),
        ("git", ", ".join(sorted(set(rows["git_sha"]))) or "-"),
        ("tests", ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no junit.xml"),
    ]
    if "exit_status" in data.meta:
        items.append(("exit status", f"{data.meta['exit_status']} — {data.meta.get('exit_meaning', '')}"))
    if data.meta.get("incomplete"):
        items.append(("INCOMPLETE", f"{data.meta['incomplete']}; these are the rows it wrote until then"))
    if data.meta.get("link_baud"):
        items.append(("link", f"emulated boards' links paced at {data.meta['link_baud']} baud, 8N1 (--hil-baud)"))
    for key in ("command", "size", "host"):
        if key in data.meta:
            items.append((key, str(data.meta[key])))
    meta = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in items)
    per_board = []
    for board in data.boards:
        b = rows[rows["board"] == board]
        build_ids = ", ".join(sorted(x for x in set(b["build_id"]) if x)) or "-"
        toolchains = "<br>".join(_esc(x) for x in sorted(set(b["toolchain"])) if x) or "-"
        per_board.append([_esc(board), f"<code>{_esc(build_ids)}</code>", toolchains, f"{len(b):,}"])
    boards = _table(["board", "firmware build id", "toolchain", "rows"], per_board) if per_board else ""
    return f'<table class="meta">{meta}</table>{boards}'


@section("models", "Models in this run")
def _models_section(data: RunData) -> str | None:
    """Each model the run measured, the user's own first: where it ran, how many figures, and its budget verdicts."""
    if not data.models:
        return None
    lines = []
    for model in data.models:
        rows = data.rows[data.rows["model"] == model]
        checks = data.checks[(data.checks["model"] == model) & (data.checks["status"] != "not measured")]
        verdicts = ", ".join(f"{n} {s}" for s, n in checks["status"].value_counts().items()) or "no budgets"
        origin = "project" if data.is_project_model(model) else "<b>yours</b> (your test files)"
        tests = sorted({_short_test(t) for t in rows["test"] if t})
        lines.append([f"<code>{_esc(model)}</code>", origin, _esc(", ".join(sorted(set(rows["board"])))),
                      f"{len(rows):,}", verdicts, "<small>" + "<br>".join(_esc(t) for t in tests[:4])
                      + (f"<br>and {len(tests) - 4} more" if len(tests) > 4 else "") + "</small>"])  # fmt: skip
    return _table(["model", "from", "boards", "rows", "budgets", "tests"], lines)


@section("tests", "Tests")
def _tests_section(data: RunData) -> str | None:
    if not data.outcomes:
        return None
    logs = {p.name: p for p in (data.run_dir / "logs").glob("*.log")} if (data.run_dir / "logs").is_dir() else {}
    order = {"failed": 0, "error": 1, "skipped": 3, "passed": 2}
    lines = []
    for o in sorted(data.outcomes, key=lambda o: (order.get(o.outcome, 4), o.nodeid)):
        log_name = re.sub(r"[^\w.\-\[\]]+", "_", o.nodeid) + ".log"
        link = f' <a href="logs/{_esc(log_name)}">log</a>' if log_name in logs else ""
        outcome_colour = {"passed": "pass", "failed": "fail", "error": "fail", "skipped": "not measured"}
        cls = _badge(o.failure_class, CLASS_COLOURS) if o.failure_class else ""
        detail = _esc(o.reason or o.message)
        if o.attempts > 1:
            detail += f"<br><em>attempt {o.attempts}; retried after {_esc(o.retried_after)}</em>"
        lines.append(
            [
                f"<code>{_esc(o.nodeid)}</code>{link}",
                _badge(o.outcome, {o.outcome: STATUS_COLOURS[outcome_colour.get(o.outcome, "not measured")]}),
                cls,
                f"{o.seconds:.2f} s",
                detail,
            ]
        )
    failing = [o for o in data.outcomes if o.outcome in ("failed", "error")]
    note = ""
    if failing:
        classes = sorted({o.failure_class or "model" for o in failing})
        note = f"<p>{len(failing)} failing, classes: {', '.join(classes)}.</p>"
    table = _table(["test", "outcome", "failure class", "time", "reason / message"], lines, cls="tests")
    shown = 12
    if len(lines) > shown and not failing:
        return f"{note}<details><summary>{len(lines)} tests, all passed or skipped</summary>{table}</details>"
    return note + table


@section("budgets", "Budgets")
def _budgets_section(data: RunData) -> str | None:
    if data.checks.empty:
        return "<p>No budgets for the boards of this run (reports/baselines/&lt;board&gt;.toml).</p>"

    def rows(checks: pd.DataFrame) -> list[list[str]]:
        lines = []
        for _, c in checks.iterrows():
            b = c["budget"]
            samples = f" (worst of {c['rows']})" if c["rows"] > 1 else ""
            lines.append(
                [
                    _esc(c["board"]),
                    _esc(c["model"]),
                    _esc(c["metric"]) + (f"<br><small>{_esc(c['test'])}</small>" if c["test"] else ""),
                    f"{_fmt(c['measured'], c['unit'])} {_esc(c['unit'])}{samples}",
                    _esc(b.describe()),
                    _badge(c["status"]),
                ]
            )
        return lines

    headers = ["board", "model", "metric", "measured", "budget", "status"]
    counts = data.checks["status"].value_counts().to_dict()
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    # What this run measured comes first; the budgets it did not touch (a run of a few tests, of the user's own
    # models) are folded away under one line rather than filling the table.
    unmeasured = data.checks["status"] == "not measured"
    html = f"<p>{summary}.</p>"
    if (~unmeasured).any():
        measured = data.checks[~unmeasured]
        measured = measured.iloc[sorted(range(len(measured)), key=lambda i: data.model_rank(measured.iloc[i]["model"]))]
        html += _table(headers, rows(measured))
    if unmeasured.any():
        n = int(unmeasured.sum())
        html += (
            f"<details><summary>{n} budget{'s' if n != 1 else ''} this run did not measure</summary>"
            + _table(headers, rows(data.checks[unmeasured]))
            + "</details>"
        )
    return html


def _per_run(hist: pd.DataFrame, budget: baselines.Budget) -> pd.Series:
    """One value per run for a budget: the summary row where there is one, else the median of the samples."""
    sel = hist[(hist["board"] == budget.board) & (hist["model"] == budget.model) & (hist["metric"] == budget.metric)]
    if budget.test:
        sel = sel[sel["test"].map(baselines.test_key) == budget.test]
    if sel.empty:
        return pd.Series(dtype=float)
    summary = sel[sel["sample"].isna()]
    source = summary if not summary.empty else sel
    values = source.groupby("run_id")["value"]
    rule = baselines.rule_for(budget.metric, budget.unit)
    return (values.max() if rule and rule.aggregate == "max" and summary.empty else values.median()).sort_index()


def _run_label(run_id: str) -> str:
    m = re.match(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})", run_id)
    return f"{m.group(2)}-{m.group(3)} {m.group(4)}:{m.group(5)}" if m else run_id[:12]


@section("trends", "Trends of budgeted metrics")
def _trends_section(data: RunData) -> str | None:
    if data.checks.empty:
        return None
    parts = []
    for board in sorted(data.checks["board"].unique()):
        budgets = [c["budget"] for _, c in data.checks[data.checks["board"] == board].iterrows()]
        series = [(b, _per_run(data.history, b)) for b in budgets]
        series = [(b, s.iloc[-TREND_RUNS:]) for b, s in series if not s.empty]
        if not series:
            continue
        runs = sorted({r for _, s in series for r in s.index})
        cols = 3
        nrows = math.ceil(len(series) / cols)
        fig = _figure(11, 2.5 * nrows + 0.4)
        axes = fig.subplots(nrows, cols, squeeze=False)
        for ax in axes.flat[len(series) :]:
            ax.set_visible(False)
        for ax, (b, s) in zip(axes.flat, series, strict=False):
            x = [runs.index(r) for r in s.index]
            lo, hi = b.pass_limits()
            flo, fhi = b.fail_limits()
            ax.axhspan(lo, hi, color=STATUS_COLOURS["pass"], alpha=0.12, lw=0)
            if math.isfinite(fhi):
                ax.axhline(fhi, color=STATUS_COLOURS["fail"], lw=1, ls="--")
            if math.isfinite(flo):
                ax.axhline(flo, color=STATUS_COLOURS["fail"], lw=1, ls="--")
            ax.axhline(b.expected, color="#555555", lw=0.8, ls=":")
            ax.plot(x, s.values, "-o", color=data.board_colour(board), ms=4, lw=1.2)
            if data.run_id in s.index:
                ax.plot([runs.index(data.run_id)], [s[data.run_id]], "o", ms=8, mfc="none", mec="black", mew=1.5)
            # the band around expected, not the fail lines, sets the scale unless the data go beyond it
            span = max(hi - lo, abs(b.expected) * 1e-3, 1e-12)
            data_lo, data_hi = float(np.nanmin(s.values)), float(np.nanmax(s.values))
            bottom = min(lo, data_lo) - span * 0.6
            if data_lo >= 0 > bottom:  # errors, bytes: nothing below zero to show
                bottom = 0.0
            ax.set_ylim(bottom, max(hi, data_hi) + span * 0.6)
            test = f" ({b.test.split('::')[-1]})" if b.test else ""
            _style(ax, title=f"{b.metric}\n{b.model}{test}", ylabel=b.unit if b.unit not in ("1", "") else "")
            ax.title.set_fontsize(9.5)
            if b.unit in ("B", "instructions", "cycles", "ns"):
                # a tight band around a large count needs every digit: 57,538,750 not 57.5 M
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
            limit = fhi if math.isfinite(fhi) else flo
            if math.isfinite(limit):
                side = ">" if math.isfinite(fhi) else "<"
                ax.text(0.02, 0.96, f"fail {side} {baselines.fmt(limit, b.unit)}", transform=ax.transAxes,
                        fontsize=8, va="top", color=STATUS_COLOURS["fail"])  # fmt: skip
            ax.set_xticks(range(len(runs)))
            step = max(1, math.ceil(len(runs) / 6))
            ax.set_xticklabels([_run_label(r) if i % step == 0 else "" for i, r in enumerate(runs)], fontsize=8)
            ax.set_xlim(-0.5, len(runs) - 0.5)
        fig.suptitle(
            f"{board}: last {len(runs)} run(s); green = pass band, red = fail limit (dashed when in view), "
            "ringed = this run",
            fontsize=11,
            x=0.01,
            ha="left",
        )
        parts.append(_png(fig, f"trends on {board}"))
        listed = ", ".join(_esc(r) for r in runs)
        parts.append(f"<p class='small'>Runs in these trends ({len(runs)}): {listed}</p>")
    return "".join(parts) or None


REFERENCE_SUFFIXES = ("_reference", "_ref")


def _reference_of(metric: str, metrics: set[str]) -> str | None:
    """The reference series recorded beside ``metric``: ``<x>_reference`` or ``<x>_ref`` (``<x>_device`` -> ``<x>``)."""
    base = metric.removesuffix("_device")
    return next((base + s for s in REFERENCE_SUFFIXES if base + s in metrics), None)


def _pairs(data: RunData) -> list[tuple[str, str, str]]:
    """(name, device metric, reference metric) for every ``<name>_device`` with a ``<name>_reference``."""
    metrics = set(data.samples["metric"])
    found = []
    for m in sorted(metrics):
        ref = _reference_of(m, metrics) if m.endswith("_device") else None
        if ref:
            found.append((m.removesuffix("_device"), m, ref))
    return found


@section("outputs", "Device output over reference output")
def _outputs_section(data: RunData) -> str | None:
    pairs = [p for p in _pairs(data) if "loss" not in p[0]]  # loss curves belong to training
    if not pairs:
        return None
    parts = []
    s = data.samples
    for name, dev_metric, ref_metric in pairs:
        data.used |= {dev_metric, ref_metric}
        sub = s[s["metric"].isin([dev_metric, ref_metric])]
        keys = sorted({(m, b) for m, b in zip(sub["model"], sub["board"], strict=True)})
        fig = _figure(11, 3.6)
        axes = fig.subplots(2, len(keys), squeeze=False, sharex="col", height_ratios=[2.2, 1])
        for col, (model, board) in enumerate(keys):
            part = sub[(sub["model"] == model) & (sub["board"] == board)]
            dev = part[part["metric"] == dev_metric].set_index("sample")["value"].sort_index()
            ref = part[part["metric"] == ref_metric].set_index("sample")["value"].sort_index()
            top, bottom = axes[0, col], axes[1, col]
            top.plot(ref.index, ref.values, "-", color="#9e9e9e", lw=3, label="reference (numpy float32)")
            top.plot(dev.index, dev.values, "o", color=data.board_colour(board), ms=4, label="device")
            _style(top, title=f"{model} on {board}", ylabel="output")
            top.legend(fontsize=8, loc="best")
            diff = (dev - ref).dropna()
            bottom.bar(diff.index, diff.values, color=data.board_colour(board), width=0.6)
            bottom.axhline(0, color="black", lw=0.6)
            bottom.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
            xlabel = "time step" if "step" in name else "window (sequence)"
            _style(bottom, xlabel=xlabel, ylabel="device - ref")
        parts.append(f"<h3>{_esc(name)}</h3>" + _png(fig, f"{name}: device over reference"))
    return "".join(parts)


@section("error-per-step", "Error per time step")
def _error_per_step_section(data: RunData) -> str | None:
    s = data.samples
    metrics = sorted(m for m in set(s["metric"]) if "err" in m and "per_step" in m)
    if not metrics:
        return None
    data.used |= set(metrics)
    models = sorted(set(s[s["metric"].isin(metrics)]["model"]))
    fig = _figure(11, 3.0)
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, model in zip(axes, models, strict=True):
        for metric in metrics:
            for board in data.boards:
                part = s[(s["metric"] == metric) & (s["model"] == model) & (s["board"] == board)].sort_values("sample")
                if part.empty:
                    continue
                ax.plot(part["sample"].astype(int), part["value"], "-o", ms=3, color=data.board_colour(board),
                        label=f"{board}" + (f" ({metric})" if len(metrics) > 1 else ""))  # fmt: skip
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        _style(ax, title=f"{model}: max |device - reference| at each step", xlabel="time step", ylabel="abs error")
        ax.legend(fontsize=8)
    return _png(fig, "error per time step")


@section("latency", "Latency per model and board")
def _latency_section(data: RunData) -> str | None:
    s = data.samples
    lat = s[s["metric"].str.startswith("latency_")]
    if lat.empty:
        return None
    data.used |= set(lat["metric"])
    keys = sorted({(b, u) for b, u in zip(lat["board"], lat["unit"], strict=True)})
    fig = _figure(11, 2.9 * len(keys))
    axes = fig.subplots(len(keys), 2, squeeze=False, width_ratios=[1, 1.3])
    table = []
    for row, (board, unit) in enumerate(keys):
        part = lat[(lat["board"] == board) & (lat["unit"] == unit)]
        models = sorted(set(part["model"]))
        med = [part[part["model"] == m]["value"].median() for m in models]
        left, right = axes[row]
        bars = left.barh(models, med, color=data.board_colour(board))
        left.set_xscale("log")
        for bar, v in zip(bars, med, strict=True):
            left.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + _si(v * (1e-9 if unit == "ns" else 1),
                      "s" if unit == "ns" else ""), va="center", fontsize=9)  # fmt: skip
        left.set_xlim(min(med) / 3, max(med) * 8)
        _style(left, title=f"{board}: median per inference", xlabel=f"{unit} (log scale)")
        for i, m in enumerate(models):
            v = part[part["model"] == m].sort_values("sample")["value"]
            rel = (v / v.median() - 1) * 100
            right.plot(v.index.map(lambda _i: 0) + np.arange(len(v)), rel.values, "-o", ms=3, label=m,
                       color=BOARD_COLOURS[(i + 2) % len(BOARD_COLOURS)])  # fmt: skip
            table.append([_esc(board), _esc(m), _esc(unit), f"{len(v)}", _fmt(v.median(), unit), _fmt(v.min(), unit),
                          _fmt(v.max(), unit)])  # fmt: skip
        right.axhline(0, color="black", lw=0.6)
        _style(right, title="each window against its model's median", xlabel="window", ylabel="% from median")
        right.legend(fontsize=8)
    tbl = _table(["board", "model", "unit", "windows", "median", "min", "max"], table)
    return _png(fig, "latency per model and board") + tbl


@section("validate", "Model files validated: framework, numpy reference and device")
def _validate_section(data: RunData) -> str | None:
    """harness.suites.validate's rows: per model file and board, each pair's ST metrics, accuracy, the device's
    time per inference and memory."""
    rows = data.rows[data.rows["metric"].str.startswith("validate_")]
    if rows.empty:
        return None
    data.used |= set(rows["metric"])
    pairs = ("framework_vs_numpy", "numpy_vs_device", "framework_vs_device")
    table = []
    for (model, board), part in rows.groupby(["model", "board"], sort=True):
        value = part.groupby("metric")["value"].last()

        def get(metric: str, fmt: str = ".3g", value: pd.Series = value) -> str:
            return "-" if metric not in value else format(float(value[metric]), fmt)

        for pair in pairs:
            codes = get(f"validate_{pair}_codes_differ", "g")
            table.append([_esc(model), _esc(board), pair.replace("_vs_", " vs "), get(f"validate_{pair}_max_abs"),
                          get(f"validate_{pair}_rmse"), get(f"validate_{pair}_mae"), get(f"validate_{pair}_l2r"),
                          get(f"validate_{pair}_cos", ".9f"), codes])  # fmt: skip
        latency = [m for m in value.index if m.startswith("validate_latency_")]
        extra = [f"{m.removeprefix('validate_latency_')} {float(value[m]):,.0f}" for m in latency]
        extra += [f"accuracy {w} {get(f'validate_accuracy_{w}', '.4f')}" for w in ("framework", "numpy", "device")
                  if f"validate_accuracy_{w}" in value]  # fmt: skip
        extra += [f"{m.removeprefix('validate_').removesuffix('_bytes')} {float(value[m]):,.0f} B"
                  for m in ("validate_model_bytes", "validate_arena_high_water_bytes",
                            "validate_stack_high_water_bytes") if m in value]  # fmt: skip
        if "validate_divergence_step" in value:
            extra.append(f"first divergence at step {float(value['validate_divergence_step']):g} (see the test's "
                         "failure message)")  # fmt: skip
        table.append([_esc(model), _esc(board), "per inference", f'<span class="small">{_esc("; ".join(extra))}'
                      "</span>", "", "", "", "", ""])  # fmt: skip
    headers = ["model file", "board", "pair", "max |d|", "RMSE", "MAE", "L2R", "COS", "codes differ"]
    note = ('<p class="small">framework vs numpy checks the importer, numpy vs device the firmware, framework vs '
            "device is what the user gets. Integer models are compared code for code (codes differ must be 0); "
            "float tolerances are in harness/suites/validate.py with their reason.</p>")  # fmt: skip
    return _table(headers, table) + note


@section("replay", "Real-time replay: each request against its deadline")
def _replay_section(data: RunData) -> str | None:
    """harness.suites.replay's rows: per request the device's time at the target's clock plus the wire's at the
    replay's baud (stacked), the bench's own round trip, and the deadline (the time until the next request)."""
    s = data.samples
    device = s[s["metric"] == "replay_device_ms"]
    if device.empty:
        return None
    data.used |= {m for m in set(data.rows["metric"]) if m.startswith("replay_")}
    keys = sorted({(m, b) for m, b in zip(device["model"], device["board"], strict=True)},
                  key=lambda k: (data.model_rank(k[0]), k[1]))  # fmt: skip
    fig = _figure(11, 2.8 * len(keys))
    axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
    table = []
    for ax, (model, board) in zip(axes, keys, strict=True):
        mine = data.rows[(data.rows["model"] == model) & (data.rows["board"] == board)]

        def series(metric: str, rows: pd.DataFrame = mine) -> pd.Series:
            part = rows[(rows["metric"] == metric) & rows["sample"].notna()]
            return part.groupby("sample")["value"].mean().sort_index()  # several replays of one model: their mean

        def once(metric: str, rows: pd.DataFrame = mine) -> float | None:
            part = rows[rows["metric"] == metric]["value"]
            return None if part.empty else float(part.iloc[-1])

        dev, wire, lat = series("replay_device_ms"), series("replay_wire_ms"), series("replay_latency_ms")
        wire = wire.reindex(dev.index, fill_value=0.0)
        x = dev.index.astype(int)
        ax.fill_between(x, 0, dev.values, step="mid", color=data.board_colour(board), alpha=0.8,
                        label="device (target clock)")  # fmt: skip
        ax.fill_between(x, dev.values, (dev + wire).values, step="mid", color="#9e9e9e", alpha=0.6, label="wire")
        if not lat.empty:
            ax.plot(lat.index.astype(int), lat.values, ".", ms=3, color="black", label="round trip on this bench")
        deadline = once("replay_deadline_ms")
        if deadline is not None:
            ax.axhline(deadline, color=STATUS_COLOURS["fail"], ls="--", lw=1.2, label="deadline")
        ax.set_yscale("log")
        _style(ax, title=f"{model} on {board}", xlabel="sample", ylabel="ms (log scale)")
        ax.legend(fontsize=8, loc="lower right")
        missed, rtf = once("replay_missed_deadlines"), once("replay_real_time_factor")
        slack = once("replay_slack_min_ms")
        table.append([_esc(board), _esc(model), f"{len(dev)}", "-" if deadline is None else _fmt(deadline, "ms"),
                      _fmt(float(dev.median()), "ms"), _fmt(float(wire.median()), "ms"),
                      "-" if slack is None else _fmt(slack, "ms"), "-" if missed is None else f"{missed:g}",
                      "-" if rtf is None else f"{rtf:.3g}"])  # fmt: skip
    headers = ["board", "model", "plotted", "deadline", "device (median)", "wire (median)", "least slack", "missed",
               "real-time factor"]  # fmt: skip
    note = ('<p class="small">The device\'s time is its counter at the core clock of the chip the board stands for '
            "(QEMU: instructions at one per cycle); the wire is the request and its answer at the replay's baud, 8N1. "
            "A request meets its deadline when both fit before the next one.</p>")  # fmt: skip
    return _png(fig, "replay: time per request against the deadline") + _table(headers, table) + note


@section("memory", "Memory high-water marks against the board's budget")
def _memory_section(data: RunData) -> str | None:
    summary = data.summary
    # per-sample high-water rows (a model measured at several points) count with their maximum
    hw = data.rows[data.rows["metric"].str.endswith("_high_water") & (data.rows["model"] != "")]
    if hw.empty:
        return None
    data.used |= set(hw["metric"])
    boards = sorted(set(hw["board"]))
    rows_per_board = [len(set(hw[hw["board"] == b]["model"])) for b in boards]
    fig = _figure(11, 1.0 * len(boards) + 0.55 * sum(rows_per_board))
    axes = fig.subplots(len(boards), 1, squeeze=False, height_ratios=[max(n, 1) + 1 for n in rows_per_board])[:, 0]
    notes = []
    for ax, board in zip(axes, boards, strict=True):
        part = hw[hw["board"] == board]
        facts = summary[(summary["board"] == board) & (summary["model"] == "")].set_index("metric")["value"]
        ram = float(facts.get("ram_budget", 0.0) or 0.0)
        arena = float(facts.get("arena", 0.0) or 0.0)
        models = sorted(set(part["model"]))
        metrics = sorted(set(part["metric"]))
        left = np.zeros(len(models))
        palette = {"arena_high_water": "#1f77b4", "stack_high_water": "#ff7f0e"}
        for metric in metrics:
            vals = np.array([part[(part["model"] == m) & (part["metric"] == metric)]["value"].max() for m in models])
            vals = np.nan_to_num(vals)
            ax.barh(models, vals, left=left, label=metric.replace("_", " "), color=palette.get(metric), height=0.5)
            left = left + vals
        limit = max([ram, arena, *left]) * 1.25
        for i, total in enumerate(left):
            share = f" ({total / ram:.0%} of RAM)" if ram else ""
            label = f"{_si(total, 'B')}{share}"
            if total > 0.55 * limit:  # a long bar carries its label inside, clear of the budget lines
                ax.text(total * 0.98, i, label, va="center", ha="right", fontsize=9, color="white", weight="bold")
            else:
                ax.text(total, i, "  " + label, va="center", fontsize=9)
        if ram:
            ax.axvline(ram, color=STATUS_COLOURS["fail"], lw=2, label=f"RAM budget {_si(ram, 'B')}")
        if arena:
            ax.axvline(arena, color="#555555", lw=1.2, ls="--", label=f"arena {_si(arena, 'B')}")
        ax.set_xlim(0, limit)
        ax.xaxis.set_major_formatter(EngFormatter(unit="B", sep=" "))
        title = f"{board}: high-water marks" + ("" if ram else " (this board reports no RAM budget)")
        _style(ax, title=title, xlabel="bytes")
        ax.legend(fontsize=8, loc="lower right")
        if not ram:
            notes.append(board)
    return _png(fig, "memory high-water marks")


def _series_figure(data: RunData, metrics: list[str], title: str, *, ylabel: str = "", xlabel: str = "sample") -> str:
    """One panel per (model, board); a reference series (``*_ref``/``*_reference``) is drawn as a thick grey line
    under the device's, so where they agree the device line lies on the grey one."""
    s = data.samples[data.samples["metric"].isin(metrics)]
    keys = sorted({(m, b) for m, b in zip(s["model"], s["board"], strict=True)})
    cols = min(2, len(keys))
    nrows = math.ceil(len(keys) / cols)
    fig = _figure(11, 3.0 * nrows)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    present = set(metrics)
    references = [m for m in metrics if any(m.endswith(x) and m.removesuffix(x) in present for x in REFERENCE_SUFFIXES)]
    ordered = references + [m for m in metrics if m not in references]  # references first: underneath
    for ax, (model, board) in zip(axes.flat, keys, strict=False):
        for i, metric in enumerate(ordered):
            part = s[(s["model"] == model) & (s["board"] == board) & (s["metric"] == metric)].sort_values("sample")
            if part.empty:
                continue
            x = part["sample"].astype(int)
            if metric in references:
                ax.plot(x, part["value"], "-", lw=4, color="#bdbdbd", label=f"{metric} (reference)")
            else:
                ax.plot(x, part["value"], "-", lw=1.2, label=metric, marker="o" if len(part) <= 60 else None, ms=2.5,
                        color=BOARD_COLOURS[i % len(BOARD_COLOURS)])  # fmt: skip
        _style(ax, title=f"{model or '(no model)'} on {board}", xlabel=xlabel, ylabel=ylabel)
        ax.legend(fontsize=8)
    return _png(fig, title)


@section("training", "Training curves")
def _training_section(data: RunData) -> str | None:
    metrics = sorted(m for m in set(data.samples["metric"]) if "loss" in m)
    if not metrics:
        return None
    data.used |= set(metrics)
    return _series_figure(data, metrics, "training curves", ylabel="loss", xlabel="training step")


@section("anomaly", "Anomaly scores")
def _anomaly_section(data: RunData) -> str | None:
    s = data.samples
    scores = s[s["metric"] == "anomaly_score"]
    if scores.empty:
        return None
    data.used |= {m for m in set(data.rows["metric"]) if m.startswith("anomaly_")}
    keys = sorted({(m, b) for m, b in zip(scores["model"], scores["board"], strict=True)})
    fig = _figure(11, 3.0 * len(keys))
    axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
    for ax, (model, board) in zip(axes, keys, strict=True):
        mine = data.rows[(data.rows["model"] == model) & (data.rows["board"] == board)]
        sc = mine[mine["metric"] == "anomaly_score"].set_index("sample")["value"].sort_index()
        ax.plot(sc.index.astype(int), sc.values, "-", color="#1f77b4", lw=1, label="anomaly score")
        labels = mine[mine["metric"] == "anomaly_label"].set_index("sample")["value"]
        if not labels.empty:
            hit = labels[labels > 0].index.intersection(sc.index)
            ax.plot(hit.astype(int), sc[hit].values, "o", color=STATUS_COLOURS["fail"], ms=5, label="labelled anomaly")
        threshold = mine[mine["metric"] == "anomaly_threshold"]["value"]
        if not threshold.empty:
            ax.axhline(float(threshold.iloc[-1]), color="black", ls="--", lw=1, label="threshold")
        _style(ax, title=f"{model} on {board}", xlabel="sample", ylabel="score")
        ax.legend(fontsize=8)
    return _png(fig, "anomaly scores")


@section("other", "Other series")
def _other_section(data: RunData) -> str | None:
    rest = sorted(set(data.samples["metric"]) - data.used)
    if not rest:
        return None
    return "".join(f"<h3>{_esc(m)}</h3>" + _series_figure(data, [m], m) for m in rest)


@section("figures", "All summary figures")
def _figures_section(data: RunData) -> str | None:
    summary = data.summary
    if summary.empty:
        return None
    lines = [
        [_esc(r.board), _esc(r.model), _esc(r.metric), f"{_fmt(r.value, r.unit)} {_esc(r.unit)}",
         f"<small>{_esc(_short_test(r.test))}</small>"]
        for r in sorted(summary.itertuples(), key=lambda r: (data.model_rank(r.model), r.board, r.metric))
    ]  # fmt: skip
    table = _table(["board", "model", "metric", "value", "test"], lines)
    return (
        f"<details><summary>{len(lines)} summary rows (per-sample rows are in results.csv)</summary>{table}</details>"
    )


CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0 auto; max-width: 1240px;
       padding: 16px 28px; color: #212121; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #e0e0e0; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.88em; }
th, td { border: 1px solid #e0e0e0; padding: 3px 8px; text-align: left; vertical-align: top; }
thead th { background: #f5f5f5; } table.meta th { background: #fafafa; width: 9em; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
.badge { color: white; padding: 1px 7px; border-radius: 8px; font-size: 0.85em; white-space: nowrap; }
nav a { margin-right: 1em; } .small { font-size: 0.8em; color: #616161; } code { font-size: 0.92em; }
"""


def render(data: RunData) -> str:
    parts, nav = [], []
    for sec in SECTIONS:
        body = sec.render(data)
        if body is None:
            continue
        nav.append(f'<a href="#{sec.anchor}">{_esc(sec.title)}</a>')
        parts.append(f'<section id="{sec.anchor}"><h2>{_esc(sec.title)}</h2>{body}</section>')
    status = data.meta.get("exit_meaning") or ""
    if data.meta.get("incomplete"):
        status = f"Incomplete: {data.meta['incomplete']}. {status}".strip()
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>HIL run {_esc(data.run_id)}</title><style>{CSS}</style></head><body>"
        f"<h1>HIL run {_esc(data.run_id)}</h1><p>{_esc(status)}</p><nav>{''.join(nav)}</nav>"
        + "".join(parts)
        + f"<p class='small'>Built by python -m harness report {_esc(data.run_id)} from {_esc(data.run_dir)}.</p>"
        "</body></html>\n"
    )


def build_report(run_dir: Path | str, *, baselines_dir: Path | None = None, report_root: Path | None = None) -> Path:
    """Write ``run_dir/report.html`` from the run's rows and return its path."""
    run_dir = Path(run_dir)
    data = load_run(run_dir, baselines_dir=baselines_dir, report_root=report_root)
    path = run_dir / REPORT_FILE
    tmp = path.with_name(f".{REPORT_FILE}.tmp")
    tmp.write_text(render(data), encoding="utf-8")
    tmp.replace(path)
    return path
