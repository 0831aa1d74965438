"""The host firmware over each kind of link it serves: the protocol must not care what carries it."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from harness.boards import BoardOptions, get_board
from harness.link import free_local_port
from harness.models.lstm import LstmModel, forward
from harness.session import session_for


def test_pty_link_carries_the_protocol(tmp_path) -> None:
    board = get_board("host", BoardOptions(log_dir=tmp_path, extra={"link": "pty"}))
    session = session_for(board)
    try:
        client = session.open()
        assert board.url is not None and board.url.startswith("/dev/pts/"), board.url
        model = LstmModel.random(3, [16], 2, seed=5)
        dep = session.deploy_lstm(model, where="arena")
        x = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
        result = dep.client.infer(x)
        # float32 on both sides, different summation order: a few ulp (see tests/hil for the measured figures)
        np.testing.assert_allclose(result.outputs, forward(model, x), atol=1e-6)
        assert client.stats().crc_errors == 0
    finally:
        session.close()


@pytest.mark.skipif(shutil.which("ser2net") is None, reason="ser2net missing (make setup installs it)")
def test_rfc2217_through_ser2net(tmp_path) -> None:
    """A remote bench as labgrid exports it: ser2net serves a serial port (here the host board's pty) as
    rfc2217://; the harness reaches the board only through that URL, via --hil-link's LinkBoard."""
    from harness.boards.remote import LinkBoard

    board = get_board("host", BoardOptions(log_dir=tmp_path, extra={"link": "pty"}))
    board.flash(board.build())
    pty = board.start()
    port = free_local_port()
    config = tmp_path / "ser2net.yaml"
    config.write_text(
        "connection: &hil\n"
        f"    accepter: telnet(rfc2217),tcp,127.0.0.1,{port}\n"
        f"    connector: serialdev,{pty},115200n81,local\n"
    )
    exporter = subprocess.Popen(["ser2net", "-n", "-d", "-c", str(config)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT)  # fmt: skip
    # a pty has no modem-control lines, so ser2net cannot acknowledge DTR/RTS: tell pyserial not to wait for it
    session = session_for(LinkBoard("host-via-rfc2217", f"rfc2217://127.0.0.1:{port}?ign_set_control"),
                          link_url=f"rfc2217://127.0.0.1:{port}?ign_set_control")  # fmt: skip
    try:
        client = session.open()  # open_link retries until ser2net listens
        assert session.hello is not None and session.hello.build_id == board.image.build_id
        model = LstmModel.random(7, [32], 1, seed=9)
        dep = session.deploy_lstm(model)
        x = np.random.default_rng(1).standard_normal((24, 7)).astype(np.float32)
        np.testing.assert_allclose(dep.client.infer(x).outputs, forward(model, x), atol=1e-6)
        assert client.counters.retransmits == 0
    finally:
        session.close()
        exporter.terminate()
        exporter.wait(5)
        board.stop()
