"""A seeded fault campaign on the link: the host board behind harness.link_faults.FaultyLink, which flips, drops,
duplicates and inserts bytes and stalls, in both directions. What must hold: every inference is either right or a
`link` failure (never a wrong answer, never classed `model`), none hangs, a 20 KB upload over a link that corrupts
one byte in 1,000 goes through, and a training step is never applied twice.

The counts of each run are printed (pytest -s); the closing figures of issue 12 come from here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest

from harness.boards import BoardOptions, get_board
from harness.link import LinkError, open_link
from harness.link_faults import FaultRates, FaultyLink
from harness.models.lstm import LstmModel, forward, to_blob
from harness.proto.client import Client, DeviceError, LinkTimeout, TrainConfig
from harness.reporting.failure_classes import FailureClass, classify

# The host board answers an inference of this size in about a millisecond: a quarter second per attempt is ample,
# and keeps a lost frame's cost small enough that a campaign of hundreds of requests runs in seconds.
ATTEMPT_TIMEOUT = 0.25
# Before the first clean answer the client cannot know what an INFER takes (Client.request learns it from that
# answer); this bounds what a lost answer costs until then.
FIRST_INFER_TIMEOUT = 2.0
STALL = 0.3
EVERY_KIND = FaultRates(flip=2e-4, drop=1e-4, duplicate=1e-4, insert=1e-4, stall=0.02, stall_seconds=STALL)
# Answers are short (about 30 B against a request's 700 B): at the same rates per byte few would be hit
ANSWER_KINDS = FaultRates(flip=2e-3, drop=1e-3, duplicate=1e-3, insert=1e-3, stall=0.03, stall_seconds=STALL)
MODEL = LstmModel.random(7, [32], 1, seed=11)  # 20.5 KB of parameters: about 20 chunks to upload


@pytest.fixture(scope="module")
def host_url(tmp_path_factory) -> Iterator[str]:
    board = get_board("host", BoardOptions(log_dir=tmp_path_factory.mktemp("faults")))
    board.flash(board.build())
    try:
        yield board.start()
    finally:
        board.stop()


@dataclass
class Tally:
    right: int = 0
    wrong: list[str] = field(default_factory=list)
    link: int = 0
    other: list[str] = field(default_factory=list)  # failures classed anything but link
    slowest: float = 0.0
    slowest_retransmits: int = 0

    def line(self) -> str:
        return (f"{self.right} right, {len(self.wrong)} wrong, {self.link} link failures, {len(self.other)} other; "
                f"slowest {self.slowest:.2f} s with {self.slowest_retransmits} retransmissions")  # fmt: skip


def _load_through(client: Client, blob: bytes, tries: int = 3) -> None:
    """Upload until it commits: a LinkError is the link's, and the upload may simply be repeated."""
    for attempt in range(tries):
        try:
            client.load_model(blob)
            return
        except LinkError:
            if attempt == tries - 1:
                raise


