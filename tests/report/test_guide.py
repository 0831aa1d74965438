"""docs/guide.md runs as written (issue 12): every fenced block, in order, in an empty folder outside the repository,
on the host board.

How a block is run is decided by the block itself:

- a block right after ``<!-- file: PATH -->`` is written to PATH (``<!-- append: PATH -->``: appended to it), in
  any language; PATH is relative to the working folder;
- otherwise a ``python`` block is executed, all of them in one namespace, as one Python session would;
- otherwise a ``sh`` block is run by bash (``-e``, in the working folder) with the repository's ``.venv/bin`` first
  on PATH, each in a fresh shell;
- any other block fails the test: the guide shows nothing that is not run.

A failing block fails the test naming its line in docs/guide.md (tracebacks of Python blocks carry the guide's own
line numbers). Then the runs the guide made are checked: exit status 0, rows of the user's model in results.csv,
report.html, and budgets of the user's own gating the last run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from harness.datasets import ENV_VAR, REPO_DATASETS
from harness.defaults import REPO_ROOT

GUIDE = REPO_ROOT / "docs" / "guide.md"
VENV_BIN = Path(sys.executable).parent
# what the guide makes: checked after it ran
USER_TEST = "test_my_model.py"
USER_MODEL = "nyc-lstm16"
USER_DATASET = "nyc_weather"
SH_TIMEOUT = 120

_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*(?P<mode>file|append):\s*(?P<path>\S+)\s*-->$")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    target: str | None = None  # PATH of a file/append marker
    append: bool = False

    @property
    def where(self) -> str:
        return f"docs/guide.md:{self.line}"


def parse_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the file marker on the nearest non-blank line above it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        start = i
        body = []
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"docs/guide.md:{start + 1}: the block opened here is never closed")
        above = next((lines[k].strip() for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        marker = _MARKER.match(above)
        blocks.append(
            Block(
                line=start + 1,
                lang=fence["lang"],
                code="\n".join(body) + "\n",
                target=marker["path"] if marker else None,
                append=bool(marker and marker["mode"] == "append"),
            )
        )
        i += 1
    return blocks


def _shell_env() -> dict[str, str]:
    """A user's shell: the repository's venv active, no dataset path or pytest options inherited from this run."""
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    return env


def run_block(block: Block, workdir: Path, namespace: dict[str, object]) -> str:
    """Run (or write) one block in ``workdir``; fail the test naming the block's line if it does not succeed."""
    if block.target is not None:
        path = workdir / block.target
        if Path(block.target).is_absolute() or ".." in Path(block.target).parts:
            pytest.fail(f"{block.where}: file marker {block.target!r} must be a path inside the working folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        if block.append:
            if not path.is_file():
                pytest.fail(f"{block.where}: appends to {block.target}, which no earlier step made")
            previous = path.read_text(encoding="utf-8")
            path.write_text(previous.rstrip("\n") + "\n\n" + block.code, encoding="utf-8")
        else:
            path.write_text(block.code, encoding="utf-8")
        return ""
    if block.lang == "python":
        # padded so the compiled code's line numbers are the guide's
        code = compile("\n" * block.line + block.code, str(GUIDE), "exec")
        try:
            exec(code, namespace)
        except Exception:
            pytest.fail(f"{block.where}: the python block raised\n{traceback.format_exc()}", pytrace=False)
        return ""
    if block.lang == "sh":
        if "harness run" in block.code and "--board host" not in block.code:
            pytest.fail(f"{block.where}: a run in the guide must use --board host (no emulator in this test)")
        try:
            out = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.code], cwd=workdir, env=_shell_env(),
                capture_output=True, text=True, timeout=SH_TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"{block.where}: the sh block did not finish in {SH_TIMEOUT} s\n{exc.stdout}\n{exc.stderr}",
                pytrace=False,
            )
        if out.returncode != 0:
            pytest.fail(
                f"{block.where}: the sh block exited with {out.returncode}\n--- stdout\n{out.stdout[-4000:]}\n"
                f"--- stderr\n{out.stderr[-4000:]}",
                pytrace=False,
            )
        return out.stdout
    pytest.fail(
        f"{block.where}: a ```{block.lang} block is neither run nor written; give it a python or sh language, or "
        "put <!-- file: PATH --> on the line above it"
    )


