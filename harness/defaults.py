"""Defaults the harness, the pytest plugin and the CLI share: each is defined here and only here."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIRMWARE_DIR = REPO_ROOT / "firmware"
DEFAULT_BOARD = "qemu-stm32f4"
DEFAULT_REPORTS = REPO_ROOT / "reports"
DEFAULT_BASELINES = DEFAULT_REPORTS / "baselines"
# How many dataset windows a HIL test streams, by --hil-size / --size.
WINDOWS_BY_SIZE = {"quick": 6, "full": 48}
