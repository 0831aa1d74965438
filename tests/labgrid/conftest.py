"""A real labgrid bench for these tests: tools/labgrid_standin.py's coordinator, exporter and boards on ptys, started
once for the session in a folder of its own (or the one running in $HIL_LG_STANDIN, as make test-labgrid passes).
Skipped, with the reason, when labgrid's venv is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.boards.labgrid_place import LABGRID_VENV
from harness.defaults import REPO_ROOT

STANDIN = REPO_ROOT / "tools" / "labgrid_standin.py"
PLACE = "hil-test-place"
STANDIN_ENV = "HIL_LG_STANDIN"  # a running stand-in's folder to use instead of starting one
QEMU_PLACE = "hil-test-qemu"


@dataclass(frozen=True)
class Bench:
    coordinator: str
    place: str
    folder: Path
    qemu_place: str = QEMU_PLACE

    @property
    def lab(self) -> Path:
        """The lab.toml with the row of the QEMU place (lg-stm32f4)."""
        return self.folder / "lab.toml"

    def client(self, *args: str, user: str = "hil-test-observer", place: str | None = None
               ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """labgrid-client as a person at the bench types it (another user than any run)."""
        env = {**os.environ, "LG_USERNAME": user}
        return subprocess.run([str(LABGRID_VENV / "bin" / "labgrid-client"), "-x", self.coordinator, "-p",
                               place or self.place, *args], capture_output=True, text=True, timeout=60, env=env,
                              check=False)  # fmt: skip


@pytest.fixture(scope="session")
def labgrid_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    for tool in ("labgrid-client", "labgrid-coordinator", "labgrid-exporter"):
        if not (LABGRID_VENV / "bin" / tool).is_file():
            pytest.skip(f"labgrid's venv is missing ({LABGRID_VENV / 'bin' / tool}): `make setup` installs it")
    given = os.environ.get(STANDIN_ENV)
    if given:  # make test-labgrid's stand-in, already running
        folder = Path(given).resolve()
        state = json.loads((folder / "standin.json").read_text())
        assert state.get("ready"), f"{STANDIN_ENV}={given}: the stand-in there is not ready: {state}"
        yield Bench(state["coordinator"], state["place"], folder, state["qemu_place"])
        return
    folder = tmp_path_factory.mktemp("labgrid")
    started = subprocess.run([sys.executable, str(STANDIN), "start", "--dir", str(folder), "--place", PLACE,
                              "--qemu-place", QEMU_PLACE, "--watch", str(os.getpid())], capture_output=True, text=True,
                             timeout=300, check=False)  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield Bench((folder / "coordinator.address").read_text().strip(), PLACE, folder)
    finally:
        subprocess.run([sys.executable, str(STANDIN), "stop", "--dir", str(folder)], timeout=60, check=False)


@pytest.fixture
def bench(labgrid_bench: Bench, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bench]:
    """The session's bench with LG_COORDINATOR set; its place is free before and after each test."""
    monkeypatch.setenv("LG_COORDINATOR", labgrid_bench.coordinator)
    places = (labgrid_bench.place, labgrid_bench.qemu_place)
    for place in places:
        assert "acquired: None" in labgrid_bench.client("show", place=place).stdout, f"{place} is held before the test"
    yield labgrid_bench
    for place in places:
        if "acquired: None" not in labgrid_bench.client("show", place=place).stdout:
            labgrid_bench.client("release", "--kick", place=place)  # free for the next test, whatever this one did
