"""harness.cycles: the Cortex-M4 price of a QEMU execution trace, on hand-made traces whose cycles are counted here
by hand from the price list."""

from __future__ import annotations

import pytest

from harness.cycles import REFILL, Insn, Symbols, base_mnemonic, estimate_calls, insn_cycles, is_branch


@pytest.mark.parametrize(
    ("mnemonic", "base"),
    [("ldr.w", "ldr"), ("bne", "b"), ("bne.n", "b"), ("movge", "mov"), ("adds", "add"), ("lsls", "lsl"),
     ("smlad", "smlad"), ("vfma.f32", "vfma"), ("bls", "b"), ("blt", "b"), ("bl", "bl"), ("teq", "teq"),
     ("vldmia", "vldmia"), ("pop", "pop"), ("subs.w", "sub"), ("movwge", "movw"), ("frobnicate", "frobnicate")],
)  # fmt: skip
def test_base_mnemonic(mnemonic: str, base: str) -> None:
    assert base_mnemonic(mnemonic) == base


def _i(text: str, addr: int = 0x100, size: int = 4) -> Insn:
    mnemonic, _, operands = text.partition(" ")
    return Insn(addr, size, mnemonic, operands.strip())


@pytest.mark.parametrize(
    ("text", "cycles"),
    [("smlad r0, r1, r2, r0", 1), ("mla r0, r1, r2, r3", 2), ("ldr r0, [r1]", 2), ("ldrd r0, r1, [r2], #8", 3),
     ("vfma.f32 s0, s1, s2", 3), ("vldmia r0!, {s0-s3}", 5), ("push {r4, r5, r6, r7, lr}", 6),
     ("vpush {d8-d15}", 17), ("vldr d0, [r0]", 3), ("sdiv r0, r1, r2", 7), ("str r0, [r1]", 1)],
)  # fmt: skip
def test_price_of_one_instruction(text: str, cycles: int) -> None:
    assert insn_cycles(_i(text)) == (cycles, True)


def test_a_load_after_a_load_and_a_taken_branch() -> None:
    assert insn_cycles(_i("ldr r0, [r1]"), after_load=True) == (1, True)
    assert insn_cycles(_i("str r0, [r1]"), after_load=True) == (1, True)
    assert insn_cycles(_i("bne 0x100"), taken=True) == (1 + REFILL, True)
    assert insn_cycles(_i("frobnicate r0")) == (1, False)
    assert is_branch(_i("pop {r4, pc}")) and not is_branch(_i("pop {r4, r5}")) and is_branch(_i("cbz r0, 0x10"))


def _block(lines: list[str]) -> list[str]:
    return ["----------------", "IN: f", *lines, ""]


def _exec(addr: int) -> str:
    return f"Trace 0: 0x7f0000000000 [00800400/{addr:08x}/00000110/ff020200] f"


def test_a_call_with_a_loop_is_priced_block_by_block() -> None:
    """caller -> kernel (a loop of three passes) -> back in caller. The kernel's blocks:
    0x200: push {r4, lr} (3); movs r4, #3 (1)                          entry
    0x204... loop at 0x206: ldr r0, [r1] (2); ldr r2, [r3] (2 - 1, after a load); smlad (1); subs (1); bne (1, +2 taken)
    0x212: pop {r4, pc} (3 + 2: a return is a taken branch)"""
    trace = [
        *_block(["0x00000100:  f000 f87e  bl       #0x200"]),
        *_block(["0x00000200:  b510       push     {r4, lr}", "0x00000202:  2403       movs     r4, #3"]),
        *_block([
            "0x00000206:  6808       ldr      r0, [r1]",
            "0x00000208:  681a       ldr      r2, [r3]",
            "0x0000020a:  fb20 5502  smlad    r5, r0, r2, r5",
            "0x0000020e:  3c01       subs     r4, #1",
            "0x00000210:  d1f9       bne      #0x206",
        ]),
        *_block(["0x00000212:  bd10       pop      {r4, pc}"]),
        *_block(["0x00000104:  2000       movs     r0, #0", "0x00000106:  4770       bx       lr"]),
    ]  # fmt: skip
    # translations come first; executions then run the call once
    order = [0x100, 0x200, 0x206, 0x206, 0x206, 0x212, 0x104]
    lines = [*trace, *(_exec(a) for a in order)]
    symbols = Symbols([(0x100, "caller"), (0x200, "kernel")])
    (call,) = estimate_calls(lines, symbols, "kernel")
    loop_taken = 2 + 1 + 1 + 1 + 1 + REFILL
    loop_last = 2 + 1 + 1 + 1 + 1
    assert call.instructions == 2 + 3 * 5 + 1
    assert call.cycles == (3 + 1) + 2 * loop_taken + loop_last + (3 + REFILL)
    assert call.by_function == {"kernel": [18, call.cycles]}
    assert not call.unpriced


