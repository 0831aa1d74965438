"""PacedLink over real sockets: an echo server behind it, bytes timed on this machine's clock. The line cannot be
faster than its baud (the lower bounds are exact); its two directions run at once (full duplex)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from harness.boards import BoardError
from harness.boards.remote import LinkBoard
from harness.link import LinkUrlError
from harness.link_pacing import PacedLink
from harness.session import BoardSession


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"socket://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


def _exchange(url: str, payload: bytes) -> tuple[bytes, float]:
    host, port = url.removeprefix("socket://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        t0 = time.monotonic()
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            got += s.recv(65536)
        return got, time.monotonic() - t0


def test_bytes_take_their_time_on_the_wire_in_each_direction(echo_url: str) -> None:
    payload = bytes(range(256)) * 9  # 2,304 B: 0.2 s each way at 115200 baud, 8N1
    with PacedLink(echo_url, baud=115200) as line:
        got, took = _exchange(line.url, payload)
    assert got == payload  # paced, not changed
    one_way = line.wire_seconds(len(payload))
    assert one_way == pytest.approx(0.2)
    assert took >= one_way  # the echo cannot come back before the last byte went out
    for direction in (line.to_device, line.to_host):
        assert direction.load.bytes == len(payload)
        assert direction.load.busy_s == pytest.approx(one_way)


def test_the_two_directions_share_no_time(echo_url: str) -> None:
    payload = b"\x55" * 5760  # 0.5 s each way at 115200 baud
    with PacedLink(echo_url, baud=115200) as line:
        _, took = _exchange(line.url, payload)
    # The echo starts coming back while the rest still goes out: about 0.5 s in all. A half-duplex line (one
    # direction waits for the other) takes 1.0 s; 0.85 s leaves this machine's scheduling a third of a second.
    assert 0.5 <= took < 0.85, f"{took:.3f} s for 0.5 s each way"


def test_a_faster_line_is_faster(echo_url: str) -> None:
    payload = b"\xaa" * 4608  # 0.4 s each way at 115200, 0.05 s at 921600
    with PacedLink(echo_url, baud=921600) as line:
        _, took = _exchange(line.url, payload)
    assert line.wire_seconds(len(payload)) <= took < 0.4


def test_what_it_cannot_pace_is_refused() -> None:
    with pytest.raises(ValueError, match="positive whole number"):
        PacedLink("socket://127.0.0.1:9", baud=0)
    with pytest.raises(LinkUrlError, match="paced link fronts a socket://HOST:PORT link"):
        PacedLink("/dev/ttyACM0", baud=115200)


class _BenchLine(LinkBoard):
    """A board behind a real line at 9600 baud (what a lab.toml row with baud = 9600 is)."""

    @property
    def line_baud(self) -> int | None:
        return 9600


def test_a_real_line_runs_at_its_own_rate_and_refuses_another() -> None:
    board = _BenchLine("bench-9600", "loop://")
    port = BoardSession(board, link_url="loop://")._open_port("loop://")
    assert port.baudrate == 9600  # the row's rate, not pyserial's default
    port.close()
    session = BoardSession(board, link_url="loop://", baud=9600)
    port = session._open_port("loop://")
    assert port.baudrate == 9600 and session.pacer is None  # the line paces itself
    port.close()
    with pytest.raises(BoardError, match=r"runs at 9600 baud .* --hil-baud 115200 paces links without a real line"):
        BoardSession(board, link_url="loop://", baud=115200)._open_port("loop://")


def test_an_emulated_boards_link_goes_through_the_pacer(echo_url: str) -> None:
    session = BoardSession(LinkBoard("emulated", echo_url), link_url=echo_url, baud=115200)
    port = session._open_port(echo_url)
    try:
        assert session.pacer is not None and session.pacer.upstream == echo_url
        assert port.port == session.pacer.url  # the client talks to the pacer, which talks to the board
    finally:
        port.close()
        session.close_link()
