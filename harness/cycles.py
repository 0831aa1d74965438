"""Cortex-M4 cycles of what QEMU executed.

QEMU under ``-icount shift=0`` counts every instruction as one, which is exact for instructions and blind to what they
cost: a VLDM of four registers takes five cycles on a Cortex-M4, a VFMA three, an SMLAD one. This module prices the
instruction stream QEMU actually executed (its ``-d exec,nochain,in_asm`` trace: every translated block once, then
every execution of a block in order) with the Cortex-M4's instruction timings (Arm's Cortex-M4 Technical Reference
Manual, "Processor instruction timings"), so a kernel's gain in instructions can be checked for a loss in cycles.

The price list (``CYCLES``) is the manual's, with these simplifications, all written where they are applied: memory
has no wait states (flash at zero wait states, or an accelerator that always hits); a load that follows a load costs
one cycle less (the manual's pipelining rule, without its register-dependency exception); a taken branch adds a
refill of two cycles; an instruction skipped inside an IT block still costs one; SDIV/UDIV cost 7 (the manual gives
2 to 12 by operand size); exception entry and exit are not priced. It is an estimate, not a measurement: on a real
board DWT's CYCCNT is the measurement (the nucleo-f401re port reports it in HELLO).
"""

from __future__ import annotations

import bisect
import re
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Base mnemonics (no .w/.n width, no condition, no S flag) and their cycles when not a taken branch.
_ONE = str.split(
    "adc add adr and asr bic bfc bfi clz cmn cmp cpsid cpsie dmb dsb eor isb it ite itt itee itet itte ittt iteee "
    "iteet itete itett ittee ittet ittte itttt lsl lsr mov movt movw mul mvn neg nop orn orr rbit rev rev16 revsh ror "
    "rrx rsb sbc sbfx sub sxtb sxth teq tst ubfx uxtb uxth sxtb16 sxtab16 sxtab sxtah uxtb16 uxtab16 uxtab uxtah "
    "pkhbt pkhtb ssat usat ssat16 usat16 qadd qsub qdadd qdsub qadd16 qsub16 qadd8 qsub8 sadd16 ssub16 sadd8 ssub8 "
    "uadd16 usub16 uadd8 usub8 shadd16 shsub16 uhadd16 uhsub16 sel usad8 usada8 "
    "smull umull smlal umlal smlad smladx smlsd smlsdx smuad smuadx smusd smusdx smlald smlaldx smlsld smlsldx "
    "smlabb smlabt smlatb smlatt smulbb smulbt smultb smultt smulwb smulwt smlawb smlawt smlalbb smlalbt smlaltb "
    "smlaltt smmul smmulr smmla smmlar smmls smmlsr umaal "
    "b bl bx blx cbz cbnz str strb strh "
    "vadd vsub vmul vnmul vneg vabs vcmp vcmpe vcvt vcvtr vmov vmrs vmsr"
)
# The float multiply-accumulates: 3 cycles each in the manual, the price most open to doubt (Estimate.float_macs).
_FLOAT_MACS = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
CYCLES: dict[str, int] = dict.fromkeys(_ONE, 1)
CYCLES.update(
    {
        "mla": 2, "mls": 2,  # 32-bit multiply-accumulate: two cycles (the long and DSP ones take one)
        "sdiv": 7, "udiv": 7,  # 2..12 by operand size; the middle
        "ldr": 2, "ldrb": 2, "ldrh": 2, "ldrsb": 2, "ldrsh": 2, "ldrex": 2, "strex": 2,
        "ldrd": 3, "strd": 3,  # 1 + N, N = 2 words
        "vldr": 2, "vstr": 2,  # single precision; a d register moves two words (+1, below)
        "vdiv": 14, "vsqrt": 14,
        "tbb": 5, "tbh": 5,  # load, add, refill
        **dict.fromkeys(_FLOAT_MACS, 3),
    }
)  # fmt: skip
# 1 + N (words moved)
_MULTIPLE = {"ldm", "ldmia", "ldmfd", "ldmdb", "stm", "stmia", "stmea", "stmdb", "stmfd", "push", "pop", "vldm",
             "vldmia", "vldmdb", "vstm", "vstmia", "vstmdb", "vpush", "vpop"}  # fmt: skip
