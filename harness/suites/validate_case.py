"""The test ``python -m harness validate MODEL --dataset D`` runs: one model file, validated on the board under
test, through the ``validate_model`` fixture a user's own test calls the same way (docs/validate.md)."""

from __future__ import annotations

import pytest


def test_validate_model(request: pytest.FixtureRequest, validate_model) -> None:
    path = request.config.getoption("--hil-validate-model")
    dataset = request.config.getoption("--hil-validate-dataset")
    if not path or not dataset:
        pytest.skip("run by `python -m harness validate MODEL --dataset NAME|CSV`")
    validate_model(path, dataset=dataset, windows=request.config.getoption("--hil-validate-windows")).check()
