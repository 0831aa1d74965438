"""harness.proto.client.Client against a small device stand-in on the far end of a real pty: the HELLO it parses,
requests in flight, device errors, NAKs and lost answers retransmitted, a repeated request answered from the stored
answer, truncated answers, and a device that stops answering.

The stand-in speaks the framing of harness.proto.wire and the layouts of harness.proto.messages; what it answers is
scripted per test (``Script``). The real device is tested by tests/hil on every board; this pins the client's side.
"""

from __future__ import annotations

import os
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
import serial

from harness.link import LinkError
from harness.proto import messages, wire
from harness.proto.client import BuildMismatch, Client, DeviceError, LinkTimeout
from harness.proto.wire import Status

BUILD_ID = 0x1234_5678_9ABC_DEF0
Answer = tuple[int, bytes]  # (flags, payload)
NAK = "nak"  # a handler's answer meaning: NAK this frame (as the firmware does for a frame that arrived corrupted)


def hello_payload(build_id: int = BUILD_ID, proto: int = wire.HIL_PROTO_VERSION) -> bytes:
    fixed = messages.HELLO.pack(
        proto_version=proto, fw_major=0, fw_minor=1, fw_patch=2, capabilities=wire.CAPABILITY_NAMES["lstm_f32"],
        counter_hz=1_000_000_000, counter_kind=wire.HIL_COUNTER_INSTRUCTIONS, max_payload=256, ram_bytes=98304,
        flash_bytes=524288, arena_bytes=81920, rx_buffer_bytes=4096, build_id=build_id,
    )  # fmt: skip
    return fixed + b"".join(bytes([len(s)]) + s for s in (b"standin", b"cortex-m4f", b"hil-fw"))


def error_payload(status: Status, reason: str) -> bytes:
    return messages.ERROR.pack(code=int(status), reason_len=len(reason)) + reason.encode()


@dataclass
class Script:
    """How the stand-in answers: ``handlers[opcode](payload) -> (flags, payload) | None`` (None: stay silent),
    ``drop``/``nak``/``corrupt``: how many first attempts of an opcode to lose, NAK or send with a bad CRC."""

    handlers: dict[int, Callable[[bytes], Answer | str | None]] = field(default_factory=dict)
    drop: dict[int, int] = field(default_factory=dict)
    nak: dict[int, int] = field(default_factory=dict)
    corrupt: dict[int, int] = field(default_factory=dict)
    executed: list[tuple[int, int]] = field(default_factory=list)  # (opcode, seq) of requests it ran
    received: list[tuple[int, int]] = field(default_factory=list)  # every request frame, repeats included


class DeviceStandin(threading.Thread):
    """Reads frames from the pty master and answers them as the firmware would: a repeated seq is answered from the
    stored answer (never executed twice), a NAK is sent instead of executing when the script asks for one."""

    def __init__(self, fd: int, script: Script) -> None:
        super().__init__(daemon=True)
        self.fd, self.script = fd, script
        self.reader = wire.FrameReader()
        self.stored: tuple[int, bytes] | None = None  # (seq, encoded answer)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                return
            for chunk in self.reader.feed(data):
                self.answer(wire.decode_frame(chunk))

    def nak(self, h: wire.Header) -> None:
        flags = wire.HIL_FLAG_RESPONSE | wire.HIL_FLAG_ERROR | wire.HIL_FLAG_NAK
        os.write(self.fd, wire.encode_frame(h.opcode, h.seq, error_payload(Status.HIL_ERR_BAD_CRC, "crc"), flags))

    def _count(self, table: dict[int, int], opcode: int) -> bool:
        if table.get(opcode, 0) > 0:
            table[opcode] -= 1
            return True
        return False

    def answer(self, frame: wire.Frame) -> None:
        h, s = frame.header, self.script
        s.received.append((h.opcode, h.seq))
        if self._count(s.nak, h.opcode):
            self.nak(h)
            return
        if self.stored is not None and self.stored[0] == h.seq and h.opcode != wire.HIL_OP_HELLO:
            if not self._count(s.drop, h.opcode):  # the replayed answer may be lost on the wire too
                os.write(self.fd, self.stored[1])
            return
        handler = s.handlers.get(h.opcode)
        if handler is None:
            return
        result = handler(frame.payload)
        if result == NAK:
            self.nak(h)
            return
        s.executed.append((h.opcode, h.seq))
        if result is None:
            return
        flags, payload = result
        encoded = wire.encode_frame(h.opcode, h.seq, payload, wire.HIL_FLAG_RESPONSE | flags)
        self.stored = (h.seq, encoded)  # stored whether or not it reaches the host, as the firmware does
        if self._count(s.drop, h.opcode):
            return
        if self._count(s.corrupt, h.opcode):
            encoded = encoded[:3] + bytes([encoded[3] ^ 0x10 or 1]) + encoded[4:]
        os.write(self.fd, encoded)


