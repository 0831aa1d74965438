"""pytest-embedded's `dut` on our board: its serial service expects the boot banner, then our binary client
takes the same port (pytest-embedded's reader paused) and completes a HELLO."""

from __future__ import annotations

import pytest

from harness.proto.client import Client
from harness.session import BoardSession


@pytest.fixture
def port(hil_session: BoardSession) -> str:
    """pytest-embedded's `port`, overridden: the board's link URL. Our link is closed first, since a socket
    link has one client at a time; the next test's `client` fixture reopens it."""
    if hil_session.link_url is not None:
        pytest.skip("a board behind --hil-link has no reset line to make it print its banner again")
    hil_session.open(hil_session.image)
    hil_session.close_link()
    assert hil_session.board.url is not None
    return hil_session.board.url


@pytest.fixture
def embedded_services() -> str:
    return "serial"


def test_banner_then_binary_hello(dut, hil_session: BoardSession) -> None:
    hil_session.board.reset()  # the reset line: the firmware boots again and prints its banner
    match = dut.expect(r"HIL-FW (\S+) (\S+) board=(\S+) cpu=(\S+) build=([0-9a-f]{16})", timeout=15)
    build = int(match.group(5).decode(), 16)
    assert build == hil_session.image.build_id
    with dut.serial.disable_redirect_thread():
        client = Client(dut.serial.proc)
        hello = client.hello(expect_build_id=hil_session.image.build_id)
    assert hello.board == match.group(3).decode()
