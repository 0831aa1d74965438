"""Budgets gate what the device measures: the same kernel deliberately slowed fails its instruction budget.

The slowed image is the board's own build with one C macro (HIL_TEST_EXTRA_LOOPS, a hook in
hil_lstm_forward_f32.c that adds a busy loop per call). Its figure is checked with `check_budget`, the gate
`record` applies, without writing a row: a deliberately altered image must not enter the run's figures, the
history or a baseline someone accepts from this run.
"""

from __future__ import annotations

import logging
import math

import pytest

from harness.reporting.baselines import BudgetExceeded, BudgetStatus
from tests.hil.models import SMALL
from tests.hil.test_lstm_inference import FEATURES, _windows

# The instruction budget is measured by this test on the same window (X[1] of two); the slowed image is held to it.
MEASURED_IN = "test_lstm_inference.py::test_same_input_twice_is_bit_identical"
METRIC = "instructions_per_inference"
# About 6 instructions per iteration of a volatile loop (load, add, store, load, compare, branch; measured 24,005 for
# 4,000 on both the M4F and the M3). The slowdown is sized from the budget itself: two and a half times its fail
# band, so the same test works for LSTM(32)'s ~885,000 instructions on the M4F (~2.7%) and its ~15.9 M in soft float
# on the M3. A regression that small must fail; the test checks that it really lands beyond the band, so it cannot
# pass by accident.
INSTRUCTIONS_PER_LOOP = 6


def _extra_loops(fail_width: float) -> int:
    return math.ceil(2.5 * fail_width / INSTRUCTIONS_PER_LOOP / 1000.0) * 1000


progress = logging.getLogger("harness.progress")


@pytest.mark.hil_requires("lstm_f32", "exact_counter")
def test_slowed_kernel_fails_its_instruction_budget(hil_session, hil_budgets, check_budget, record) -> None:
    board = hil_session.board.name
    budget = hil_budgets.lookup(MEASURED_IN, SMALL.name, METRIC) if hil_budgets else None
    if budget is None:
        pytest.skip(f"board {board} has no {METRIC} budget for {SMALL.name}; accept a run to make one")
    model = SMALL.build(len(FEATURES))
    X, _ = _windows(SMALL, 2)
    plain_image = hil_session.board.build()
    try:
        normal = hil_session.deploy_lstm(model).client.infer(X[1])
        count = hil_session.hello.ticks_to_counter_unit(normal.ticks)
        verdict = check_budget(METRIC, count, budget.unit, model=SMALL.name, test=MEASURED_IN)
        assert verdict is not None and verdict.status is BudgetStatus.PASS, f"the plain image must pass: {verdict}"

        extra_loops = _extra_loops(budget.fail_width)
        slowed_image = hil_session.board.build(defines={"HIL_TEST_EXTRA_LOOPS": str(extra_loops)})
        assert slowed_image.build_id != plain_image.build_id
        hil_session.open(slowed_image)
        slowed = hil_session.deploy_lstm(model).client.infer(X[1])
        slowed_count = hil_session.hello.ticks_to_counter_unit(slowed.ticks)
        assert slowed.outputs.tobytes() == normal.outputs.tobytes(), "the hook must change the time, not the answer"
        assert slowed_count - budget.expected > budget.fail_width, (
            f"{extra_loops} extra loops added only {slowed_count - count:,.0f} instructions, inside the fail band "
            f"of {budget.describe()}: raise INSTRUCTIONS_PER_LOOP's estimate"
        )
        record(f"{METRIC}_with_extra_loops", slowed_count, budget.unit, model=SMALL.name)  # not budgeted: evidence
        with pytest.raises(BudgetExceeded) as failed:
            check_budget(METRIC, slowed_count, budget.unit, model=SMALL.name, test=MEASURED_IN)
        message = str(failed.value)
        progress.info("%s with %d extra loops per call fails its budget as it should: %s", SMALL.name, extra_loops,
                      message)  # fmt: skip
        for part in (METRIC, board, f"{slowed_count:,.0f}", budget.describe(), "baseline accept"):
            assert part in message, f"the failure message should name {part!r}: {message}"
    finally:
        hil_session.open(plain_image)  # the tests after this one run the plain image
