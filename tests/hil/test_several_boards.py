"""hil_boards: a test that needs more than one board gets them, each with its own client, and loses none of them
when it fails: the boards are stopped after the test, pass or fail."""

from __future__ import annotations

import numpy as np
import pytest

from harness.models.lstm import LstmModel, forward
from harness.session import BoardSession

MODELS = (LstmModel.random(3, [8], 1, seed=21), LstmModel.random(3, [12], 2, seed=22))
_left: list[BoardSession] = []  # the boards of the test below, for the check after it


def test_two_boards_each_run_their_own_model(hil_boards) -> None:
    boards = hil_boards(2)
    assert len(boards) == 2 and boards[0].board is not boards[1].board
    assert boards[0].board.url != boards[1].board.url, "two boards on one link"
    x = np.random.default_rng(23).standard_normal((10, 3)).astype(np.float32)
    for session, model in zip(boards, MODELS, strict=True):
        dep = session.deploy_lstm(model, where="arena")
        # float32 on both sides, different summation order: a few ulp (tests/hil/test_lstm_inference measures them)
        np.testing.assert_allclose(dep.client.infer(x).outputs, forward(model, x), atol=1e-6)
    # each answers with its own model still bound: one board's upload did not land on the other
    assert [s.client.infer(x).outputs.shape for s in boards] == [(1,), (2,)]
    _left.extend(boards)


def test_the_boards_of_a_test_are_stopped_after_it() -> None:
    if not _left:
        pytest.skip("the test above did not get its boards")
    states = {s.board.name: (s.board.alive(), s.client) for s in _left}
    assert all(alive in (False, None) and client is None for alive, client in states.values()), states