@pytest.fixture
def device() -> Iterator[Callable[[Script], Client]]:
    """``device(script)``: a Client on the slave end of a fresh pty whose master a DeviceStandin serves."""
    started: list[tuple[DeviceStandin, serial.SerialBase, int]] = []

    def connect(script: Script) -> Client:
        master, slave = os.openpty()
        tty.setraw(master)
        port = serial.serial_for_url(os.ttyname(slave), timeout=0.02)
        os.close(slave)
        standin = DeviceStandin(master, script)
        standin.start()
        started.append((standin, port, master))
        return Client(port, timeout=0.3, attempts=3)

    yield connect
    for standin, port, master in started:
        standin.stop.set()
        port.close()
        os.close(master)
        standin.join(timeout=2)


def basic(**extra: Callable[[bytes], Answer | None]) -> Script:
    handlers: dict[int, Callable[[bytes], Answer | None]] = {wire.HIL_OP_HELLO: lambda _: (0, hello_payload())}
    handlers.update({getattr(wire, f"HIL_OP_{k}"): v for k, v in extra.items()})
    return Script(handlers)


def stats_payload(duplicates: int = 0) -> bytes:
    return messages.STATS.pack(
        arena_bytes=81920, arena_used=100, arena_high_water=200, stack_bytes=4096, stack_high_water=620,
        frames_rx=3, frames_tx=3, crc_errors=0, duplicates=duplicates, last_ticks=12345,
    )  # fmt: skip


def test_hello_is_parsed_field_by_field(device) -> None:
    client = device(basic())
    hello = client.hello(expect_build_id=BUILD_ID)
    assert (hello.board, hello.cpu, hello.fw_name, hello.fw_version) == ("standin", "cortex-m4f", "hil-fw", "0.1.2")
    assert (hello.max_payload, hello.arena_bytes, hello.build_id) == (256, 81920, BUILD_ID)
    assert hello.capability_names == {"lstm_f32"}
    assert hello.counter_unit == "instructions" and hello.ticks_to_counter_unit(500) == 500
    assert client.max_payload == 256


def test_another_build_or_protocol_is_refused_with_what_to_check(device) -> None:
    with pytest.raises(BuildMismatch, match="another image"):
        device(basic()).hello(expect_build_id=BUILD_ID + 1)
    script = basic()
    script.handlers[wire.HIL_OP_HELLO] = lambda _: (0, hello_payload(proto=wire.HIL_PROTO_VERSION + 1))
    with pytest.raises(LinkError, match="rebuild the firmware"):
        device(script).hello()


def test_a_device_error_carries_its_status_and_reason(device) -> None:
    client = device(basic(STATS=lambda _: (wire.HIL_FLAG_ERROR, error_payload(Status.HIL_ERR_BAD_REQUEST, "no"))))
    with pytest.raises(DeviceError, match=r"device refused STATS: HIL_ERR_BAD_REQUEST \(\d+\): no") as caught:
        client.stats()
    assert caught.value.status is Status.HIL_ERR_BAD_REQUEST and caught.value.reason == "no"


def test_chunks_stream_in_order_with_several_in_flight(device) -> None:
    received: dict[int, bytes] = {}

    def chunk(payload: bytes) -> Answer:
        received[messages.CHUNK.unpack(payload, exact=False)["offset"]] = payload[4:]
        return 0, b""

    info = messages.MODEL_INFO.pack(model_bytes=1000, scratch_bytes=0, arena_used=1000, input_size=3, output_size=2,
                                    kind=wire.HIL_MODEL_LSTM_F32, n_layers=1)  # fmt: skip
    script = basic(MODEL_BEGIN=lambda _: (0, b""), MODEL_CHUNK=chunk, MODEL_COMMIT=lambda _: (0, info))
    client = device(script)
    client.hello()
    blob = bytes(range(256)) * 4
    assert client.load_model(blob).model_bytes == 1000
    assert b"".join(received[k] for k in sorted(received)) == blob
    assert len(received) > client.window, "the blob should take more chunks than the window holds"


