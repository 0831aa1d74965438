"""The public API in harness/__init__.py: every name resolves, and `import harness` imports no layer eagerly."""

from __future__ import annotations

import subprocess
import sys

import pytest

import harness


@pytest.mark.parametrize("name", harness.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(harness, name) is not None


def test_exports_and_all_agree() -> None:
    assert set(harness.__all__) == set(harness._EXPORTS) | set(harness._SUBMODULES)


def test_unknown_name_says_what_exists() -> None:
    with pytest.raises(AttributeError, match=r"public names: .*get_board"):
        harness.get_bord  # noqa: B018


def test_import_harness_is_cheap() -> None:
    """In a fresh interpreter, so other tests' imports do not hide an eager one."""
    code = "import sys, harness; print(sorted(m for m in sys.modules if m.startswith('harness.') or m == 'pandas'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
