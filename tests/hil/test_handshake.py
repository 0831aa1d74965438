"""The board answers HELLO with what it is, and is the image the harness built."""

from __future__ import annotations

import pytest

from harness.proto import wire
from harness.session import BoardSession


def test_hello_describes_the_board(hil_session: BoardSession, client, record) -> None:
    hello = client.hello()
    assert hello.proto_version == wire.HIL_PROTO_VERSION
    if hil_session.image is not None:
        assert hello.build_id == hil_session.image.build_id, "the firmware is not the image the harness built"
    assert hello.board, "HELLO carries no board name"
    assert hello.cpu and hello.fw_name
    assert "lstm_f32" in hello.capability_names
    assert hello.max_payload >= 256, "chunks smaller than 256 B would make uploads crawl"
    assert 0 < hello.arena_bytes <= hello.ram_bytes or hello.ram_bytes == 0
    assert hello.counter_hz > 0
    for metric, value in (("ram_budget", hello.ram_bytes), ("flash_budget", hello.flash_bytes),
                          ("arena", hello.arena_bytes), ("max_payload", hello.max_payload)):  # fmt: skip
        record(metric, value, "B")


def test_build_id_mismatch_is_refused(hil_session: BoardSession, client) -> None:
    from harness.proto.client import BuildMismatch

    wrong = client.hello().build_id ^ 0x1
    with pytest.raises(BuildMismatch, match="runs another image"):
        client.hello(expect_build_id=wrong)


def test_stats_counts_frames(client) -> None:
    before = client.stats()
    client.hello()
    after = client.stats()
    assert after.frames_rx >= before.frames_rx + 2  # HELLO and the second STATS
    assert after.arena_bytes == client.hello_info.arena_bytes