def upload_script(chunk_verdict: Callable[[int], bool]) -> tuple[Script, dict[int, bytes]]:
    """A device taking a model upload whose chunk frames arrive intact when ``chunk_verdict(offset)`` says so
    (NAKed otherwise)."""
    received: dict[int, bytes] = {}

    def chunk(payload: bytes) -> Answer | str:
        offset = messages.CHUNK.unpack(payload, exact=False)["offset"]
        if not chunk_verdict(offset):
            return NAK
        received[offset] = payload[4:]
        return 0, b""

    info = messages.MODEL_INFO.pack(model_bytes=1000, scratch_bytes=0, arena_used=1000, input_size=3, output_size=2,
                                    kind=wire.HIL_MODEL_LSTM_F32, n_layers=1)  # fmt: skip
    return basic(MODEL_BEGIN=lambda _: (0, b""), MODEL_CHUNK=chunk, MODEL_COMMIT=lambda _: (0, info)), received


def test_a_noisy_link_that_still_makes_progress_finishes_a_long_upload(device) -> None:
    # Half of all chunk frames corrupted: with 3 attempts per chunk, about 1 chunk in 8 would use them all, so an
    # upload of 40 chunks that gave up per chunk would fail almost surely. Other chunks keep being answered, so it
    # goes on.
    rng = np.random.default_rng(7)
    script, received = upload_script(lambda _: bool(rng.random() < 0.5))
    client = device(script)
    client.hello()
    blob = bytes(rng.integers(0, 256, 252 * 40, dtype=np.uint8))
    client.load_model(blob)
    image = bytearray(len(blob))  # chunks may have been cut smaller on the way: put each where it says it goes
    for offset, piece in received.items():
        image[offset : offset + len(piece)] = piece
    assert bytes(image) == blob
    assert client.counters.naks > 20, "the link was as noisy as the test means it to be"


def test_an_upload_whose_chunk_never_gets_through_stops_and_says_the_error_rate(device) -> None:
    script, _ = upload_script(lambda offset: offset != 0)
    client = device(script)
    client.hello()
    started = time.monotonic()
    said = (r"NAK for MODEL_CHUNK .* no answer for \d+\.\d s; \d+ of \d+ frames of this transfer went unanswered "
            r"or were NAKed \(\d+%\), about 1 corrupted byte in [\d,]+ for its \d+ B frames")  # fmt: skip
    with pytest.raises(LinkTimeout, match=said):
        client.load_model(bytes(252 * 10))
    # given up once the link stalled: attempts x the 0.3 s timeout after the last answer, not at once nor never
    assert 0.9 <= time.monotonic() - started < 5.0


def test_a_lost_answer_is_asked_again_and_the_repeat_is_not_executed_twice(device) -> None:
    script = basic(STATS=lambda _: (0, stats_payload()))
    script.drop[wire.HIL_OP_STATS] = 1
    client = device(script)
    client.hello()
    assert client.stats().last_ticks == 12345
    stats_frames = [seq for op, seq in script.received if op == wire.HIL_OP_STATS]
    assert len(stats_frames) == 2 and stats_frames[0] == stats_frames[1], "the retransmission keeps its seq"
    assert [op for op, _ in script.executed].count(wire.HIL_OP_STATS) == 1, "answered from the stored answer"
    assert client.counters.retransmits == 1


def test_a_nak_is_retransmitted_and_a_corrupted_answer_dropped(device) -> None:
    script = basic(STATS=lambda _: (0, stats_payload()))
    script.nak[wire.HIL_OP_STATS] = 1
    script.corrupt[wire.HIL_OP_STATS] = 1
    client = device(script)
    client.hello()
    assert client.stats().frames_rx == 3
    assert client.counters.naks == 1 and client.counters.bad_frames == 1 and client.counters.retransmits == 2


def test_a_silent_device_times_out_naming_what_went_missing(device) -> None:
    client = device(basic(STATS=lambda _: None))
    client.hello()
    with pytest.raises(LinkTimeout, match=r"no answer for STATS seq=\d+ after 3 attempts on .*Check that the board"):
        client.stats()


def test_an_answer_of_the_wrong_size_is_a_link_error_with_both_sizes(device) -> None:
    client = device(basic(STATS=lambda _: (0, stats_payload()[:-1])))
    client.hello()
    with pytest.raises(LinkError, match="STATS answer has 43 bytes, expected 44"):
        client.stats()


