"""Budgets: committed expected values with pass / marginal / fail bands, per board, checked as rows are recorded.

``reports/baselines/<board>.toml`` holds one ``[[budget]]`` table per (model, metric) — and test where one metric
of one model is measured by several tests with different values. A measurement within ``pass`` of ``expected``
passes; one beyond ``fail`` in the direction that is worse fails its test; anything between is marginal and warns.
A measurement better than its pass band is marginal too: the budget is stale and should be accepted, so the gain
is kept. Widths are relative (``*_rel``, a fraction of ``expected``) or absolute (``*_abs``, in the metric's unit).

Which metrics get a budget, and how wide its bands are by default, is :data:`BAND_RULES`: each rule says why its
width is what it is. ``python -m harness baseline accept <run_id>`` writes a run's figures as the new expected
values (:func:`accept`), keeping widths someone tuned by hand, and prints the change as a diff.
"""

from __future__ import annotations

import difflib
import enum
import json
import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

__all__ = [
    "BAND_RULES",
    "BandRule",
    "BaselineError",
    "Budget",
    "BudgetBook",
    "BudgetExceeded",
    "BudgetMarginal",
    "BudgetStatus",
    "Verdict",
    "accept",
    "baseline_path",
    "test_key",
    "unified_diff",
]

FILE_SUFFIX = ".toml"


class BaselineError(ValueError):
    """A baseline file that cannot be read, or a run whose figures cannot be written as one."""


class BudgetExceeded(AssertionError):
    """A measurement beyond its fail band. An AssertionError: the test failed on what the device measured."""


class BudgetMarginal(UserWarning):
    """A measurement between its pass and fail bands (or better than its budget): the test passes with a warning."""


class BudgetStatus(enum.Enum):
    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"


@dataclass(frozen=True)
class BandRule:
    """Which metrics are budgeted, and the default bands a new budget for them gets.

    ``aggregate`` makes one expected value out of per-sample rows (a metric measured per window or per step) when
    a test records no summary row for it: ``median`` for values that scatter around a centre, ``max`` for errors,
    whose budget is a ceiling. ``budgeted=False`` rules say why a metric is deliberately left ungated.
    """

    metric: str  # regular expression, matched in full against the metric name
    why: str
    unit: str | None = None  # only rows in this unit (None: any)
    worse: str = "higher"  # "higher", "lower" or "both": the direction in which a change is a regression
    pass_rel: float | None = None
    pass_abs: float | None = None
    fail_rel: float | None = None
    fail_abs: float | None = None
    aggregate: str = "median"
    budgeted: bool = True

    def matches(self, metric: str, unit: str) -> bool:
        return re.fullmatch(self.metric, metric) is not None and (self.unit is None or self.unit == unit)


# First match wins. Every width says why it is that wide.
BAND_RULES: tuple[BandRule, ...] = (
    BandRule(
        "instructions_per_inference|train_step_instructions",
        unit="instructions",
        pass_rel=0.001,
        fail_rel=0.01,
        why="QEMU -icount counts instructions exactly and the test runs the same input every time, so the count "
        "only moves when the code does; +-0.1% passes layout noise (a changed branch outside the inner loop), "
        "beyond +1% the kernel's inner loop itself got slower",
    ),
    BandRule(
        r"latency_instructions",
        unit="instructions",
        pass_rel=0.005,
        fail_rel=0.02,
        why="per window: instruction counts vary with the input through expf/tanhf's branches, measured "
        "-0.29%..+0.15% around the median over 48 windows (LSTM(32)); +-0.5% passes that spread, beyond +2% "
        "(about 7x the spread) no window mix explains it",
    ),
    BandRule(
        r"(latency_cycles|instructions_per_inference)",
        unit="cycles",
        pass_rel=0.02,
        fail_rel=0.05,
        why="real cores count cycles with caches, flash wait states and interrupts: about 1% run to run; +-2% "
        "passes that, beyond +5% is a regression",
    ),
    BandRule(
        r"latency_ns",
        budgeted=False,
        why="wall-clock time on a shared host moves 2-10x with machine load; a gate would fail on load, not on "
        "regressions. Instruction counts on QEMU are the latency gate",
    ),
    BandRule(
        r"max_abs_err_vs_ref|abs_err_per_step",
        pass_abs=2e-7,
        fail_abs=1e-6,
        aggregate="max",
        why="device and reference both compute in float32 but sum in different orders: a few ulp of O(1) "
        "outputs, measured <= 3e-8; +2e-7 passes other windows and compilers, beyond +1e-6 (the suite's own "
        "tolerance) a kernel fault shows",
    ),
    BandRule(
        r"model_bytes",
        unit="B",
        pass_abs=0.0,
        fail_rel=0.05,
        why="the blob size is a function of layer shapes and the blob format, so any change is a deliberate one "
        "to accept; a model more than 5% bigger fails, as it eats the target's flash/RAM headroom",
    ),
    BandRule(
        r"arena_high_water",
        unit="B",
        aggregate="max",  # a high-water mark is a ceiling: the highest of its samples
        pass_rel=0.01,
        fail_rel=0.10,
        why="arena bytes are exact for a given model and runtime; +-1% passes alignment changes, beyond +10% "
        "the model or the runtime's layout grew enough to threaten the board's RAM budget",
    ),
    BandRule(
        r"stack_high_water",
        unit="B",
        aggregate="max",  # a high-water mark is a ceiling: the highest of its samples
        pass_rel=0.05,
        fail_rel=0.25,
        why="stack painting measures the deepest call chain, which moves with inlining decisions: +-5% passes "
        "a compiler's mood, beyond +25% a deeper frame could overflow the stack",
    ),
)


