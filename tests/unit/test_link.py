"""open_link: every link is a pyserial URL; a bad one says which forms work, a dead one says what to check."""

from __future__ import annotations

import socket
import time

import pytest

from harness.link import URL_FORMS, LinkError, LinkUrlError, open_link


def test_loop_url_opens_a_working_port() -> None:
    port = open_link("loop://")
    try:
        port.write(b"\x01\x02\x00")
        time.sleep(0.05)
        assert port.read(3) == b"\x01\x02\x00"
        assert port.timeout == pytest.approx(0.02)  # short: the client polls and keeps its own deadlines
    finally:
        port.close()


@pytest.mark.parametrize("url", ["", None])
def test_no_url_names_the_forms(url) -> None:
    with pytest.raises(LinkUrlError, match="no link URL given") as err:
        open_link(url)
    assert URL_FORMS in str(err.value)


def test_unknown_scheme_names_the_forms() -> None:
    with pytest.raises(LinkUrlError, match=r"cannot open link 'foo://x'.*Expected socket://127\.0\.0\.1"):
        open_link("foo://x")


@pytest.mark.parametrize("url", ["socket://nohost", "socket://127.0.0.1:notaport", "rfc2217://bench:99999"])
def test_malformed_network_url_fails_at_once_naming_host_and_port(url: str) -> None:
    """Not retried for the connect timeout and then blamed on the board: the URL itself is wrong."""
    started = time.monotonic()
    with pytest.raises(LinkUrlError, match=r"wants HOST:PORT with a port 1-65535"):
        open_link(url, connect_timeout=5.0)
    assert time.monotonic() - started < 1.0


def test_refused_connection_is_retried_until_the_deadline() -> None:
    with socket.socket() as probe:  # a port that nothing listens on once this socket closes
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(LinkError, match=r"within 1 s: .*Is the board running") as err:
        open_link(f"socket://127.0.0.1:{free_port}", connect_timeout=1.0)
    assert not isinstance(err.value, LinkUrlError)
    assert time.monotonic() - started >= 1.0


def test_a_server_that_comes_up_late_is_reached() -> None:
    """A board still booting: the first connects are refused, a later one succeeds within the timeout."""
    import threading

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def listen_later() -> None:
        time.sleep(0.3)
        server.bind(("127.0.0.1", free_port))
        server.listen(1)

    thread = threading.Thread(target=listen_later)
    thread.start()
    try:
        port = open_link(f"socket://127.0.0.1:{free_port}", connect_timeout=5.0)
        port.close()
    finally:
        thread.join()
        server.close()
