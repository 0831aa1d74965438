"""An LSTM split by layer over two boards joined by a UART (harness.suites.distributed): board A runs the first
layer and forwards each step's h to board B over the board-to-board link in our framing; B runs the second layer and
the head. On qemu-stm32f4 both are the peer-link image and QEMU joins their USART2s. What it must show: the split
answers what the unsplit model answers (the same bits as one board running the whole model), the figures of each
board and of the link per step, a model that fits two boards' RAM but not one's, and a silent peer reported as a
link failure in bounded time."""

from __future__ import annotations

import time

import numpy as np
import pytest

from harness.models.lstm import LstmModel, forward
from harness.plugin import run_folder
from harness.proto.client import DeviceError, PeerLinkError
from harness.proto.wire import Status
from harness.reporting import failure_classes
from harness.suites import distributed
from tests.hil.models import beijing_test_hours
from tests.hil.test_lstm_inference import ATOL

STEPS = 24
WINDOWS = 8
SMALL = distributed.FITS_ONE  # compared with one board running it whole
LARGE = distributed.FITS_ONLY_SPLIT  # more than the 78-80 KB arena of one 96 KB board
PEER_TIMEOUT_S = 2.0  # HIL_PEER_TIMEOUT_MS of firmware/include/hil/hil_config.h


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    return beijing_test_hours(STEPS * WINDOWS).reshape(WINDOWS, STEPS, 7)


@pytest.fixture
def pair(hil_session, request):
    name = hil_session.board.name
    if name not in distributed.PEER_BOARDS:
        pytest.skip(f"{name} has no board-to-board link; the split runs on {', '.join(distributed.PEER_BOARDS)}")
    with distributed.board_pair(name, log_dir=run_folder.boards_dir(request.config)) as p:
        yield p


def _record_figures(record, f: distributed.SplitFigures, model: str) -> None:
    kw = {"model": model, "dataset": "beijing_pm"}
    record("split_max_abs_error", f.max_abs_error, "1", **kw)
    record("split_lower_instructions_per_step", f.lower_instructions_per_step, "instructions", **kw)
    record("split_upper_instructions_per_step", f.upper_instructions_per_step, "instructions", **kw)
    record("split_link_bytes_per_step_to_upper", f.link_bytes_per_step_to_upper, "B", **kw)
    record("split_link_bytes_per_step_to_lower", f.link_bytes_per_step_to_lower, "B", **kw)
    record("split_latency_ms", f.latency_s * 1e3, "ms", **kw)
    record("split_lower_arena_used", f.lower_arena_used, "B", **kw)
    record("split_upper_arena_used", f.upper_arena_used, "B", **kw)
    if f.single_instructions_per_step is not None:
        record("split_single_instructions_per_step", f.single_instructions_per_step, "instructions", **kw)
        record("split_single_latency_ms", (f.single_latency_s or 0.0) * 1e3, "ms", **kw)


def test_a_split_lstm_answers_what_one_board_answers(pair, windows, record) -> None:
    # the upper board also runs the whole model alone, so the comparison is the same image and kernels
    f = distributed.measure(pair, SMALL, windows, single=pair.upper.client)
    print(f)
    _record_figures(record, f, "lstm32x32_split")
    # the same float32 kernels in the same order, one step per call: the same bits as the whole model on one board
    assert f.single_board_max_diff == 0.0, f
    assert f.max_abs_error <= ATOL, f  # and the single board's tolerance against the numpy reference
    # each board's own layers: together what one board spends, plus a per-step call's overhead (measured ~1.2 %)
    assert f.single_instructions_per_step is not None
    both = f.lower_instructions_per_step + f.upper_instructions_per_step
    assert f.single_instructions_per_step <= both <= 1.05 * f.single_instructions_per_step, f
    # bytes per step on the link: a one-step INFER with 32 floats up (140 B framed), a 1-float answer down
    assert 4 * 32 < f.link_bytes_per_step_to_upper < 4 * 32 + 32, f
    assert 0 < f.link_bytes_per_step_to_lower < 40, f


def test_a_model_too_big_for_one_board_runs_split(pair, windows, record) -> None:
    refusal = distributed.refuses_whole(pair.upper.client, LARGE)
    print(refusal)
    f = distributed.measure(pair, LARGE, windows)
    print(f)
    _record_figures(record, f, "lstm64x32_split")
    record("split_whole_model_bytes", f.whole_model_bytes, "B", model="lstm64x32_split", dataset="beijing_pm")
    assert f.whole_model_bytes > f.arena_bytes, f
    assert max(f.lower_arena_used, f.upper_arena_used) <= f.arena_bytes, f
    assert f.max_abs_error <= ATOL, f
    assert np.isclose(
        forward(LARGE, windows[:1])[0], pair.lower.client.infer(windows[0], forward=True).outputs, rtol=0, atol=ATOL
    ).all()


def test_a_silent_peer_is_a_link_failure_in_bounded_time(pair, windows) -> None:
    lower_blob, _ = distributed.split(SMALL, 1)
    lower = pair.lower.client
    lower.load_model(lower_blob)
    pair.upper.board.stop()
    t0 = time.monotonic()
    with pytest.raises(PeerLinkError) as info:
        lower.infer(windows[0], forward=True)
    waited = time.monotonic() - t0
    assert "HELLO" in str(info.value) or "silent" in str(info.value), info.value
    # QEMU's virtual clock runs while the board sleeps, slower than the wall; a hang would be the 120 s INFER timeout
    assert waited < 10 * PEER_TIMEOUT_S, f"waited {waited:.1f} s for a silent peer"
    verdict = failure_classes.classify(info.value, failure_classes.Evidence())
    assert verdict.failure_class is failure_classes.FailureClass.LINK, verdict


def test_forward_without_a_peer_link_is_refused(hil_session, windows) -> None:
    client = hil_session.open()
    lower_blob, _ = distributed.split(SMALL, 1)
    client.load_model(lower_blob)
    h = client.infer(windows[0]).outputs  # a head-less model answers its last layer's h
    assert h.shape == (32,)
    np.testing.assert_allclose(h, forward(LstmModel(SMALL.layers[:1], np.eye(32), np.zeros(32)), windows[0]),
                               rtol=0, atol=ATOL)  # fmt: skip
    with pytest.raises(DeviceError) as info:
        client.infer(windows[0], forward=True)
    assert info.value.status == Status.HIL_ERR_BAD_REQUEST and "peer link" in info.value.reason, info.value