def test_parse_blocks_reads_languages_markers_and_lines() -> None:
    text = (
        "# t\n\n```python\nx = 1\n```\n\n<!-- file: a/b.toml -->\n```toml\nk = 1\n```\n"
        "<!-- append: a/b.toml -->\n\n```toml\nj = 2\n```\n```sh\necho hi\n```\n"
    )
    blocks = parse_blocks(text)
    assert [(b.line, b.lang, b.target, b.append) for b in blocks] == [
        (3, "python", None, False),
        (8, "toml", "a/b.toml", False),
        (13, "toml", "a/b.toml", True),
        (16, "sh", None, False),
    ]
    assert blocks[0].code == "x = 1\n"
    with pytest.raises(ValueError, match=r"docs/guide\.md:1: the block opened here is never closed"):
        parse_blocks("```python\nx = 1\n")


def test_a_failing_block_names_its_line_in_the_guide(tmp_path: Path) -> None:
    namespace: dict[str, object] = {}
    with pytest.raises(pytest.fail.Exception, match=r"docs/guide.md:7: the python block raised(.|\n)*line 9"):
        run_block(Block(7, "python", "x = 1\nraise ValueError('boom')\n"), tmp_path, namespace)
    with pytest.raises(pytest.fail.Exception, match=r"docs/guide.md:3: the sh block exited with 3"):
        run_block(Block(3, "sh", "exit 3\n"), tmp_path, namespace)
    with pytest.raises(pytest.fail.Exception, match=r"docs/guide.md:5: a ```text block is neither run nor written"):
        run_block(Block(5, "text", "output\n"), tmp_path, namespace)


def test_the_guide_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "walkthrough"
    work.mkdir()
    assert not work.resolve().is_relative_to(REPO_ROOT.resolve())
    monkeypatch.chdir(work)
    monkeypatch.delenv(ENV_VAR, raising=False)  # the guide sets it; restored after the test
    blocks = parse_blocks(GUIDE.read_text(encoding="utf-8"))
    assert {b.lang for b in blocks} >= {"python", "sh", "toml"}
    namespace: dict[str, object] = {"__name__": "__guide__"}
    outputs = [run_block(block, work, namespace) for block in blocks]

    # the dataset is the guide's own, not one the repository ships
    assert (work / "mydata" / USER_DATASET / "manifest.toml").is_file()
    assert not (REPO_DATASETS / USER_DATASET).exists()
    # the user's test file lives outside the repository, and the runs ran it
    assert (work / USER_TEST).is_file()
    runs = sorted(p for p in (work / "reports").iterdir() if p.name != "history")
    started = [line for out in outputs for line in out.splitlines() if line.startswith("HIL run ")]
    assert len(runs) == len(started) >= 2, f"run folders {runs}, runs started {started}"
    for run_dir in runs:
        assert str(work / USER_TEST) in next(s for s in started if run_dir.name in s)
        meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        assert meta["exit_status"] == 0, meta
        rows = pd.read_csv(run_dir / "results.csv")
        assert set(rows["model"]) == {USER_MODEL}
        assert set(rows["board"]) == {"host"}
        assert rows["test"].str.contains(USER_TEST).all()
        summary = rows[rows["sample"].isna()].set_index("metric")["value"]
        assert {"max_abs_err_vs_ref", "forecast_rmse_degC", "model_bytes"} <= set(summary.index)
        assert summary["max_abs_err_vs_ref"] <= 1e-6
        assert (rows["metric"] == "output_device").sum() == 6  # --size quick
        assert (run_dir / "report.html").stat().st_size > 0
        assert (run_dir / "junit.xml").is_file()
    # the last run was gated by the user's budgets: accepted ones and the hand-written one
    budgets = (runs[-1] / "baselines" / "host.toml").read_text(encoding="utf-8")
    for metric in ("max_abs_err_vs_ref", "model_bytes", "forecast_rmse_degC"):
        assert f'metric = "{metric}"' in budgets
    assert "budgets: 3 pass" in outputs[-1], outputs[-1]
