"""``pytest --fixtures`` shows a docstring for every fixture the harness's plugin defines (issue 12): a user writing
a test of their own reads the fixtures there, not in the source."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from harness.defaults import REPO_ROOT

PLUGIN_FILES = [*sorted((REPO_ROOT / "harness" / "plugin").glob("*.py")), REPO_ROOT / "conftest.py"]
NO_DOC = "no docstring available"
# "name [session scope] -- path:line", then the docstring's lines indented by 4
_HEADER = re.compile(r"^(?P<name>\w+)(?: \[(?P<scope>\w+) scope\])? -- (?P<where>\S+):(?P<line>\d+)$")


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Attribute) and target.attr == "fixture") or (
        isinstance(target, ast.Name) and target.id == "fixture"
    )


def fixtures_in_source(files: list[Path]) -> dict[str, tuple[Path, bool]]:
    """``{fixture name: (file, has a docstring)}`` for every function decorated with ``pytest.fixture``."""
    found = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(map(_is_fixture, node.decorator_list)):
                found[node.name] = (path, bool((ast.get_docstring(node) or "").strip()))
    return found


def parse_fixtures_listing(text: str) -> dict[str, tuple[str, str]]:
    """``{fixture name: (file it is defined in, docstring as shown)}`` from the output of ``pytest --fixtures -v``."""
    listing: dict[str, tuple[str, str]] = {}
    name = where = None
    doc: list[str] = []
    for line in [*text.splitlines(), ""]:
        header = _HEADER.match(line)
        if header or not line.startswith("    "):
            if name is not None:
                listing[name] = (where or "", "\n".join(doc).strip())
            name, doc = None, []
            if header:
                name, where = header["name"], header["where"]
            continue
        if name is not None:
            doc.append(line.strip())
    return listing


def test_the_listing_parser_sees_a_missing_docstring() -> None:
    sample = (
        "-------- fixtures defined from harness.plugin.fixtures --------\n"
        "hil_run_dir [session scope] -- harness/plugin/fixtures.py:20\n"
        "    Session: this run's folder.\n\n"
        "undocumented -- harness/plugin/fixtures.py:99\n"
        f"    {NO_DOC}\n\n"
    )
    listing = parse_fixtures_listing(sample)
    assert listing == {
        "hil_run_dir": ("harness/plugin/fixtures.py", "Session: this run's folder."),
        "undocumented": ("harness/plugin/fixtures.py", NO_DOC),
    }


def test_every_plugin_fixture_has_a_docstring_in_the_source() -> None:
    found = fixtures_in_source(PLUGIN_FILES)
    assert {"hil_session", "client", "deploy", "record", "hil_windows"} <= set(found)
    missing = sorted(f"{name} ({path.relative_to(REPO_ROOT)})" for name, (path, doc) in found.items() if not doc)
    assert not missing, f"plugin fixtures without a docstring: {', '.join(missing)}"


def test_pytest_fixtures_shows_every_plugin_fixture_with_its_docstring(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-v", "-p", "no:cacheprovider",
         "--hil-report-dir", str(tmp_path / "reports"), "test_nothing.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    listing = parse_fixtures_listing(out.stdout)
    ours = {name: doc for name, (where, doc) in listing.items() if "harness/plugin/" in where}
    in_source = fixtures_in_source(PLUGIN_FILES)
    not_shown = sorted(set(in_source) - set(ours))
    assert not not_shown, f"plugin fixtures that pytest --fixtures does not list: {not_shown}\n{out.stdout[-3000:]}"
    undocumented = sorted(name for name, doc in ours.items() if not doc or doc == NO_DOC)
    assert not undocumented, f"pytest --fixtures shows no docstring for plugin fixtures: {', '.join(undocumented)}"
