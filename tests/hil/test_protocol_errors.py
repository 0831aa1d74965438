"""Every error the protocol defines, provoked on purpose: answered with its code and a reason, link still usable."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from harness.models.lstm import LstmModel, to_blob
from harness.proto import wire
from harness.proto.client import Client, DeviceError
from harness.proto.wire import Status

TINY = LstmModel.random(3, [4], 2, seed=1)


def _still_usable(client: Client) -> None:
    """After any error the link keeps working: a HELLO and a real inference answer."""
    client.hello()
    client.load_model(to_blob(TINY))
    assert client.infer(np.zeros((2, 3), np.float32)).outputs.shape == (2,)


def _expect(status: Status, fn, *args, reason: str = "") -> DeviceError:
    with pytest.raises(DeviceError) as err:
        fn(*args)
    assert err.value.status is status, f"expected {status.name}, got {err.value}"
    assert err.value.reason, "the device gave no reason"
    if reason:
        assert reason in err.value.reason, f"reason {err.value.reason!r} does not mention {reason!r}"
    return err.value


def test_unknown_opcode(client: Client) -> None:
    _expect(Status.HIL_ERR_UNKNOWN_OPCODE, client.request, 0x7F, b"", reason="7f")
    _still_usable(client)


def test_payload_too_large(client: Client) -> None:
    too_big = bytes(client.max_payload + 1)
    err = _expect(Status.HIL_ERR_PAYLOAD_TOO_LARGE, client.request, wire.HIL_OP_MODEL_CHUNK, too_big)
    assert str(client.max_payload) in err.reason
    _still_usable(client)


def test_model_not_loaded(client: Client) -> None:
    client.reset()
    _expect(Status.HIL_ERR_MODEL_NOT_LOADED, client.infer, np.zeros((2, 3), np.float32))
    _still_usable(client)


def test_shape_mismatch(client: Client) -> None:
    client.load_model(to_blob(TINY))
    err = _expect(Status.HIL_ERR_SHAPE_MISMATCH, client.infer, np.zeros((5, 4), np.float32))
    assert "3" in err.reason and "4" in err.reason, "the reason should name both input sizes"
    _still_usable(client)


def test_arena_exhausted_names_the_bytes(client: Client) -> None:
    need = client.hello().arena_bytes + 1
    err = _expect(Status.HIL_ERR_ARENA_EXHAUSTED, client.request, wire.HIL_OP_MODEL_BEGIN, struct.pack("<I", need))
    assert str(need) in err.reason and str(client.hello_info.arena_bytes) in err.reason
    _still_usable(client)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_input(client: Client, bad: float) -> None:
    client.load_model(to_blob(TINY))
    x = np.zeros((4, 3), np.float32)
    x[2, 1] = bad
    err = _expect(Status.HIL_ERR_NON_FINITE, client.infer, x)
    assert "7" in err.reason, "the reason should give the flat index (2*3+1) of the bad value"
    _still_usable(client)


def test_corrupted_model_blob(client: Client) -> None:
    blob = bytearray(to_blob(TINY))
    blob[0] ^= 0xFF  # magic
    _expect(Status.HIL_ERR_BAD_MODEL, client.load_model, bytes(blob))
    _still_usable(client)


def test_chunk_out_of_range(client: Client) -> None:
    client.request(wire.HIL_OP_MODEL_BEGIN, struct.pack("<I", 64))
    _expect(Status.HIL_ERR_OUT_OF_RANGE, client.request, wire.HIL_OP_MODEL_CHUNK, struct.pack("<I", 60) + bytes(8))
    _still_usable(client)


def test_bad_crc_is_naked_and_not_executed(client: Client) -> None:
    rx_before = client.stats().frames_rx
    seq = client.next_seq()
    raw = bytearray(wire.cobs_decode(wire.encode_frame(wire.HIL_OP_RESET, seq, b"\x00")[:-1]))
    raw[-1] ^= 0x01  # corrupt the CRC only
    client.send_raw(wire.cobs_encode(bytes(raw)) + b"\x00")
    frame = client.wait_frame(seq)
    assert frame.header.is_nak, f"expected a NAK, got {frame.describe()}"
    stats = client.stats()
    assert stats.crc_errors >= 1
    _still_usable(client)
    assert rx_before <= stats.frames_rx


def test_a_frame_grown_by_noise_past_the_buffer_is_naked_as_damage(client: Client) -> None:
    """Bytes inserted into a full-size frame (or a lost delimiter gluing a request to its retry) overflow the receive
    buffer while the header still announces a payload the board takes: that is damage, NAKed and sent again, never
    a "payload too large" the client would raise as the device refusing the request."""
    crc_before = client.stats().crc_errors
    seq = client.next_seq()
    encoded = wire.encode_frame(wire.HIL_OP_MODEL_CHUNK, seq, bytes(4) + bytes(client.max_payload - 4))[:-1]
    noise = bytes(range(1, 256)) * 2  # no 0x00: the frame stays one frame to the device
    client.send_raw(encoded[:20] + noise + encoded[20:] + b"\x00")
    frame = client.wait_frame(seq)
    assert frame.header.is_nak, f"expected a NAK, got {frame.describe()}"
    assert frame.payload[0] == Status.HIL_ERR_BAD_CRC
    reason = frame.payload[2 : 2 + frame.payload[1]].decode()
    assert f"for a {client.max_payload} B payload" in reason, reason
    assert client.stats().crc_errors == crc_before + 1
    _still_usable(client)


def test_duplicate_is_answered_from_memory_not_executed(client: Client) -> None:
    seq = client.next_seq()
    frame = wire.encode_frame(wire.HIL_OP_STATS, seq)
    client.send_raw(frame)
    first = client.wait_frame(seq)
    client.send_raw(frame)  # the same request again, as a retransmission after a lost answer would be
    second = client.wait_frame(seq)
    assert first.payload == second.payload, "a re-executed STATS would show more frames received"
    assert client.stats().duplicates >= 1


def test_wrong_protocol_version(client: Client) -> None:
    seq = client.next_seq()
    client.send_raw(wire.encode_frame(wire.HIL_OP_HELLO, seq, version=wire.HIL_PROTO_VERSION + 1))
    frame = client.wait_frame(seq)
    assert frame.header.is_error and frame.payload[0] == Status.HIL_ERR_BAD_VERSION
    _still_usable(client)


def test_reboot_request_restarts_the_device(client: Client) -> None:
    client.load_model(to_blob(TINY))
    client.reset(reboot=True)
    client.hello()  # retried until the rebooted firmware answers
    _expect(Status.HIL_ERR_MODEL_NOT_LOADED, client.infer, np.zeros((2, 3), np.float32))
    _still_usable(client)
