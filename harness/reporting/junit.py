"""Test outcomes of a run, read from its junit.xml: outcome, failure class and retries per test."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.reporting.failure_classes import PROPERTY_ATTEMPTS, PROPERTY_CLASS, PROPERTY_REASON, PROPERTY_RETRIED

__all__ = ["JUNIT_FILE", "TestOutcome", "read_outcomes"]

JUNIT_FILE = "junit.xml"


@dataclass(frozen=True)
class TestOutcome:
    nodeid: str
    outcome: str  # passed, failed, error, skipped
    seconds: float
    message: str = ""  # first line of the failure, error or skip message
    failure_class: str = ""  # build, flash, link, board, data, model (failed and error only)
    reason: str = ""
    attempts: int = 1
    retried_after: str = ""


def _nodeid(case: ET.Element) -> str:
    name = case.get("name", "")
    path = case.get("file")
    classname = case.get("classname", "")
    if path:
        # a test in a class: classname ends with the class name after the module path
        module = path.removesuffix(".py").replace("/", ".")
        cls = classname.removeprefix(module).lstrip(".")
        return f"{path}::{cls + '::' if cls else ''}{name}"
    return f"{classname}::{name}"


def read_outcomes(run_dir: Path | str) -> list[TestOutcome]:
    """One outcome per testcase in ``run_dir/junit.xml`` (empty when the run wrote none)."""
    path = Path(run_dir) / JUNIT_FILE
    if not path.is_file():
        return []
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        outcome, message = "passed", ""
        for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            child = case.find(tag)
            if child is not None:
                outcome = name
                message = (child.get("message") or child.text or "").strip().splitlines()[0:1]
                message = message[0][:300] if message else ""
                break
        out.append(
            TestOutcome(
                nodeid=_nodeid(case),
                outcome=outcome,
                seconds=float(case.get("time", "0") or 0),
                message=message,
                failure_class=props.get(PROPERTY_CLASS, ""),
                reason=props.get(PROPERTY_REASON, ""),
                attempts=int(props.get(PROPERTY_ATTEMPTS, "1") or 1),
                retried_after=props.get(PROPERTY_RETRIED, ""),
            )
        )
    return out
