"""Board registry: every Board subclass with a `name` in this package's modules, found by import."""

from __future__ import annotations

import importlib
import pkgutil

from harness.boards.base import Board, BoardError, BoardOptions, BoardState

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


def get_board(name: str, options: BoardOptions | None = None) -> Board:
    kinds = board_kinds()
    if name not in kinds:
        raise BoardError(f"unknown board {name!r}; known boards: {', '.join(kinds)} (python -m harness boards)")
    return kinds[name](options)