@pytest.mark.parametrize("seed", [1, 2])
def test_every_inference_is_right_or_a_link_failure(host_url: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    windows = rng.standard_normal((100, 24, 7)).astype(np.float32)
    with FaultyLink(host_url, to_device=EVERY_KIND, to_host=ANSWER_KINDS, seed=seed) as faulty:
        port = open_link(faulty.url)
        try:
            client = Client(port, timeout=ATTEMPT_TIMEOUT)
            client.hello()
            _load_through(client, to_blob(MODEL))
            tally = Tally()
            for x in windows:
                started, resent = time.monotonic(), client.counters.retransmits
                try:
                    got = client.infer(x, timeout=FIRST_INFER_TIMEOUT).outputs
                except (LinkError, DeviceError, OSError) as exc:
                    verdict = classify(exc)
                    if verdict.failure_class is FailureClass.LINK:
                        tally.link += 1
                    else:
                        tally.other.append(f"{verdict}: {exc}")
                else:
                    # float32 on both sides, different summation order: a few ulp (tests/hil measures the figures)
                    if np.allclose(got, forward(MODEL, x), atol=1e-6, rtol=0):
                        tally.right += 1
                    else:
                        tally.wrong.append(f"{got} vs {forward(MODEL, x)}")
                took, n = time.monotonic() - started, client.counters.retransmits - resent
                if took > tally.slowest:
                    tally.slowest, tally.slowest_retransmits = took, n
                # a lost frame costs one attempt's timeout (the first inference's until the client has learned)
                # plus any stall, never the minutes of the defaults
                assert took <= 1.0 + n * (FIRST_INFER_TIMEOUT + 2 * STALL), f"inference took {took:.1f} s, {n} resent"
        finally:
            port.close()
    print(f"\nseed {seed}: {tally.line()}; {faulty.summary()}; client {client.counters}")
    assert not tally.wrong, f"wrong answers through a faulty link: {tally.wrong[:3]}"
    assert not tally.other, f"link faults classed as something else: {tally.other[:3]}"
    assert tally.right >= 0.8 * len(windows), f"too few inferences got through: {tally.line()}"
    for direction, counts in faulty.counts.items():
        for kind in ("flip", "drop", "duplicate", "insert", "stall"):
            assert getattr(counts, kind) > 0, f"no {kind} fault {direction}: the campaign did not test it"
    assert client.counters.retransmits > 0 and client.counters.bad_frames > 0


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_20kb_upload_survives_one_corrupted_byte_in_1000(host_url: str, seed: int) -> None:
    blob = to_blob(MODEL)
    assert len(blob) > 20_000
    with FaultyLink(host_url, to_device=FaultRates(flip=1e-3), seed=seed) as faulty:
        port = open_link(faulty.url)
        try:
            client = Client(port, timeout=ATTEMPT_TIMEOUT)
            client.hello()
            client.load_model(blob)  # once: a link that still makes progress finishes the upload
            x = np.random.default_rng(seed).standard_normal((24, 7)).astype(np.float32)
            np.testing.assert_allclose(client.infer(x, timeout=FIRST_INFER_TIMEOUT).outputs, forward(MODEL, x),
                                       atol=1e-6, rtol=0)  # fmt: skip
        finally:
            port.close()
    print(f"\nseed {seed}: {faulty.summary()}; client {client.counters}")
    assert faulty.to_device.counts.flip > 10, "the link was not as noisy as the test means"


def test_a_training_step_is_never_applied_twice(host_url: str) -> None:
    """Training through a faulty link: every step is answered or its LinkTimeout says whether it was applied; the
    device's step count is exactly the steps answered plus those said applied (a retransmitted step that ran twice
    would show as one too many)."""
    rng = np.random.default_rng(6)
    faults = FaultRates(flip=3e-4, drop=2e-4, stall=0.02, stall_seconds=STALL)
    lost_answers = FaultRates(flip=3e-3, drop=2e-3, stall=0.02, stall_seconds=STALL)  # a step applied, its answer lost
    with FaultyLink(host_url, to_device=faults, to_host=lost_answers, seed=6) as faulty:
        port = open_link(faulty.url)
        try:
            client = Client(port, timeout=ATTEMPT_TIMEOUT, attempts=2)  # two: so some steps do run out of attempts
            client.hello()
            _load_through(client, to_blob(LstmModel.random(3, [8], 1, seed=6)))
            client.train_config(TrainConfig("adam", "mse", 12, 4, lr=1e-2))
            answered = applied = unknown = not_applied = 0
            for _ in range(60):
                x = rng.standard_normal((4, 12, 3)).astype(np.float32)
                try:
                    client.train_step(x, rng.standard_normal((4, 1)).astype(np.float32), timeout=FIRST_INFER_TIMEOUT)
                    answered += 1
                except LinkTimeout as exc:
                    applied += exc.applied is True
                    not_applied += exc.applied is False
                    unknown += exc.applied is None
            faulty.to_device.rates, faulty.to_host.rates = FaultRates(), FaultRates()  # a clean link to ask
            steps_done = client.evaluate(np.zeros((1, 12, 3), np.float32), np.zeros((1, 1), np.float32)).steps_done
        finally:
            port.close()
    print(f"\ntraining: {answered} answered, {applied} applied, {not_applied} not applied, {unknown} unknown; "
          f"{faulty.summary()}")  # fmt: skip
    assert applied > 0 and not_applied > 0, "the campaign should lose requests and answers both"
    assert unknown == 0, "after a lost step the client could not tell whether it was applied"
    assert steps_done == answered + applied, f"device counts {steps_done} steps, host {answered} + {applied}"
