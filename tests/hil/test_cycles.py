"""The Cortex-M4 cycle estimate (harness.cycles) on a real QEMU trace: the traced call is the call the device timed
(its instructions are the device's exact count less the call and the counter reads), every instruction the
kernels execute has a price, and the int8 kernel's SMLAD loop prices below float's VFMA loop per MAC."""

from __future__ import annotations

import pytest

from harness.session import BoardSession
from harness.suites import quant as qs
from harness.suites.bench import cycle_figure


def test_traced_call_is_the_timed_one_and_every_instruction_is_priced(hil_session: BoardSession, tmp_path, record):
    if hil_session.board.name != "qemu-stm32f4":
        pytest.skip("the estimate prices Cortex-M4 timings; it runs on the emulated STM32F4")
    ev = qs.eval_set(qs.ELECTRICITY, 1)
    int8, float32 = (
        cycle_figure(hil_session.board.name, qs.case(qs.ELECTRICITY, v), ev, tmp_path) for v in ("int8", "float32")
    )
    for f in (int8, float32):
        # the counter brackets the call: its arguments, the call and return and the counter reads (42-47 here)
        assert 0 <= f.counted - f.estimate.instructions < 100, (f.estimate.instructions, f.counted)
        assert not f.estimate.unpriced, dict(f.estimate.unpriced)
        record("m4_cycles_per_mac", f.estimate.cycles / f.macs, "cycles/MAC", model=f"{qs.ELECTRICITY}:{f.variant}")
    assert 1.0 < int8.estimate.cycles_per_instruction < 2.0 < float32.estimate.cycles_per_instruction