def test_float_multiply_accumulates_are_counted_and_can_be_repriced() -> None:
    """A float loop body run twice: two VFMAs and a VMLA (3 cycles each in the manual) and a VADD (1) per pass."""
    trace = [
        *_block(["0x00000100:  f000 f87e  bl       #0x200"]),
        *_block([
            "0x00000200:  eea0 7a26  vfma.f32 s14, s0, s13",
            "0x00000204:  eee0 7aa6  vfma.f32 s15, s1, s13",
            "0x00000208:  ee00 7a26  vmla.f32 s14, s0, s13",
            "0x0000020c:  ee37 7a27  vadd.f32 s14, s14, s15",
        ]),
        *_block(["0x00000210:  4770       bx       lr"]),
        *_block(["0x00000104:  2000       movs     r0, #0"]),
    ]  # fmt: skip
    lines = [*trace, *(_exec(a) for a in [0x100, 0x200, 0x200, 0x210, 0x104])]
    (call,) = estimate_calls(lines, Symbols([(0x100, "caller"), (0x200, "kernel")]), "kernel")
    assert call.float_macs == 6
    assert call.cycles == 2 * (3 + 3 + 3 + 1) + (1 + REFILL)
    assert call.cycles_with_float_macs_at(1) == call.cycles - 6 * 2
    assert call.cycles_with_float_macs_at(3) == call.cycles


def test_a_block_left_before_its_first_instruction_is_not_counted() -> None:
    """-icount's budget ran out as the loop block was entered: QEMU logs the entry, then "Stopped execution of TB chain
    before ...", then enters it again. The loop ran twice, not three times."""
    trace = [
        *_block(["0x00000100:  f000 f87e  bl       #0x200"]),
        *_block(["0x00000200:  3c01       subs     r4, #1", "0x00000202:  d1fd       bne      #0x200"]),
        *_block(["0x00000204:  4770       bx       lr"]),
        *_block(["0x00000104:  2000       movs     r0, #0"]),
    ]  # fmt: skip
    stopped = "Stopped execution of TB chain before 0x7f0000000000 [00000200] kernel"
    lines = [*trace, _exec(0x100), _exec(0x200), _exec(0x200), stopped, _exec(0x200), _exec(0x204), _exec(0x104)]
    (call,) = estimate_calls(lines, Symbols([(0x100, "caller"), (0x200, "kernel")]), "kernel")
    assert call.instructions == 2 * 2 + 1
    assert call.cycles == (1 + 1 + REFILL) + (1 + 1) + (1 + REFILL)


def test_no_call_no_window_and_unknown_entry_is_an_error() -> None:
    symbols = Symbols([(0x100, "caller"), (0x200, "kernel")])
    lines = [*_block(["0x00000100:  2000       movs     r0, #0"]), _exec(0x100)]
    assert estimate_calls(lines, symbols, "kernel") == []
    with pytest.raises(KeyError, match="no function 'missing'"):
        estimate_calls(lines, symbols, "missing")
