"""The plugin's markers checked at collection: a test that asks for a capability no firmware has would otherwise be
skipped on every board, silently, forever."""

from __future__ import annotations

import pytest


def check_hil_requires(items: list[pytest.Item]) -> None:
    """Every name in a ``hil_requires(...)`` marker is a capability HELLO can report; anything else is a usage
    error naming the test, the unknown names and the known ones."""
    from harness.proto.wire import CAPABILITY_NAMES

    bad = []
    for item in items:
        for marker in item.iter_markers("hil_requires"):
            unknown = [name for name in marker.args if name not in CAPABILITY_NAMES]
            if unknown:
                bad.append(f"{item.nodeid}: {', '.join(map(repr, unknown))}")
    if bad:
        raise pytest.UsageError(
            "hil_requires names capabilities no firmware reports:\n  " + "\n  ".join(bad)
            + f"\nknown capabilities: {', '.join(sorted(CAPABILITY_NAMES))} (harness/proto/wire.py CAPABILITY_NAMES)"
        )  # fmt: skip
