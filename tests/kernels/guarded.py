"""Memory for kernels called through ctypes, with canary bytes around it to catch writes out of bounds."""

from __future__ import annotations

import numpy as np

GUARD = 64
CANARY = 0xA5


class Guarded:
    """``nbytes`` of memory (numpy data is at least 16-byte aligned) between GUARD canary bytes on both sides."""

    def __init__(self, nbytes: int, fill: int = CANARY) -> None:
        self.nbytes = nbytes
        self.raw = np.full(GUARD + nbytes + GUARD, CANARY, np.uint8)
        self.raw[GUARD : GUARD + nbytes] = fill

    @classmethod
    def of(cls, values: np.ndarray) -> Guarded:
        arr = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
        g = cls(4 * arr.size)
        g.floats()[:] = arr
        return g

    @property
    def ptr(self) -> int:
        return self.raw.ctypes.data + GUARD

    @property
    def body(self) -> np.ndarray:
        return self.raw[GUARD : GUARD + self.nbytes]

    def view(self, dtype: type) -> np.ndarray:
        return self.body.view(dtype)

    def floats(self) -> np.ndarray:
        return self.body.view(np.float32)

    def assert_guards_intact(self, what: str) -> None:
        before = np.flatnonzero(self.raw[:GUARD] != CANARY)
        after = np.flatnonzero(self.raw[GUARD + self.nbytes :] != CANARY)
        assert before.size == 0, f"{what}: bytes written {GUARD - before[0]} before the buffer"
        assert after.size == 0, f"{what}: bytes written {after[-1] + 1} past the end of the buffer"


def aligned_copy(data: bytes, misalign: int = 0) -> tuple[np.ndarray, int]:
    """A copy of ``data`` at an address that is 4-byte aligned plus ``misalign``; keep the array alive."""
    raw = np.zeros(len(data) + 8, np.uint8)
    start = (-raw.ctypes.data) % 4 + misalign
    raw[start : start + len(data)] = np.frombuffer(data, np.uint8)
    return raw, raw.ctypes.data + start
