"""read_outcomes: one TestOutcome per testcase of a junit.xml that pytest itself wrote, with our properties."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.reporting.junit import read_outcomes

pytest_plugins = ["pytester"]


@pytest.fixture
def outcomes(pytester: pytest.Pytester, tmp_path: Path):
    pytester.makepyfile(
        test_inner="""
import pytest

def test_passes():
    pass

def test_fails():
    assert 1 == 2, "one is not two"

@pytest.mark.skip(reason="not on this board")
def test_skipped():
    pass

class TestGroup:
    def test_in_a_class(self):
        pass
"""
    )
    junit = tmp_path / "out"
    pytester.runpytest("-p", "no:cacheprovider", f"--junitxml={junit / 'junit.xml'}", "-o", "junit_family=xunit1")
    return {o.nodeid.split("::", 1)[1]: o for o in read_outcomes(junit)}


def test_outcomes_messages_and_failure_class(outcomes) -> None:
    assert set(outcomes) == {"test_passes", "test_fails", "test_skipped", "TestGroup::test_in_a_class"}
    assert outcomes["test_passes"].outcome == "passed" and outcomes["test_passes"].failure_class == ""
    failed = outcomes["test_fails"]
    assert failed.outcome == "failed" and "one is not two" in failed.message
    assert failed.failure_class == "model" and failed.attempts == 1  # a plain assertion is a finding, not the bench
    assert outcomes["test_skipped"].outcome == "skipped" and "not on this board" in outcomes["test_skipped"].message
    assert outcomes["TestGroup::test_in_a_class"].outcome == "passed"


def test_a_run_without_junit_has_no_outcomes(tmp_path: Path) -> None:
    assert read_outcomes(tmp_path) == []