_SINGLE_LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "vldr"}
_SINGLE_ACCESS = _SINGLE_LOADS | {"str", "strb", "strh", "vstr"}
_BRANCHES = {"b", "bl", "bx", "blx", "cbz", "cbnz"}
_CONDITIONS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al")
REFILL = 2  # cycles a taken branch adds (the manual's P: 1 to 3)


@dataclass(frozen=True)
class Insn:
    addr: int
    size: int
    mnemonic: str  # as disassembled, e.g. "ldr.w", "bne", "vfma.f32"
    operands: str

    @property
    def base(self) -> str:
        return base_mnemonic(self.mnemonic)


def base_mnemonic(mnemonic: str) -> str:
    """``ldr.w`` -> ``ldr``, ``bne`` -> ``b``, ``movge`` -> ``mov``, ``adds`` -> ``add``; unknown ones unchanged."""
    m = mnemonic.lower().split(".")[0]
    if m in CYCLES or m in _MULTIPLE:
        return m
    candidates = []  # a condition first ("bls" is b + ls, not bl + s), then the S flag ("lsls" is lsl + s)
    for cond in _CONDITIONS:
        if m.endswith(cond):
            stem = m[: -len(cond)]
            candidates += [stem, stem[:-1]] if stem.endswith("s") else [stem]
    if m.endswith("s"):
        candidates.append(m[:-1])
    for c in candidates:
        if c in CYCLES or c in _MULTIPLE:
            return c
    return m


def _words(operands: str) -> int:
    """Words a load/store-multiple moves: registers in its list, d registers counting two."""
    inside = operands[operands.find("{") + 1 : operands.find("}")]
    words = 0
    for part in inside.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        count = int(hi.strip()[1:]) - int(lo[1:]) + 1 if hi else 1
        words += count * (2 if lo.startswith("d") else 1)
    return words


def is_branch(insn: Insn) -> bool:
    """Whether the instruction may send the flow elsewhere (the last of a translated block, when it does)."""
    base = insn.base
    if base in _BRANCHES:
        return True
    return (base in ("pop", "ldm", "ldmia", "ldmfd") and "pc" in insn.operands) or (
        base == "ldr" and insn.operands.replace(" ", "").startswith("pc,")
    )


def insn_cycles(insn: Insn, *, after_load: bool = False, taken: bool = False) -> tuple[int, bool]:
    """(cycles, priced): one executed instruction's cycles; priced is False for a mnemonic not in the table (1)."""
    base = insn.base
    if base in _MULTIPLE:
        cycles, priced = 1 + _words(insn.operands), True
    elif base in CYCLES:
        cycles, priced = CYCLES[base], True
        if base in ("vldr", "vstr") and insn.operands.lstrip().startswith("d"):
            cycles += 1
        if after_load and base in _SINGLE_ACCESS and base not in ("str", "strb", "strh"):
            cycles -= 1  # pipelined behind the load before it
    else:
        cycles, priced = 1, False
    if taken:
        cycles += REFILL
    return cycles, priced


@dataclass
class Estimate:
    """One execution window: instructions QEMU executed and the cycles a Cortex-M4 would take for them."""

    instructions: int = 0
    cycles: int = 0
    unpriced: Counter[str] = field(default_factory=Counter)  # mnemonics priced at one cycle for want of an entry
    float_macs: int = 0  # VFMA, VMLA and kin executed: the manual's 3 cycles each is the price most open to doubt
    by_function: dict[str, list[int]] = field(default_factory=dict)  # name -> [instructions, cycles]

    @property
    def cycles_per_instruction(self) -> float:
        return self.cycles / self.instructions if self.instructions else 0.0

    def cycles_with_float_macs_at(self, cycles_each: int) -> int:
        """The estimate had each float multiply-accumulate cost `cycles_each` instead of the manual's 3."""
        return self.cycles - (CYCLES["vfma"] - cycles_each) * self.float_macs

    def add(self, function: str, instructions: int, cycles: int) -> None:
        self.instructions += instructions
        self.cycles += cycles
        slot = self.by_function.setdefault(function, [0, 0])
        slot[0] += instructions
        slot[1] += cycles


