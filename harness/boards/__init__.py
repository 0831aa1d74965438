"""Board registry: every Board subclass with a class-level `name` in this package's modules, found by import.
A bench board (boards/bench.py) has none: it is made per lab.toml row by get_board(row, lab=...)."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from harness.boards.base import Board, BoardError, BoardOptions, BoardState

if TYPE_CHECKING:
    from harness.lab import Lab

__all__ = ["Board", "BoardError", "BoardOptions", "BoardState", "board_kinds", "get_board"]


def board_kinds() -> dict[str, type[Board]]:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    found: dict[str, type[Board]] = {}
    stack = list(Board.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        name = getattr(cls, "name", None)
        if name:
            if name in found and found[name] is not cls:
                raise BoardError(f"two board kinds are named {name!r}: {found[name].__module__}, {cls.__module__}")
            found[name] = cls
    return dict(sorted(found.items()))


def get_board(name: str, options: BoardOptions | None = None, *, lab: Lab | None = None) -> Board:
    """The board kind ``name``, or the bench board of row ``name`` in ``lab`` (lab.toml)."""
    kinds = board_kinds()
    if name in kinds:
        return kinds[name](options)
    if lab is not None and name in lab.rows:
        from harness.boards.bench import BenchBoard

        if lab.rows[name].place:  # its serial port is a labgrid place's, acquired for the run
            from harness.boards.labgrid_place import PlaceBenchBoard

            return PlaceBenchBoard(lab.rows[name], options)
        return BenchBoard(lab.rows[name], options)
    rows = f"; rows of {lab.path}: {', '.join(lab.rows) or 'none'}" if lab is not None else ""
    raise BoardError(f"unknown board {name!r}; known boards: {', '.join(kinds)}{rows} (python -m harness boards)")