def rule_for(metric: str, unit: str) -> BandRule | None:
    for rule in BAND_RULES:
        if rule.matches(metric, unit):
            return rule
    return None


def test_key(nodeid: str) -> str:
    """A test's name as budgets key it: file and function, without the folder or parameters (board and model
    are columns of their own), e.g. ``test_lstm_inference.py::test_same_input_twice_is_bit_identical``."""
    path, _, name = nodeid.partition("::")
    function = re.sub(r"\[.*$", "", name)
    return f"{Path(path).name}::{function}" if name else Path(path).name


def fmt(value: float, unit: str) -> str:
    """A measurement as people read it: thousands separated for counts and bytes, 3 digits otherwise."""
    if not math.isfinite(value):
        return f"{value} {unit}".rstrip()
    if unit in ("B", "instructions", "cycles", "ns") or (value == int(value) and abs(value) >= 1000):
        return f"{value:,.0f} {unit}".rstrip()
    return f"{value:.3g} {unit}".rstrip() if unit not in ("1", "") else f"{value:.3g}"


def _short_path(path: str) -> str:
    """A path relative to the working directory when it lies below it: messages stay short and clickable."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd())) if path else ""
    except ValueError:
        return path


@dataclass(frozen=True)
class Verdict:
    status: BudgetStatus
    budget: Budget
    value: float
    message: str

    @property
    def ok(self) -> bool:
        return self.status is not BudgetStatus.FAIL


@dataclass(frozen=True)
class Budget:
    """One expected value with its bands, for one board."""

    board: str
    model: str
    metric: str
    unit: str
    expected: float
    why: str = ""
    test: str = ""  # "" holds for every test; else a test_key()
    worse: str = "higher"
    pass_rel: float | None = None
    pass_abs: float | None = None
    fail_rel: float | None = None
    fail_abs: float | None = None
    accepted_from: str = ""  # run id the expected value came from
    source: str = ""  # file it was read from (not written)

    def __post_init__(self) -> None:
        if self.worse not in ("higher", "lower", "both"):
            raise BaselineError(f"budget {self.label}: worse = {self.worse!r}; use 'higher', 'lower' or 'both'")
        if (self.pass_rel is None) == (self.pass_abs is None) or (self.fail_rel is None) == (self.fail_abs is None):
            raise BaselineError(
                f"budget {self.label} in {self.source or 'memory'}: give exactly one of pass_rel/pass_abs and one of "
                "fail_rel/fail_abs"
            )
        if self.fail_width < self.pass_width:
            raise BaselineError(
                f"budget {self.label}: fail band ({self.fail_width:g}) is narrower than the pass band "
                f"({self.pass_width:g}); the fail band must contain the pass band"
            )

    @property
    def label(self) -> str:
        where = f" in {self.test}" if self.test else ""
        return f"{self.model or '(no model)'} {self.metric}{where}"

    @property
    def pass_width(self) -> float:
        return self.pass_abs if self.pass_abs is not None else abs(self.expected) * (self.pass_rel or 0.0)

    @property
    def fail_width(self) -> float:
        return self.fail_abs if self.fail_abs is not None else abs(self.expected) * (self.fail_rel or 0.0)

    def _width_text(self, rel: float | None, abs_: float | None) -> str:
        return f"{rel * 100:g}%" if rel is not None else fmt(abs_ or 0.0, self.unit)

    def describe(self) -> str:
        """e.g. ``885,386 instructions, pass within ±0.1%, fail beyond +1% (above 894,240 instructions)``."""
        sign = {"higher": "+", "lower": "-", "both": "±"}[self.worse]
        lo, hi = self.fail_limits()
        if self.worse == "higher":
            limit = f"above {fmt(hi, self.unit)}"
        elif self.worse == "lower":
            limit = f"below {fmt(lo, self.unit)}"
        else:
            limit = f"outside {fmt(lo, self.unit)}..{fmt(hi, self.unit)}"
        return (
            f"{fmt(self.expected, self.unit)}, pass within ±{self._width_text(self.pass_rel, self.pass_abs)}, "
            f"fail beyond {sign}{self._width_text(self.fail_rel, self.fail_abs)} ({limit})"
        )

    def badness(self, value: float) -> float:
        """How far ``value`` lies from expected in the direction that is worse (negative: the better side)."""
        dev = value - self.expected
        return abs(dev) if self.worse == "both" else (dev if self.worse == "higher" else -dev)

    def pass_limits(self) -> tuple[float, float]:
        return self.expected - self.pass_width, self.expected + self.pass_width

    def fail_limits(self) -> tuple[float, float]:
        """Values outside this interval fail; open on the side that is not worse."""
        lo = self.expected - self.fail_width if self.worse in ("lower", "both") else -math.inf
        hi = self.expected + self.fail_width if self.worse in ("higher", "both") else math.inf
        return lo, hi

    def check(self, value: float, *, sample: int | None = None, run_id: str = "") -> Verdict:
        what = f"{self.metric} of {self.model or '(no model)'} on {self.board}"
        if sample is not None:
            what += f" (sample {sample})"
        budget = f"budget {self.describe()} [{_short_path(self.source) or 'baseline'}]"
        accept = f"python -m harness baseline accept {run_id or '<run_id>'}"
        if math.isnan(value):
            return Verdict(BudgetStatus.FAIL, self, value, f"{what}: measured nan, which no {budget} admits")
        dev = value - self.expected
        # a relative change means something where the bands are relative; for an error near 0 it would be noise
        rel = f" ({dev / self.expected:+.2%})" if self.expected and self.pass_rel is not None else ""
        measured = f"measured {fmt(value, self.unit)}{rel}"
        if abs(dev) <= self.pass_width:
            return Verdict(BudgetStatus.PASS, self, value, f"{what}: {measured} within {budget}")
        lo, hi = self.fail_limits()
        if value < lo or value > hi:
            return Verdict(
                BudgetStatus.FAIL,
                self,
                value,
                f"budget exceeded: {what} {measured}, {budget}. If the change is intended, make it the new "
                f"baseline: {accept}",
            )
        worse = self.worse == "both" or (dev > 0) == (self.worse == "higher")
        if worse:
            message = f"marginal: {what} {measured}, outside the pass band of {budget}"
            return Verdict(BudgetStatus.MARGINAL, self, value, message)
        return Verdict(
            BudgetStatus.MARGINAL,
            self,
            value,
            f"better than budget: {what} {measured}, {budget}; accept the run ({accept}) so the gain is kept",
        )


_FIELD_ORDER = ("test", "model", "metric", "unit", "expected", "worse", "pass_rel", "pass_abs", "fail_rel",
                "fail_abs", "accepted_from", "why")  # fmt: skip


def _toml_value(value: object) -> str:
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float; inf and nan are TOML too
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def baseline_path(directory: Path | str, board: str) -> Path:
    if not re.fullmatch(r"[\w.\-]+", board):
        raise BaselineError(f"board name {board!r} cannot name a baseline file; use letters, digits, '.', '-', '_'")
    return Path(directory) / f"{board}{FILE_SUFFIX}"


@dataclass
class BudgetBook:
    """All budgets of one board, as in its baseline file."""

    board: str
    budgets: list[Budget] = field(default_factory=list)
    path: Path | None = None

    def lookup(self, test: str, model: str, metric: str) -> Budget | None:
        """The budget for a measurement: one keyed to its test first, else the one for every test."""
        key = test_key(test) if test else ""
        generic = None
        for b in self.budgets:
            if b.model == model and b.metric == metric:
                if b.test and b.test == key:
                    return b
                if not b.test:
                    generic = b
        return generic

    def sorted(self) -> list[Budget]:
        return sorted(self.budgets, key=lambda b: (b.model, b.metric, b.test))

    @classmethod
    def load(cls, path: Path | str, board: str | None = None) -> BudgetBook:
        path = Path(path)
        board = board or path.stem
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise BaselineError(f"{path} is not valid TOML ({exc}); fix it or re-accept a run to rewrite it") from exc
        budgets = []
        for i, entry in enumerate(data.get("budget", [])):
            unknown = set(entry) - set(_FIELD_ORDER)
            missing = {"model", "metric", "unit", "expected"} - set(entry)
            if unknown or missing:
                raise BaselineError(
                    f"{path}: budget #{i + 1} has unknown keys {sorted(unknown)} / lacks {sorted(missing)}; "
                    f"known keys: {', '.join(_FIELD_ORDER)}"
                )
            numeric = ("expected", "pass_rel", "pass_abs", "fail_rel", "fail_abs")
            values = {k: float(v) if k in numeric else v for k, v in entry.items()}
            budgets.append(Budget(board=board, source=str(path), **values))
        return cls(board, budgets, path)

    @classmethod
    def for_board(cls, directory: Path | str, board: str) -> BudgetBook | None:
        path = baseline_path(directory, board)
        return cls.load(path, board) if path.is_file() else None

    def dumps(self) -> str:
        """The file text: sorted by (model, metric, test), one value per line, so a change reads as a small diff."""
        lines = [
            f"# Budgets for board {self.board}, written by `python -m harness baseline accept <run_id>`.",
            "# Widths may be tuned by hand; accept keeps them. A value within pass_* of `expected` passes, one beyond",
            "# fail_* in the `worse` direction fails its test, anything between warns (marginal).",
            "# *_rel: a fraction of expected; *_abs: in `unit`. `why` says why a band is as wide as it is.",
            "# See docs/reports.md.",
        ]
        for b in self.sorted():
            lines += ["", "[[budget]]"]
            for key in _FIELD_ORDER:
                value = getattr(b, key)
                if value is None or (key in ("test", "accepted_from") and not value):
                    continue
                lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def write(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(self.dumps(), encoding="utf-8")


def _expected_values(rows: pd.DataFrame, rule: BandRule) -> dict[str, tuple[float, float]]:
    """test_key -> (one expected value, the relative spread of the samples it stands for), from one (model, metric)'s
    rows: summary rows where the test wrote them (spread 0), else the rule's aggregate over its per-sample rows, whose
    spread is the largest relative distance of a sample from that value."""
    out: dict[str, tuple[float, float]] = {}
    for test, group in rows.groupby(rows["test"].map(test_key), sort=True):
        # A test run again (a retry after a link failure) records its rows again: the last attempt's figures count.
        group = group.drop_duplicates(subset=["test", "sample"], keep="last")
        summary = group[group["sample"].isna()]["value"]
        values = summary if not summary.empty else group["value"]
        expected = float({"median": values.median, "max": values.max, "min": values.min}[rule.aggregate]())
        spread = float((values - expected).abs().max() / abs(expected)) if summary.empty and expected else 0.0
        out[str(test)] = (expected, spread)
    return out


# A per-sample budget accepted from a run passes every sample that run measured, with this margin over the spread.
SPREAD_MARGIN = 1.5


def _sized_to_spread(budget: Budget, spread: float) -> Budget:
    """``budget`` with a relative pass band at least as wide as ``spread`` * SPREAD_MARGIN (and a fail band still
    containing it), so an identical rerun of the run it was accepted from is never marginal."""
    needed = spread * SPREAD_MARGIN
    if budget.pass_rel is None or needed <= budget.pass_rel:
        return budget
    fail_rel = budget.fail_rel if budget.fail_rel is not None and budget.fail_rel >= 2 * needed else 2 * needed
    note = f" Pass band widened to +-{needed:.2%}: {SPREAD_MARGIN}x the {spread:.2%} the accepted run's samples spread."
    why = budget.why.split(" Pass band widened to")[0] + note
    # rounded up to 6 decimals, as the file keeps it: rounding down could leave the widest sample just outside
    return replace(budget, pass_rel=math.ceil(needed * 1e6) / 1e6, fail_rel=math.ceil(fail_rel * 1e6) / 1e6, why=why)


def accept(rows: pd.DataFrame, board: str, old: BudgetBook | None = None, *, run_id: str = "") -> BudgetBook:
    """A new budget book for ``board``: the run's figures for every budgeted metric as expected values.

    Budgets the run did not measure are kept as they were (a run with -k does not delete budgets). Widths, the
    direction and the reason of a budget that exists are kept, so hand-tuned bands survive an accept.
    """
    rows = rows[(rows["board"] == board) & rows["value"].notna()]
    old = old or BudgetBook(board)
    new: dict[tuple[str, str, str], Budget] = {(b.model, b.metric, b.test): b for b in old.budgets}
    for (model, metric, unit), group in rows.groupby(["model", "metric", "unit"], sort=True):
        rule = rule_for(str(metric), str(unit))
        if rule is None or not rule.budgeted:
            continue
        measured = _expected_values(group, rule)
        per_test = {test: value for test, (value, _) in measured.items()}
        spreads = {test: spread for test, (_, spread) in measured.items()}
        distinct = set(per_test.values())
        targets = {"": next(iter(distinct))} if len(distinct) == 1 else per_test
        if len(distinct) > 1:  # a generic budget would hold one test to another's figure: split it per test
            new.pop((str(model), str(metric), ""), None)
        for test, value in targets.items():
            spread = spreads[test] if test else max(spreads.values())
            key = (str(model), str(metric), test)
            template = new.get(key) or new.get((str(model), str(metric), ""))
            if template is None and value == 0 and rule.pass_rel is not None:
                continue  # a relative band around 0 admits nothing; a 0 here means "not measured" (no stack paint)
            if template is not None and template.expected == value and template.test == test:
                new[key] = _sized_to_spread(template, spread)  # unchanged: keep it, so the diff shows real changes
                continue
            if template is not None:
                budget = replace(template, test=test, expected=value, unit=str(unit), accepted_from=run_id, source="")
            else:
                budget = Budget(
                    board=board, model=str(model), metric=str(metric), unit=str(unit), expected=value, why=rule.why,
                    test=test, worse=rule.worse, pass_rel=rule.pass_rel, pass_abs=rule.pass_abs,
                    fail_rel=rule.fail_rel, fail_abs=rule.fail_abs, accepted_from=run_id,
                )  # fmt: skip
            new[key] = _sized_to_spread(budget, spread)
    return BudgetBook(board, list(new.values()), old.path)


def unified_diff(old_text: str, new_text: str, path: Path | str) -> str:
    """git's a/ b/ headers for a path inside the repository; an absolute path (baselines kept elsewhere) as it is."""
    before, after = (f"{path} (before)", f"{path} (after)") if Path(path).is_absolute() else (f"a/{path}", f"b/{path}")
    return "".join(
        difflib.unified_diff(old_text.splitlines(keepends=True), new_text.splitlines(keepends=True), before, after)
    )