class Symbols:
    """Function names of an ELF by address (``arm-none-eabi-nm``)."""

    def __init__(self, pairs: Iterable[tuple[int, str]]) -> None:
        ordered = sorted(pairs)
        self._addrs = [a for a, _ in ordered]
        self._names = [n for _, n in ordered]

    @classmethod
    def from_elf(cls, elf: Path, nm: str = "arm-none-eabi-nm") -> Symbols:
        out = subprocess.run([nm, "-n", str(elf)], capture_output=True, text=True, check=True).stdout
        pairs = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "tTwW":
                pairs.append((int(parts[0], 16) & ~1, parts[2]))
        return cls(pairs)

    def address(self, name: str) -> int:
        try:
            return self._addrs[self._names.index(name)]
        except ValueError:
            raise KeyError(f"no function {name!r} in the image's symbols") from None

    def function(self, addr: int) -> str:
        i = bisect.bisect_right(self._addrs, addr) - 1
        return self._names[i] if i >= 0 else "?"


_INSN = re.compile(r"^0x([0-9a-f]{8}):\s+([0-9a-f]{4}(?: [0-9a-f]{4})?)\s{2,}(\S+)\s*(.*)$")
_EXEC = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
_STOPPED = re.compile(r"^Stopped execution of TB chain before 0x[0-9a-f]+ \[([0-9a-f]+)\]")


def executed_blocks(lines: Iterable[str]) -> Iterator[list[Insn]]:
    """The blocks QEMU executed, in order, each as the instructions of its latest translation.

    QEMU logs a block as it enters it, and a block can be left before its first instruction: when the 16-bit
    instruction budget of -icount runs out (every 65,535 instructions) or an exit is requested. QEMU then logs
    "Stopped execution of TB chain before ... [pc]" and enters the block again; the first entry ran nothing and is
    dropped here. Counting it cost up to one block per 65,535 instructions (about 0.15% at 90-instruction blocks)."""
    blocks: dict[int, list[Insn]] = {}
    current: list[Insn] | None = None
    entered: list[Insn] | None = None  # the block logged last, yielded once the next line shows it ran
    for line in lines:
        if line.startswith("IN:"):
            current = []
            continue
        if current is not None:
            m = _INSN.match(line)
            if m:
                size = 2 * len(m.group(2).split())
                current.append(Insn(int(m.group(1), 16), size, m.group(3), m.group(4)))
                continue
            if current:
                blocks[current[0].addr] = current
            current = None
        m = _EXEC.match(line)
        if m:
            if entered is not None:
                yield entered
            entered = blocks.get(int(m.group(1), 16))
            continue
        m = _STOPPED.match(line)
        if m and entered is not None and entered[0].addr == int(m.group(1), 16):
            entered = None
    if entered is not None:
        yield entered


def estimate_calls(lines: Iterable[str], symbols: Symbols, entry: str) -> list[Estimate]:
    """One Estimate per call of function ``entry``: from its first block to the first block back in its caller (the
    function that ran the block before the call), callees and interrupts in between included."""
    start = symbols.address(entry)
    windows: list[Estimate] = []
    active: Estimate | None = None
    caller = ""
    previous_function = ""
    pending: list[Insn] | None = None  # the block before: its last branch is taken unless this block follows it

    def settle(block: list[Insn], next_addr: int | None) -> None:
        assert active is not None
        cycles = 0
        after_load = False
        for i, insn in enumerate(block):
            last = i == len(block) - 1
            taken = last and is_branch(insn) and next_addr is not None and next_addr != insn.addr + insn.size
            c, priced = insn_cycles(insn, after_load=after_load, taken=taken)
            if not priced:
                active.unpriced[insn.mnemonic] += 1
            if insn.base in _FLOAT_MACS:
                active.float_macs += 1
            cycles += c
            after_load = insn.base in _SINGLE_LOADS
        active.add(symbols.function(block[0].addr), len(block), cycles)

    for block in executed_blocks(lines):
        addr = block[0].addr
        function = symbols.function(addr)
        if active is not None and pending is not None:
            settle(pending, addr)
            pending = None
        if active is None and addr == start:
            active, caller = Estimate(), previous_function
        elif active is not None and function == caller:
            windows.append(active)
            active = None
        if active is not None:
            pending = block
        previous_function = function
    if active is not None and pending is not None:
        settle(pending, None)
    return windows


def estimate_trace(path: Path, elf: Path, entry: str) -> list[Estimate]:
    with path.open(errors="replace") as lines:
        return estimate_calls(lines, Symbols.from_elf(elf), entry)
