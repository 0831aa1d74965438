"""Failures on a real board are classed by what broke: a link cut under a running board is a link failure, a board
whose process died is a board failure, and neither is ever the model's."""

from __future__ import annotations

import numpy as np
import pytest

from harness.models.lstm import LstmModel, to_blob
from harness.plugin import failures
from harness.reporting.failure_classes import Classification, FailureClass, classify

TINY = LstmModel.random(3, [4], 2, seed=1)


def _failure(request, fn) -> Classification:
    with pytest.raises(Exception) as failed:
        fn()
    # the evidence the plugin gathers for a failed test: board liveness, device text, the board's log
    return classify(failed.value, failures.evidence(request.node))


def test_link_cut_under_a_running_board_is_a_link_failure(request, hil_session, client) -> None:
    if hil_session.link_url is not None:
        pytest.skip("a board behind --hil-link is not ours to reconnect")
    client.load_model(to_blob(TINY))
    hil_session.port.close()  # the port goes away mid-test, as a pulled USB cable or a dead ser2net does
    try:
        found = _failure(request, lambda: client.infer(np.zeros((2, 3), np.float32)))
        assert found.failure_class is FailureClass.LINK, (found, failures.evidence(request.node))
    finally:
        hil_session.close_link()  # the next test opens a new link to the same, still running board


def test_killed_board_is_a_board_failure(request, hil_session, client) -> None:
    process = getattr(hil_session.board, "_proc", None)
    if process is None:
        pytest.skip(f"board {hil_session.board.name} is not a local process the test can kill")
    client.load_model(to_blob(TINY))
    process.proc.kill()  # the emulator or host firmware dies mid-test
    process.proc.wait()
    try:
        found = _failure(request, lambda: client.infer(np.zeros((2, 3), np.float32))).failure_class
        assert found is FailureClass.BOARD
        assert found.infrastructure and found.retryable
    finally:
        hil_session.close()  # stopped; the next test that needs the board starts it again
