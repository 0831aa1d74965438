"""What one pytest run keeps in ``config.stash``: the keys, defined once so the plugin's modules share state
without importing each other."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.reporting.baselines import BudgetBook, Verdict
    from harness.session import BoardSession

RUN_DIR_KEY = pytest.StashKey[Path]()  # this run's folder; made on first use, so a run with no HIL test makes none
USED_KEY = pytest.StashKey[bool]()  # a test wrote into the run folder
OWN_JUNIT_KEY = pytest.StashKey[bool]()  # junit.xml path chosen by us (into the run folder), not by the user
WRITER_KEY = pytest.StashKey["ResultsWriter"]()
SESSIONS_KEY = pytest.StashKey[dict[str, "BoardSession"]]()  # open board sessions by board name
BOOKS_KEY = pytest.StashKey[dict[str, "BudgetBook | None"]]()
VERDICTS_KEY = pytest.StashKey[list["Verdict"]]()
FAILURES_KEY = pytest.StashKey[dict[str, tuple[str, str]]]()  # nodeid -> (failure class, reason)
EVIDENCE_KEY = pytest.StashKey[dict]()  # nodeid -> where board logs and device text stood when the test began
DEVICE_TEXT_KEY = pytest.StashKey[list[str]]()  # text lines the devices sent (banner, HIL-FAULT)
