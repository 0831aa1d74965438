"""Model files -> device models: ONNX, TFLite, Keras and PyTorch files, each mapped by the module here that
claims the file's suffix, with the file's own framework as the reference (``docs/validate.md``).

Every module in this package that defines ``SUFFIXES``, ``FORMAT``, ``load(path)`` and ``reference(path)`` is an
importer; they are discovered, not listed. Importers need the framework packages of their format (the ``validate``
extra of ``pyproject.toml``); each says which one is missing.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

from harness.importers.base import (
    DeviceModel,
    FrameworkMissing,
    ImportedModel,
    ImportRefused,
    Reference,
    finish,
)

__all__ = [
    "DeviceModel",
    "FrameworkMissing",
    "ImportRefused",
    "ImportedModel",
    "Reference",
    "finish",
    "importers",
    "load_model",
    "reference_for",
]


@functools.cache
def importers() -> dict[str, ModuleType]:
    """Suffix -> importer module."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for suffix in getattr(module, "SUFFIXES", ()):
            found[suffix] = module
    return found


def _importer(path: Path) -> ModuleType:
    module = importers().get(path.suffix.lower())
    if module is None:
        known = ", ".join(sorted(importers()))
        raise ImportRefused(f"{path}: no importer for {path.suffix or 'a file without a suffix'!r}; known: {known}")
    return module


def load_model(path: str | Path) -> ImportedModel:
    """The device model a file holds, or ImportRefused naming what cannot be mapped and where."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    return _importer(path).load(path)


def reference_for(path: str | Path) -> Reference:
    """The file's own framework, ready to run the file."""
    return _importer(Path(path)).reference(Path(path))
