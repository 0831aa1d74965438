"""Client(link): speaks the wire protocol to one board over any pyserial port. What each payload holds is
harness/proto/messages.py; its dataclasses are re-exported here, where callers have always found them.

Requests carry sequence numbers; several may be in flight (a window) so the link stays busy while the device
works. A request is sent again when its answer is late or the device NAKs it; the device answers a repeated
sequence number from its stored response, so a retransmitted request is never executed twice.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import serial

from harness.link import LinkError
from harness.proto import messages, wire
from harness.proto.messages import (
    TENSORS,
    EsnFeedResult,
    EsnFitResult,
    EsnInfo,
    EsnScoreResult,
    EsnThreshold,
    Hello,
    InferResult,
    ModelInfo,
    Stats,
    StepResult,
    TrainConfig,
    TrainInfo,
    esn_config_payload,
)
from harness.proto.wire import Status

if TYPE_CHECKING:
    from harness.models.esn import EsnConfig

log = logging.getLogger("harness.wire")


class DeviceError(RuntimeError):
    """The device refused a request; `status` is its hil_status_t, `reason` its own words."""

    def __init__(self, opcode: int, status: int, reason: str) -> None:
        self.opcode = opcode
        self.status = Status(status) if status in Status._value2member_map_ else status
        self.reason = reason
        name = self.status.name if isinstance(self.status, Status) else f"code {status}"
        super().__init__(f"device refused {wire.OPCODE_NAMES.get(opcode, hex(opcode))}: {name} ({status}): {reason}")


class PeerLinkError(DeviceError):
    """The device refused because the board it forwards to (a model split over two boards) did not answer in time
    or refused a step: a failure of the board-to-board link or of the other board, not of this one's model."""


class LinkTimeout(LinkError):
    """No valid answer arrived in time, after every retransmission. ``applied`` says, for a TRAIN_STEP, whether the
    device applied it (True/False: asked afterwards; None: not known)."""

    applied: bool | None = None


class BuildMismatch(RuntimeError):
    """The firmware answering is not the image the harness built and flashed."""


@dataclass
class LinkCounters:
    frames_sent: int = 0
    frames_received: int = 0
    retransmits: int = 0
    naks: int = 0
    stale: int = 0
    bad_frames: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


@dataclass
class _Pending:
    opcode: int
    seq: int
    encoded: bytes
    deadline: float
    attempts: int = 1


@dataclass
class _Transfer:
    """How one transact() call is going: what it sent and what came back, to tell a noisy link that still makes
    progress from one that does not."""

    started: float
    stall: float  # seconds without any answer after which a request out of attempts is given up
    min_answered: float = 0.0  # share of frames that must be answered for a request out of attempts to go on
    frames: int = 0  # frames sent, retransmissions included
    frame_bytes: int = 0
    answered: int = 0
    last_answer: float = 0.0

    def progressing(self, now: float) -> bool:
        if self.answered == 0 or now - self.last_answer >= self.stall:
            return False
        return self.answered >= self.min_answered * self.frames

    def error_rate(self) -> str:
        lost = self.frames - self.answered
        if self.frames == 0 or lost <= 0:
            return "no frame of this transfer was lost"
        loss = lost / self.frames
        mean_len = self.frame_bytes / self.frames
        text = f"{lost} of {self.frames} frames of this transfer went unanswered or were NAKed ({loss:.0%})"
        if loss < 1.0:  # independent byte errors: (1 - e) ** len = 1 - loss
            per_byte = 1.0 - (1.0 - loss) ** (1.0 / mean_len)
            text += f", about 1 corrupted byte in {1.0 / per_byte:,.0f} for its {mean_len:.0f} B frames"
        return text


