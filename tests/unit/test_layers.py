"""The layering of docs/architecture.md: importing a package loads only the packages it may use.

Each import runs in a fresh interpreter, so what other tests imported cannot hide an import that crosses a layer
(a reference model that pulls in the data store and pandas, say).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# module imported -> the harness packages it may bring in (besides itself)
ALLOWED = {
    "harness.defaults": set(),
    "harness.metrics": set(),
    "harness.link": set(),
    "harness.link_proxy": {"harness.link"},
    "harness.link_pacing": {"harness.link", "harness.link_proxy"},
    "harness.link_faults": {"harness.link", "harness.link_proxy"},
    "harness.proto.wire": set(),
    "harness.proto.client": {"harness.link"},
    "harness.models.lstm": {"harness.proto"},
    "harness.models.lstm_train": {"harness.proto"},
    "harness.models.dense": {"harness.proto"},
    "harness.models.esn": {"harness.metrics"},
    "harness.models.quant": {"harness.proto"},
    "harness.datasets": {"harness.defaults"},
    "harness.build": {"harness.defaults"},
    "harness.lab": {"harness.defaults"},
    "harness.flashing": {"harness.boards", "harness.build", "harness.defaults", "harness.lab"},
    "harness.boards": {"harness.build", "harness.defaults"},
    "harness.session": {
        "harness.boards",
        "harness.build",
        "harness.defaults",
        "harness.link",
        "harness.link_pacing",
        "harness.link_proxy",
        "harness.models",
        "harness.proto",
    },
    # model files -> models: the numpy references only; the frameworks are imported when a file is read or run
    "harness.importers": {"harness.models", "harness.proto"},
    "harness.triage": {"harness.models", "harness.proto"},
    "harness.suites.studies": {
        "harness.datasets",
        "harness.defaults",
        "harness.metrics",
        "harness.models",
        "harness.proto",
    },
    "harness.reporting.results": set(),
    "harness.reporting.baselines": set(),
    "harness.reporting.history": set(),
    "harness.reporting.html_report": {
        "harness.boards",
        "harness.build",
        "harness.defaults",
        "harness.link",
        "harness.proto",
    },
}
# Third-party packages a layer must not pull in.
HEAVY = {
    "harness.models.lstm": {"pandas", "serial"},
    "harness.models.lstm_train": {"pandas", "serial"},
    "harness.models.dense": {"pandas", "serial"},
    "harness.models.esn": {"pandas", "serial"},
    "harness.models.quant": {"pandas", "serial"},
    "harness.metrics": {"pandas", "serial"},
    "harness.proto.wire": {"pandas", "numpy"},
    "harness.importers": {"pandas", "serial", "onnx", "onnxruntime", "torch", "keras", "h5py", "tensorflow"},
    "harness.triage": {"pandas", "serial"},
}

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(m for m in sys.modules if m.startswith("harness.") or "." not in m)))
"""


def _loaded(module: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def _package(name: str) -> str:
    return ".".join(name.split(".")[:2])


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_a_layer_imports_only_what_it_may(module: str) -> None:
    loaded = _loaded(module)
    packages = {_package(m) for m in loaded if m.startswith("harness.")} - {_package(module)}
    assert packages <= ALLOWED[module], f"{module} imports {sorted(packages - ALLOWED[module])}"
    heavy = HEAVY.get(module, set()) & loaded
    assert not heavy, f"{module} imports {sorted(heavy)}"


def _module_imports() -> dict[str, set[str]]:
    """harness module -> the harness modules it imports when it is imported (top-level imports; those under
    ``if TYPE_CHECKING:`` and inside functions run later or never, so they cannot close a cycle at import time)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    modules = {
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (root / "harness").rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]  # fmt: skip
            found |= {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}
        graph[name] = found
    return graph


def test_no_import_cycle() -> None:
    graph = _module_imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    assert len(graph) > 50, "the harness modules were not found"
    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