def boards_with_baselines(directory: Path | str) -> list[str]:
    return sorted(p.stem for p in Path(directory).glob(f"*{FILE_SUFFIX}"))


def load_books(directory: Path | str, boards: Iterable[str]) -> dict[str, BudgetBook]:
    books = {}
    for board in boards:
        book = BudgetBook.for_board(directory, board)
        if book is not None:
            books[board] = book
    return books


_RANK = {BudgetStatus.PASS: 0, BudgetStatus.MARGINAL: 1, BudgetStatus.FAIL: 2}
CHECK_COLUMNS = ("board", "model", "metric", "test", "unit", "budget", "measured", "rows", "status", "message")


def check_rows(rows: pd.DataFrame, books: dict[str, BudgetBook], *, run_id: str = "") -> pd.DataFrame:
    """Every budget of ``books`` against a run's rows: one line per budget with the worst verdict among the rows
    it holds (status "not measured" when none), as the record-time gate saw them."""
    found: dict[int, list[Verdict]] = {}
    budget_of: dict[int, Budget] = {}
    for board, book in books.items():
        for b in book.budgets:
            found.setdefault(id(b), [])
            budget_of[id(b)] = b
        sub = rows[(rows["board"] == board) & (rows["model"] != "")]
        for (test, model, metric), group in sub.groupby(["test", "model", "metric"], sort=False):
            budget = book.lookup(str(test), str(model), str(metric))
            if budget is None:
                continue
            for value, sample in zip(group["value"], group["sample"], strict=True):
                s = None if pd.isna(sample) else int(sample)
                found[id(budget)].append(budget.check(float(value), sample=s, run_id=run_id))
    lines = []
    for key, verdicts in found.items():
        b = budget_of[key]
        if verdicts:
            worst = max(verdicts, key=lambda v: (_RANK[v.status], b.badness(v.value)))
            status, measured, message = worst.status.value, worst.value, worst.message
        else:
            status, measured, message = "not measured", math.nan, "no row of this run holds this budget"
        lines.append((b.board, b.model, b.metric, b.test, b.unit, b, measured, len(verdicts), status, message))
    frame = pd.DataFrame(lines, columns=list(CHECK_COLUMNS))
    return frame.sort_values(["board", "model", "metric", "test"], kind="stable").reset_index(drop=True)