@dataclass
class Client:
    """Protocol client over an open pyserial port (ours from open_link, or pytest-embedded's dut.serial.proc)."""

    MIN_CHUNK = 64  # bytes: the smallest piece an upload is cut into on a noisy link
    ROUND_CHUNKS = 16  # chunks per round of an upload; a failed round is sent again in smaller chunks

    port: serial.SerialBase
    timeout: float = 3.0  # seconds an ordinary answer may take, per attempt
    attempts: int = 4  # sends of one request before giving up
    window: int = 4  # requests in flight while streaming chunks
    hello_info: Hello | None = None
    # the model this client last bound on the device: INFER encodes inputs and decodes outputs in its element type
    model: ModelInfo | None = None
    counters: LinkCounters = field(default_factory=LinkCounters)
    # the UART rate the link runs at, where one is known (a bench row's line, or --hil-baud pacing an emulated
    # board): what harness.suites.replay models the wire with by default
    line_baud: int | None = None
    banner_lines: list[str] = field(default_factory=list)
    # the ESN this client configured (inputs, outputs, window) and where its stream is: chunks carry positions
    _esn_shape: tuple[int, int, int] | None = field(default=None, init=False, repr=False)
    _esn_position: int = field(default=0, init=False, repr=False)
    # the device's TRAIN_STEP count as its last train step or eval answer said (None: not known)
    _steps_done: int | None = field(default=None, init=False, repr=False)
    # seconds the last clean answer to a piece of work took (Client.request's ``work``)
    _took: dict[tuple, float] = field(default_factory=dict, init=False, repr=False)
    # the chunk size the last upload ended with (None: none yet, start with frames as large as the device takes)
    _upload_chunk: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._reader = wire.FrameReader()
        self._seq = random.randrange(0x10000)  # a new session never collides with the device's stored seq

    # ---- requests -------------------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _send(self, encoded: bytes) -> None:
        try:
            self.port.write(encoded)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"writing to {self.port.port} failed: {exc}; the board or its link went away") from exc
        self.counters.frames_sent += 1
        self.counters.bytes_sent += len(encoded)

    def _read_frames(self) -> list[wire.Frame]:
        try:
            data = self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"reading from {self.port.port} failed: {exc}; the board or its link went away") from exc
        if not data:
            return []
        self.counters.bytes_received += len(data)
        frames: list[wire.Frame] = []
        for chunk in self._reader.feed(data):
            try:
                frames.append(wire.decode_frame(chunk))
            except wire.CrcError as exc:
                self.counters.bad_frames += 1
                log.warning("dropped a frame from the device: %s", exc)
            except wire.FrameError as exc:
                self.counters.bad_frames += 1
                log.warning("dropped %d undecodable bytes from the device: %s", len(chunk), exc)
        while self._reader.text_lines:
            line = self._reader.text_lines.pop(0)
            self.banner_lines.append(line)
            log.info("device text: %s", line)
        return frames

    def transact(
        self,
        requests: Iterable[tuple[int, bytes]],
        *,
        timeout: float | None = None,
        window: int | None = None,
        min_answered: float = 0.0,
    ) -> list[wire.Frame]:
        """Send requests keeping up to `window` in flight; answers in request order, errors raised as they come.
        A request out of attempts goes on while the transfer makes progress and at least ``min_answered`` of its
        frames were answered (an upload gives up sooner and retries in smaller chunks)."""
        timeout = self.timeout if timeout is None else timeout
        window = self.window if window is None else max(1, window)
        queue = list(requests)
        answers: dict[int, wire.Frame] = {}
        pending: dict[int, _Pending] = {}
        order: list[int] = []
        next_index = 0
        transfer = _Transfer(time.monotonic(), self.attempts * max(timeout, self.timeout), min_answered)
        while next_index < len(queue) or pending:
            while next_index < len(queue) and len(pending) < window:
                opcode, payload = queue[next_index]
                next_index += 1
                seq = self._next_seq()
                encoded = wire.encode_frame(opcode, seq, payload)
                pending[seq] = _Pending(opcode, seq, encoded, time.monotonic() + timeout)
                order.append(seq)
                log.debug("-> %s seq=%d len=%d", wire.OPCODE_NAMES.get(opcode, hex(opcode)), seq, len(payload))
                self._send(encoded)
                transfer.frames += 1
                transfer.frame_bytes += len(encoded)
            for frame in self._read_frames():
                self._accept(frame, pending, answers, transfer)
            now = time.monotonic()
            for p in list(pending.values()):
                if now >= p.deadline:
                    self._retransmit(p, timeout, transfer, why="no answer")
        return [answers[seq] for seq in order]

    def _accept(
        self, frame: wire.Frame, pending: dict[int, _Pending], answers: dict[int, wire.Frame], transfer: _Transfer
    ) -> None:
        h = frame.header
        self.counters.frames_received += 1
        log.debug("<- %s", frame.describe())
        p = pending.get(h.seq)
        if p is None or h.opcode != p.opcode:
            self.counters.stale += 1  # an answer to a retransmission already satisfied, or to an old session
            return
        if h.is_nak:
            self.counters.naks += 1
            self._retransmit(p, p.deadline - time.monotonic(), transfer, why="NAK")
            return
        if not h.is_response:
            self.counters.stale += 1
            return
        del pending[h.seq]
        transfer.answered += 1
        transfer.last_answer = time.monotonic()
        if h.is_error:
            # Read leniently: an error answer cut short still says what it can (code -1: none arrived).
            code = frame.payload[0] if frame.payload else -1
            n = frame.payload[1] if len(frame.payload) > 1 else 0
            start = messages.ERROR.struct.size
            reason = frame.payload[start : start + n].decode("ascii", errors="replace")
            raise (PeerLinkError if code == Status.HIL_ERR_PEER else DeviceError)(h.opcode, code, reason)
        answers[h.seq] = frame

    def _retransmit(self, p: _Pending, timeout: float, transfer: _Transfer, *, why: str) -> None:
        """Send `p` again. A request out of attempts is given up only when the link makes no progress: while other
        requests of the same transfer were answered within the last ``transfer.stall`` seconds, a noisy link that
        still carries most frames finishes a long upload instead of failing at its first unlucky chunk."""
        now = time.monotonic()
        if p.attempts >= self.attempts and not transfer.progressing(now):
            stalled = f"no answer for {now - transfer.last_answer:.1f} s; " if transfer.answered else ""
            raise LinkTimeout(
                f"{why} for {wire.OPCODE_NAMES.get(p.opcode, hex(p.opcode))} seq={p.seq} after {p.attempts} "
                f"attempts on {self.port.port}; {stalled}{transfer.error_rate()}; {self._diagnosis()}"
            )
        p.attempts += 1
        p.deadline = now + max(timeout, self.timeout)
        self.counters.retransmits += 1
        transfer.frames += 1
        transfer.frame_bytes += len(p.encoded)
        log.debug("retransmit seq=%d (%s)", p.seq, why)
        self._send(p.encoded)

    def _diagnosis(self) -> str:
        c = self.counters
        return (
            f"sent {c.frames_sent} frames / {c.bytes_sent} B, received {c.frames_received} frames / "
            f"{c.bytes_received} B ({c.bad_frames} undecodable, {c.naks} NAKs); device text: "
            f"{self.banner_lines[-3:] or 'none'}. Check that the board is running and the link URL is right."
        )

    def send_raw(self, data: bytes) -> None:
        """Put bytes on the link as they are: for tests of the protocol itself (corrupt frames, duplicates)."""
        self._send(data)

    def wait_frame(self, seq: int, *, timeout: float | None = None) -> wire.Frame:
        """The next frame from the device with sequence number `seq` (response, error or NAK), undecoded errors
        not raised: for tests of the protocol itself."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while time.monotonic() < deadline:
            for frame in self._read_frames():
                self.counters.frames_received += 1
                if frame.header.seq == seq:
                    return frame
        raise LinkTimeout(f"no frame with seq={seq} within {timeout} s on {self.port.port}; {self._diagnosis()}")

    def next_seq(self) -> int:
        """Claim a sequence number for a hand-made frame."""
        return self._next_seq()

    def request(
        self, opcode: int, payload: bytes = b"", *, timeout: float | None = None, work: tuple | None = None
    ) -> bytes:
        """One request and its answer. ``timeout`` is how long one attempt may take before it is sent again.

        ``work`` names the work a request does (the model and the input's size, for INFER, TRAIN_STEP and EVAL, which
        get minutes): once the same work has been answered without a retransmission, an attempt waits four times
        what that took plus the ordinary timeout, at most ``timeout``, so a lost answer costs seconds, not minutes.
        A repeat sent while the device still works is answered from its stored answer, never executed twice."""
        if work is not None and timeout is not None and work in self._took:
            timeout = min(timeout, 4.0 * self._took[work] + self.timeout)
        started, resent = time.monotonic(), self.counters.retransmits
        answer = self.transact([(opcode, payload)], timeout=timeout, window=1)[0].payload
        if work is not None and self.counters.retransmits == resent:  # a clean round trip: the work alone
            self._took[work] = time.monotonic() - started
        return answer

    # ---- operations -----------------------------------------------------------------------------------------
    def hello(self, *, within: float = 20.0, expect_build_id: int | None = None) -> Hello:
        """HELLO, repeated until answered (the device may still be booting); checks the build id if given."""
        deadline = time.monotonic() + within
        while True:
            try:
                payload = self.transact([(wire.HIL_OP_HELLO, b"")], timeout=min(1.0, self.timeout), window=1)
                break
            except LinkTimeout:
                if time.monotonic() >= deadline:
                    raise
        info = Hello.parse(payload[0].payload)
        if info.proto_version != wire.HIL_PROTO_VERSION:
            raise LinkError(
                f"firmware speaks protocol {info.proto_version}, this harness {wire.HIL_PROTO_VERSION}: "
                "rebuild the firmware from this checkout"
            )
        if expect_build_id is not None and info.build_id != expect_build_id:
            raise BuildMismatch(
                f"board answers with build id {info.build_id:016x}, but the harness flashed {expect_build_id:016x}: "
                "the board runs another image (stale flash, wrong port, or another bench's board)"
            )
        self.hello_info = info
        return info

    @property
    def max_payload(self) -> int:
        if self.hello_info is None:
            self.hello()
        assert self.hello_info is not None
        return self.hello_info.max_payload

    def stats(self) -> Stats:
        return Stats.parse(self.request(wire.HIL_OP_STATS))

    def reset(self, *, reboot: bool = False) -> None:
        self.request(
            wire.HIL_OP_RESET, messages.RESET.pack(mode=wire.HIL_RESET_REBOOT if reboot else wire.HIL_RESET_SOFT)
        )
        if not reboot:
            self.model = None  # a reboot may leave an arena model for MODEL_RECOVER; a soft reset drops it

    def _stream(self, begin_op: int, chunk_op: int, data: bytes) -> None:
        """BEGIN, then the data in offset-addressed chunks, a round of them at a time. A round that fails on a link
        too noisy for frames of this size (a 6 KB frame through one corrupted byte in 1,000 arrives whole one time in
        400) is sent again in chunks half the size, down to MIN_CHUNK; a round that lost more than half its frames
        halves them for the next, a clean one doubles them. Chunks say where
        they go, so sending one again, or in other pieces, writes the same bytes."""
        self.transact([(begin_op, messages.BEGIN.pack(total_bytes=len(data)))], window=1)
        largest = self.max_payload - messages.CHUNK.struct.size
        chunk, off = min(largest, self._upload_chunk or largest), 0
        while off < len(data):
            end = min(len(data), off + self.ROUND_CHUNKS * chunk)
            round_ = [(chunk_op, messages.CHUNK.pack(offset=o) + data[o : min(o + chunk, end)])
                      for o in range(off, end, chunk)]  # fmt: skip
            resent = self.counters.retransmits
            try:  # above the smallest chunk, a round that needs more than its attempts per chunk is worth cutting
                self.transact(round_, min_answered=1.0 / self.attempts if chunk > self.MIN_CHUNK else 0.0)
            except LinkTimeout as exc:
                if chunk <= self.MIN_CHUNK:
                    raise
                chunk = max(self.MIN_CHUNK, chunk // 2)
                log.info("chunks of this upload shrink to %d B: %s", chunk, exc)
                continue
            off = end
            resent = self.counters.retransmits - resent
            if resent == 0:
                chunk = min(largest, chunk * 2)
            elif resent > len(round_):  # more than half the frames were lost: smaller frames get through more often
                chunk = max(self.MIN_CHUNK, chunk // 2)
            self._upload_chunk = chunk  # the next upload starts where this link left off

    def _bound(self, payload: bytes) -> ModelInfo:
        self.model = None  # whatever was bound before is gone, whether or not the new one parses
        self._steps_done = None  # and its training state with it
        self.model = ModelInfo.parse(payload)
        return self.model

    def load_model(self, blob: bytes) -> ModelInfo:
        """Stream a model blob (any kind, hil_proto.h HIL_MODEL_*) into the device's arena in chunks, then commit it
        (the device checks its CRC and binds it by the kind in its header)."""
        self.model = None
        self._stream(wire.HIL_OP_MODEL_BEGIN, wire.HIL_OP_MODEL_CHUNK, blob)
        return self._bound(self.request(wire.HIL_OP_MODEL_COMMIT, messages.COMMIT.pack(crc32=zlib.crc32(blob))))

    def use_builtin_model(self) -> ModelInfo:
        self.model = None
        return self._bound(self.request(wire.HIL_OP_MODEL_BUILTIN))

    def recover_model(self) -> ModelInfo:
        """After a reset: rebind the arena model it left, if its training journal says the parameters are whole."""
        self.model = None
        return self._bound(self.request(wire.HIL_OP_MODEL_RECOVER))

    def _encode_input(self, x: np.ndarray) -> tuple[np.ndarray, wire.ModelKind]:
        """x in the element type of the bound model's kind (float32 when this client bound none: the LSTM_F32 of
        older sessions). Integer kinds take integers the host has quantized (harness.models.quant.quantize_input):
        a float array, or a value outside the type's range, is refused here rather than silently cast."""
        kind = self.model.model_kind if self.model is not None else wire.MODEL_KINDS[wire.HIL_MODEL_LSTM_F32]
        arr = np.asarray(x)
        if not kind.is_float:
            if not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(
                    f"the device runs a {kind.name} model, which takes {np.dtype(kind.dtype).name} inputs; got "
                    f"{arr.dtype}: quantize them first (harness.models.quant.quantize_input)"
                )
            limits = np.iinfo(np.dtype(kind.dtype))
            if arr.size and (arr.min() < limits.min or arr.max() > limits.max):
                raise ValueError(
                    f"inputs span [{arr.min()}, {arr.max()}], outside {np.dtype(kind.dtype).name} of the {kind.name} "
                    "model"
                )
        return np.ascontiguousarray(arr, dtype=kind.dtype), kind

    def stage_input(self, x: np.ndarray) -> None:
        """Stage float32 input on the device (INPUT_BEGIN/CHUNK) for requests sent without inline input (TRACE)."""
        self._stream(wire.HIL_OP_INPUT_BEGIN, wire.HIL_OP_INPUT_CHUNK, np.ascontiguousarray(x, "<f4").tobytes())

    def trace(self, steps: int, layer: int, length: int, *, timeout: float = 120.0) -> np.ndarray:
        """TRACE: the ``length`` values of the trace vector of ``layer`` after ``steps`` steps of the staged input
        (LSTM_F32: gate pre-activations i, f, g, o, then c, then h: 6H; MLP_F32: the layer's output), fetched in as
        many requests as the frame size needs; each request reruns the model from zero state."""
        per = (self.max_payload // 4) - 1
        out = []
        for offset in range(0, length, per):
            count = min(per, length - offset)
            head = messages.TRACE_REQUEST.pack(steps=steps, layer=layer, offset=offset, count=count)
            answer = self.request(wire.HIL_OP_TRACE, head, timeout=timeout)
            if len(answer) != 4 * count:
                raise LinkError(f"TRACE answered {len(answer)} B for {count} values")
            out.append(np.frombuffer(answer, "<f4"))
        return np.concatenate(out)

    def infer(
        self,
        x: np.ndarray,
        *,
        all_steps: bool = False,
        continue_state: bool = False,
        forward: bool = False,
        timeout: float = 120.0,
    ) -> InferResult:
        """Run the loaded model over one sequence x[steps, input_size], or one vector x[input_size] (steps = 1, what
        an MLP takes); outputs and the device's tick count. Values cross the wire in the element type of the kind
        this client loaded (ModelInfo.kind): float32, or int8/int16 already quantized by the host; outputs come back
        in it ([output_size] for one vector).

        continue_state: an LSTM starts from the state (h, c of every layer) the previous INFER left instead of zero,
        so a long stream can be fed a few samples per request; the device refuses it when anything since has reused
        its scratch (a model load, a reset, training).

        forward: a model split over two boards (docs/distributed.md): this board runs its part step by step and
        sends each step's output to the board on its peer link, which runs the rest; the outputs are the peer's (in
        this model's element type) and InferResult.forward holds the peer's ticks and the link's bytes."""
        x, kind = self._encode_input(x)
        vector = x.ndim == 1
        if vector:
            x = x[np.newaxis]
        if x.ndim != 2:
            raise ValueError(
                f"infer takes one sequence shaped [steps, input_size] or one vector [input_size], got shape {x.shape}"
            )
        steps = x.shape[0]
        data = x.tobytes()
        flags = (
            (wire.HIL_INFER_ALL_STEPS if all_steps else 0)
            | (wire.HIL_INFER_CONTINUE if continue_state else 0)
            | (wire.HIL_INFER_FORWARD if forward else 0)
        )
        head = messages.INFER_REQUEST.pack(steps=steps, infer_flags=flags)
        if len(head) + len(data) <= self.max_payload:
            payload = head + data
        else:
            self._stream(wire.HIL_OP_INPUT_BEGIN, wire.HIL_OP_INPUT_CHUNK, data)
            payload = head
        answer = self.request(
            wire.HIL_OP_INFER, payload, timeout=timeout, work=self._work(wire.HIL_OP_INFER, head, data)
        )
        if not forward:
            return self._parse_infer(answer, all_steps and not vector, kind.dtype)
        if len(answer) < wire.HIL_INFER_HEADER_SIZE + wire.HIL_INFER_FORWARD_TAIL_SIZE:
            raise LinkError(f"forwarded INFER answer of {len(answer)} B is shorter than its header and tail")
        cut = len(answer) - wire.HIL_INFER_FORWARD_TAIL_SIZE
        tail = messages.INFER_FORWARD_TAIL.unpack(answer[cut:])
        result = self._parse_infer(answer[:cut], all_steps and not vector, kind.dtype)
        return dataclasses.replace(result, forward=messages.ForwardFigures(**tail))

    def _work(self, opcode: int, head: bytes, data: bytes) -> tuple:
        """What decides how long a request computes: the bound model, the request's header and its data's size."""
        model = (self.model.kind, self.model.model_bytes, self.model.input_size) if self.model else None
        return (opcode, model, head, len(data))

    def infer_many(
        self, xs: Iterable[np.ndarray], *, all_steps: bool = False, in_flight: int | None = None, timeout: float = 120.0
    ) -> list[InferResult]:
        """infer() over many inputs with up to `in_flight` INFER requests on the link at once (default: the client's
        window), so the link stays busy while the device computes: on QEMU a round trip costs ~4 ms whatever its
        size. Each input must fit one frame inline. The price: a request arriving while the device computes adds its
        receive interrupts to that answer's tick count, so measure ticks with in_flight=1."""
        encoded = [self._encode_input(x) for x in xs]
        requests, shapes = [], []
        flags = wire.HIL_INFER_ALL_STEPS if all_steps else 0
        for x, kind in encoded:
            vector = x.ndim == 1
            x2 = x[np.newaxis] if vector else x
            if x2.ndim != 2:
                raise ValueError(f"infer_many takes [steps, input_size] or [input_size] inputs, got shape {x.shape}")
            payload = messages.INFER_REQUEST.pack(steps=x2.shape[0], infer_flags=flags) + x2.tobytes()
            if len(payload) > self.max_payload:
                raise ValueError(
                    f"an input of {len(payload)} B does not fit one {self.max_payload} B frame; infer() stages it"
                )
            requests.append((wire.HIL_OP_INFER, payload))
            shapes.append((all_steps and not vector, kind.dtype))
        frames = self.transact(requests, timeout=timeout, window=in_flight)
        return [self._parse_infer(f.payload, a, d) for f, (a, d) in zip(frames, shapes, strict=True)]

    # ---- training ---------------------------------------------------------------------------------------------
    def train_config(self, config: TrainConfig, *, query: bool = False) -> TrainInfo:
        """Reserve gradient, optimizer state and scratch for `config` (or, with query, only say what it needs)."""
        info = TrainInfo.parse(self.request(wire.HIL_OP_TRAIN_CONFIG, config.payload(query=query)))
        if not query:
            self._steps_done = 0  # a configuration starts the optimizer afresh
        return info

    def _batch_request(self, opcode: int, x: np.ndarray, target: np.ndarray, timeout: float) -> StepResult:
        x = np.ascontiguousarray(x, dtype="<f4")
        if x.ndim != 3:
            raise ValueError(f"a batch is shaped [batch, steps, input_size], got {x.shape}")
        t = np.ascontiguousarray(np.asarray(target, dtype="<f4").reshape(x.shape[0], -1))
        data = x.tobytes() + t.tobytes()
        head = messages.TRAIN_BATCH.pack(batch=x.shape[0])
        if len(head) + len(data) <= self.max_payload:
            payload = head + data
        else:
            self._stream(wire.HIL_OP_INPUT_BEGIN, wire.HIL_OP_INPUT_CHUNK, data)
            payload = head
        return StepResult.parse(self.request(opcode, payload, timeout=timeout, work=self._work(opcode, head, data)))

    def train_step(self, x: np.ndarray, target: np.ndarray, *, timeout: float = 300.0) -> StepResult:
        """One optimizer step on a batch x[batch, steps, input] with targets [batch, outputs] (or class [batch]).

        When no answer arrives after every retransmission, the LinkTimeout says whether the device applied the step:
        the client asks the device's step count with an EVAL of one zero sequence (which changes nothing) and compares
        it with the count before this step, so nobody sends the step again and trains twice."""
        before = self._steps_done
        try:
            result = self._batch_request(wire.HIL_OP_TRAIN_STEP, x, target, timeout)
        except LinkTimeout as exc:
            exc.applied = self._step_applied(before, x, target)
            verdict = {
                True: "the device APPLIED it (do not send it again)",
                False: "the device did NOT apply it (sending it again is safe)",
                None: "whether the device applied it is unknown: read steps_done (evaluate()) before sending it again",
            }[exc.applied]
            exc.args = (f"{exc.args[0]}; {verdict}",)
            raise
        self._steps_done = result.steps_done
        return result

    def _step_applied(self, before: int | None, x: np.ndarray, target: np.ndarray) -> bool | None:
        if before is None:
            return None
        x1 = np.zeros_like(np.asarray(x, dtype="<f4")[:1])
        t1 = np.zeros_like(np.asarray(target, dtype="<f4").reshape(len(x), -1)[:1])
        for _ in range(self.attempts):  # the answer decides whether someone trains twice: worth asking again
            try:
                self._steps_done = self._batch_request(wire.HIL_OP_EVAL, x1, t1, self.timeout).steps_done
                return self._steps_done > before
            except LinkError:
                continue
            except DeviceError:
                break
        self._steps_done = None  # the next lost step cannot be judged against a count that may be stale
        return None

    def evaluate(self, x: np.ndarray, target: np.ndarray, *, timeout: float = 300.0) -> StepResult:
        """The mean loss on a batch, nothing updated."""
        result = self._batch_request(wire.HIL_OP_EVAL, x, target, timeout)
        self._steps_done = result.steps_done
        return result

    def read_tensor(self, name: str, count: int, offset: int = 0) -> np.ndarray:
        """`count` floats of a flat tensor ("params", "grads", "opt_m", "opt_v"), read in chunks."""
        per = self.max_payload // 4
        parts = []
        for off in range(offset, offset + count, per):
            n = min(per, offset + count - off)
            answer = self.request(
                wire.HIL_OP_TENSOR_READ, messages.TENSOR_READ.pack(tensor=TENSORS[name], offset=off, count=n)
            )
            parts.append(np.frombuffer(answer, dtype="<f4"))
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)

    def write_tensor(self, name: str, values: np.ndarray, offset: int = 0) -> None:
        data = np.ascontiguousarray(values, dtype="<f4")
        per = (self.max_payload - wire.HIL_TENSOR_REQ_SIZE) // 4
        tensor = TENSORS[name]
        requests = [
            (
                wire.HIL_OP_TENSOR_WRITE,
                messages.TENSOR_WRITE.pack(tensor=tensor, offset=offset + i) + data[i : i + per].tobytes(),
            )
            for i in range(0, data.size, per)
        ]
        self.transact(requests)

    # ---- Echo State Network -----------------------------------------------------------------------------------
    def esn_config(self, cfg: EsnConfig, *, window: int, max_windows: int = 0, query: bool = False) -> EsnInfo:
        """Build the ESN on the device: reservoir from cfg.seed, A, B, state and max_windows calibration slots (or,
        with query, only say what that needs). Drops any LSTM model; refused up front when it does not fit."""
        payload = esn_config_payload(cfg, window=window, max_windows=max_windows, query=query)
        info = EsnInfo.parse(self.request(wire.HIL_OP_ESN_CONFIG, payload, timeout=120.0))
        self._esn_shape = (cfg.n_inputs, cfg.n_outputs, window)
        return info

    def _esn_chunks(
        self, opcode: int, u: np.ndarray, y: np.ndarray | None, begin: bool, flags: int, answer_bytes: int
    ) -> list[tuple[int, bytes]]:
        """One stream's samples as FEED/SCORE requests that fit a frame each way, with their stream positions."""
        if self._esn_shape is None:
            raise RuntimeError("no ESN configured through this client: call esn_config() first")
        k, o, window = self._esn_shape
        u = np.ascontiguousarray(np.asarray(u, dtype="<f4").reshape(len(u), -1))
        if u.shape[1] != k:
            raise ValueError(f"u has {u.shape[1]} channels; the ESN has {k} inputs")
        width = k
        if y is not None:
            y = np.ascontiguousarray(np.asarray(y, dtype="<f4").reshape(len(y), -1))
            if y.shape != (u.shape[0], o):
                raise ValueError(f"y has shape {y.shape}; expected [{u.shape[0]}, {o}]")
            flags |= wire.HIL_ESN_STREAM_TARGETS
            width += o
        per = min((self.max_payload - wire.HIL_ESN_STREAM_HEADER_SIZE) // (4 * width), 0xFFFF)
        if answer_bytes:  # SCORE: at most per/window + 1 windows end in a chunk, each 5 B of the answer
            windows = (self.max_payload - wire.HIL_ESN_SCORE_HEADER_SIZE) // answer_bytes
            per = min(per, (windows - 1) * window)
        start = 0 if begin else self._esn_position
        requests = []
        for off in range(0, u.shape[0], per):
            n = min(per, u.shape[0] - off)
            f = flags | (wire.HIL_ESN_STREAM_BEGIN if begin and off == 0 else 0)
            data = u[off : off + n].tobytes() + (b"" if y is None else y[off : off + n].tobytes())
            requests.append((opcode, messages.ESN_STREAM.pack(flags=f, n=n, position=start + off) + data))
        return requests

    def esn_feed(
        self, u: np.ndarray, y: np.ndarray | None = None, *, begin: bool = True, in_flight: int | None = None
    ) -> EsnFeedResult:
        """Add a stream of training samples u[T, K] (targets y[T, O]; None: y = u, the autoencoder) to the device's
        normal equations; begin=False continues the stream the last call left. Chunks carry their stream position,
        so the device refuses one out of order (a chunk lost and resent while later ones were in flight) instead of
        learning from a shuffled stream; in_flight=1 also keeps the device's counter free of receive interrupts."""
        requests = self._esn_chunks(wire.HIL_OP_ESN_FEED, u, y, begin, 0, 0)
        answers = [f.payload for f in self.transact(requests, timeout=60.0, window=in_flight)]
        parts = [messages.ESN_FEED.unpack(a) for a in answers]
        self._esn_position = parts[-1]["position"]
        return EsnFeedResult(parts[-1]["samples_fitted"], parts[-1]["position"], sum(p["ticks"] for p in parts),
                             sum(p["update_ticks"] for p in parts), len(parts))  # fmt: skip

    def esn_fit(self) -> EsnFitResult:
        """Solve (A + ridge I) W_out^T = B on the device (Cholesky in place)."""
        answer = self.request(wire.HIL_OP_ESN_FIT, timeout=120.0)
        return EsnFitResult(**messages.ESN_FIT.unpack(answer))

    def esn_score(
        self,
        u: np.ndarray,
        y: np.ndarray | None = None,
        *,
        begin: bool = True,
        calibrate: bool = False,
        in_flight: int | None = None,
    ) -> EsnScoreResult:
        """Per-window reconstruction MSE (or prediction MSE against y) and anomaly flag of a stream u[T, K].
        calibrate=True scores training data for esn_threshold(): the device keeps those MSEs and flags nothing."""
        flags = wire.HIL_ESN_STREAM_CALIBRATE if calibrate else 0
        requests = self._esn_chunks(wire.HIL_OP_ESN_SCORE, u, y, begin, flags, 5)
        mse: list[np.ndarray] = []
        flag: list[np.ndarray] = []
        parts = []
        head = wire.HIL_ESN_SCORE_HEADER_SIZE
        for frame in self.transact(requests, timeout=60.0, window=in_flight):
            a = frame.payload
            h = messages.ESN_SCORE.unpack(a, exact=False)
            count = h["n_windows"]
            if len(a) != head + 5 * count:
                raise LinkError(f"ESN_SCORE answer has {len(a)} bytes, its header announces {count} windows")
            mse.append(np.frombuffer(a, dtype="<f4", count=count, offset=head))
            flag.append(np.frombuffer(a, dtype=np.uint8, count=count, offset=head + 4 * count).astype(bool))
            parts.append((h["position"], h["windows_scored"], h["windows_flagged"], h["ticks"], h["update_ticks"]))
        self._esn_position = parts[-1][0]
        return EsnScoreResult(
            mse=np.concatenate(mse).astype(np.float32),
            flags=np.concatenate(flag),
            position=parts[-1][0],
            windows_scored=parts[-1][1],
            windows_flagged=parts[-1][2],
            ticks=sum(p[3] for p in parts),
            update_ticks=sum(p[4] for p in parts),
            chunks=len(parts),
        )

    def esn_threshold(self) -> EsnThreshold:
        """median + std of the calibration windows' MSEs, set as the device's anomaly threshold."""
        return EsnThreshold.parse(self.request(wire.HIL_OP_ESN_THRESHOLD, timeout=60.0))

    @staticmethod
    def _parse_infer(answer: bytes, all_steps: bool, dtype: str = "<f4") -> InferResult:
        h = messages.INFER_ANSWER.unpack(answer, exact=False)
        ticks, steps_out, out_size = h["ticks"], h["steps_out"], h["output_size"]
        elem = np.dtype(dtype)
        body = len(answer) - wire.HIL_INFER_HEADER_SIZE
        if body != steps_out * out_size * elem.itemsize:
            raise LinkError(
                f"INFER answer carries {body} B of outputs, header says {steps_out}x{out_size} {elem.name} values"
            )
        values = np.frombuffer(answer, dtype=elem, offset=wire.HIL_INFER_HEADER_SIZE)
        outputs = values.reshape(steps_out, out_size).astype(elem.newbyteorder("="))
        return InferResult(outputs if all_steps else outputs[0], ticks)