def test_an_infer_answer_whose_body_disagrees_with_its_header_is_refused(device) -> None:
    info = messages.MODEL_INFO.pack(model_bytes=100, scratch_bytes=0, arena_used=100, input_size=3, output_size=2,
                                    kind=wire.HIL_MODEL_LSTM_F32, n_layers=1)  # fmt: skip
    short = messages.INFER_ANSWER.pack(ticks=9, steps_out=1, output_size=2) + np.zeros(1, "<f4").tobytes()
    good = messages.INFER_ANSWER.pack(ticks=9, steps_out=1, output_size=2) + np.array([1.5, -2], "<f4").tobytes()
    answers = iter([short, good])
    script = basic(MODEL_BUILTIN=lambda _: (0, info), INFER=lambda _: (0, next(answers)))
    client = device(script)
    client.hello()
    client.use_builtin_model()
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(LinkError, match=r"carries 4 B of outputs, header says 1x2 float32 values"):
        client.infer(x)
    result = client.infer(x)
    assert result.ticks == 9 and result.outputs.tolist() == [1.5, -2.0]


def test_a_lost_inference_answer_costs_what_the_work_took_not_the_two_minute_timeout(device) -> None:
    info = messages.MODEL_INFO.pack(model_bytes=100, scratch_bytes=0, arena_used=100, input_size=3, output_size=2,
                                    kind=wire.HIL_MODEL_LSTM_F32, n_layers=1)  # fmt: skip
    answer = messages.INFER_ANSWER.pack(ticks=9, steps_out=1, output_size=2) + np.array([1, 2], "<f4").tobytes()
    script = basic(MODEL_BUILTIN=lambda _: (0, info), INFER=lambda _: (0, answer))
    client = device(script)
    client.hello()
    client.use_builtin_model()
    x = np.zeros((4, 3), np.float32)
    client.infer(x)  # learns how long this request takes
    script.drop[wire.HIL_OP_INFER] = 1
    started = time.monotonic()
    assert client.infer(x).ticks == 9  # default timeout 120 s per attempt
    assert time.monotonic() - started < 3.0, "the retransmission waited for the default timeout"
    assert client.counters.retransmits == 1
    assert [op for op, _ in script.executed].count(wire.HIL_OP_INFER) == 2, "the repeat was answered from memory"


def _trainer(device, *, applied: bool) -> LinkTimeout:
    """A stand-in that trains, counting its steps; every answer to the second TRAIN_STEP is lost on the wire. It
    applies that step, or (``applied=False``) refuses it before the update."""
    state = {"steps": 0}
    info = messages.MODEL_INFO.pack(model_bytes=100, scratch_bytes=0, arena_used=100, input_size=3, output_size=1,
                                    kind=wire.HIL_MODEL_LSTM_F32, n_layers=1)  # fmt: skip
    train_info = messages.TRAIN_INFO.pack(needed_bytes=1, free_bytes=2, n_params=3, scratch_bytes=0, state_bytes=0)

    def config(_: bytes) -> Answer:
        state["steps"] = 0
        return 0, train_info

    def step(_: bytes) -> Answer:
        if state["steps"] == 1 and not applied:
            return wire.HIL_FLAG_ERROR, error_payload(Status.HIL_ERR_NON_FINITE, "loss is nan")
        state["steps"] += 1
        return 0, messages.TRAIN_STEP.pack(loss=0.5, grad_norm=1.0, ticks=100, steps_done=state["steps"])

    def evaluate(_: bytes) -> Answer:
        return 0, messages.TRAIN_STEP.pack(loss=0.5, grad_norm=0.0, ticks=10, steps_done=state["steps"])

    script = basic(MODEL_BUILTIN=lambda _: (0, info), TRAIN_CONFIG=config, TRAIN_STEP=step, EVAL=evaluate)
    client = device(script)
    client.hello()
    client.use_builtin_model()
    client.train_config(messages.TrainConfig(steps=4))
    x, y = np.zeros((2, 4, 3), np.float32), np.zeros((2, 1), np.float32)
    assert client.train_step(x, y).steps_done == 1
    script.drop[wire.HIL_OP_TRAIN_STEP] = client.attempts  # the answer and every replay of it
    with pytest.raises(LinkTimeout) as caught:
        client.train_step(x, y)
    assert [op for op, _ in script.executed].count(wire.HIL_OP_TRAIN_STEP) == 2, "executed once each, never twice"
    return caught.value


def test_a_train_step_whose_answers_are_lost_says_it_was_applied(device) -> None:
    err = _trainer(device, applied=True)
    assert err.applied is True
    assert "the device APPLIED it (do not send it again)" in str(err)


def test_a_train_step_whose_answers_are_lost_says_it_was_not_applied(device) -> None:
    err = _trainer(device, applied=False)
    assert err.applied is False
    assert "did NOT apply it" in str(err)
