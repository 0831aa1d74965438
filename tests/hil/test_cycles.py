"""The Cortex-M4 cycle estimate (harness.cycles) on a real QEMU trace: the traced call is the call the device timed
(its instructions agree with the device's exact counter up to the call and the counter reads), every instruction the
kernels execute has a price, and the int8 kernel's SMLAD loop prices below float's VFMA loop per MAC."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.boards import BoardOptions, get_board
from harness.cycles import estimate_trace
from harness.proto import wire
from harness.session import BoardSession, session_for
from harness.suites import quant as qs
from harness.suites.bench import _forward_symbol


def _traced(tmp_path: Path, variant: str) -> tuple[float, object, int]:
    trace = tmp_path / f"{variant}.trace"
    session = session_for(get_board("qemu-stm32f4", BoardOptions(extra={"exec_trace": str(trace)})))
    case = qs.case(qs.ELECTRICITY, variant)
    try:
        run = qs.run_case(session, case, qs.eval_set(qs.ELECTRICITY, 1), timed=1)
        assert session.image is not None
        calls = estimate_trace(trace, session.image.path, _forward_symbol(wire.MODEL_KINDS[run.info.kind].name))
    finally:
        session.close()
    assert len(calls) == 1, f"{len(calls)} calls of the forward kernel traced for one inference"
    return run.per_inference, calls[0], case.macs


def test_traced_call_is_the_timed_one_and_every_instruction_is_priced(hil_session: BoardSession, tmp_path, record):
    if hil_session.board.name != "qemu-stm32f4":
        pytest.skip("the estimate prices Cortex-M4 timings; it runs on the emulated STM32F4")
    counted8, est8, macs = _traced(tmp_path, "int8")
    counted32, est32, _ = _traced(tmp_path, "float32")
    for counted, est in ((counted8, est8), (counted32, est32)):
        assert 0 <= est.instructions - counted < 300, (est.instructions, counted)
        assert not est.unpriced, dict(est.unpriced)
    assert 1.0 < est8.cycles_per_instruction < 2.0 < est32.cycles_per_instruction
    record("m4_cycles_per_mac", est8.cycles / macs, "cycles/MAC", model=f"{qs.ELECTRICITY}:int8")
    record("m4_cycles_per_mac", est32.cycles / macs, "cycles/MAC", model=f"{qs.ELECTRICITY}:float32")
