"""Flashers: one module per way of getting an image onto a bench board (openocd, pyocd, gdb-remote, esptool,
none), each a :class:`Flasher` subclass with a ``name``, found by import like the board kinds."""

from __future__ import annotations

import importlib
import pkgutil

from harness.flashing.base import Flasher, FlashError, ToolRun

__all__ = ["FlashError", "Flasher", "ToolRun", "flashers", "get_flasher"]


def flashers() -> dict[str, type[Flasher]]:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    found: dict[str, type[Flasher]] = {}
    stack = list(Flasher.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        name = cls.__dict__.get("name")
        if name:
            if name in found and found[name] is not cls:
                raise FlashError(f"two flashers are named {name!r}: {found[name].__module__}, {cls.__module__}")
            found[name] = cls
    return dict(sorted(found.items()))


def get_flasher(name: str) -> Flasher:
    known = flashers()
    if name not in known:
        raise FlashError(f"unknown flasher {name!r}; flashers: {', '.join(known)} (harness/flashing/)")
    return known[name]()
