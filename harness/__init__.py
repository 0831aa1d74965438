"""HIL harness for embedded machine-learning firmware: build firmware, put it on a board, stream data to it over a
serial link, and compare what the device computes with numpy references.

The public API, in pipeline order (docs/architecture.md has the package map)::

    from harness import get_board, session_for, datasets, metrics
    board = get_board("qemu-stm32f4")                 # boards/: a board kind from the registry
    session = session_for(board); client = session.open()   # build (cached), flash, start, link, HELLO
    deployment = session.deploy(model)                # models/: a numpy reference model onto the device
    y_dev = client.infer(x)                           # proto/: the binary protocol client

Names are imported on first use, so ``import harness`` stays cheap and a unit test that needs one layer does not
import the others (pandas, pyserial, the board registry).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module that defines it
_EXPORTS = {
    "Board": "harness.boards",
    "BoardError": "harness.boards",
    "board_kinds": "harness.boards",
    "get_board": "harness.boards",
    "BoardSession": "harness.session",
    "Deployment": "harness.session",
    "session_for": "harness.session",
    "LinkError": "harness.link",
    "open_link": "harness.link",
    "Client": "harness.proto.client",
    "DeviceError": "harness.proto.client",
    "BuildError": "harness.build",
    "build_firmware": "harness.build",
}
_SUBMODULES = ("boards", "datasets", "metrics", "models", "proto", "reporting", "suites")

__all__ = [  # noqa: RUF022 -- in _EXPORTS' order, then the layers
    "Board", "BoardError", "board_kinds", "get_board", "BoardSession", "Deployment", "session_for", "LinkError",
    "open_link", "Client", "DeviceError", "BuildError", "build_firmware",
    "boards", "datasets", "metrics", "models", "proto", "reporting", "suites",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"harness.{name}")
    raise AttributeError(f"module 'harness' has no attribute {name!r}; public names: {', '.join(__all__)}")


if TYPE_CHECKING:
    from harness import boards, datasets, metrics, models, proto, reporting, suites
    from harness.boards import Board, BoardError, board_kinds, get_board
    from harness.build import BuildError, build_firmware
    from harness.link import LinkError, open_link
    from harness.proto.client import Client, DeviceError
    from harness.session import BoardSession, Deployment, session_for
