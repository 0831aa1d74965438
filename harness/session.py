"""BoardSession: one board with its image, link and protocol client, kept consistent.

It is what the pytest fixtures and the command line share: build (cached), flash, start, open the link,
HELLO with the build id checked, and deploy models — into the arena when they fit, else compiled into flash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import serial

from harness.boards import Board, BoardError, BoardState
from harness.build import Image
from harness.link import open_link
from harness.link_pacing import PacedLink
from harness.models.lstm import LstmModel, to_blob
from harness.proto.client import Client, DeviceError, Hello, ModelInfo
from harness.proto.wire import Status

log = logging.getLogger("harness.session")


@dataclass(frozen=True)
class Deployment:
    """A model on the device: where it lives and what the device said about it."""

    client: Client
    info: ModelInfo
    where: str  # "arena" (streamed at run time) or "flash" (compiled into the image)
    model_bytes: int


@dataclass
class BoardSession:
    board: Board
    link_url: str | None = None  # a board already running elsewhere (--hil-link): nothing is built or flashed
    expect_build_id: int | None = None
    port: serial.SerialBase | None = None
    client: Client | None = None
    hello: Hello | None = None
    builds: list[Image] = field(default_factory=list)
    # --hil-baud: carry a link without a real line (host, QEMU) at this UART rate through a PacedLink
    baud: int | None = None
    pacer: PacedLink | None = None

    def open(self, image: Image | None = None) -> Client:
        """Make sure the board runs `image` (default: the plain build) and a checked client talks to it."""
        if self.link_url is None:
            image = image or self.board.build()
            if image not in self.builds:
                self.builds.append(image)
            if self.board.image is None or self.board.image.build_id != image.build_id:
                self.close_link()
                self.board.flash(image)
            if self.board.state is not BoardState.RUNNING:
                self.close_link()
                self.board.start()
            self.expect_build_id = image.build_id
            url = self.board.url
        else:
            if self.board.state is BoardState.FLASHED:  # a board behind a link it must take again (a labgrid
                self.close_link()  # place released when a retry closed the session): a new address
                self.link_url = self.board.start()
            url = self.link_url
        if self.client is None:
            assert url is not None
            self.port = self._open_port(url)
            self.client = Client(self.port, line_baud=self.baud or self.board.line_baud)
            self.hello = self.client.hello(expect_build_id=self.expect_build_id)
            log.info("board %s: %s", self.board.name, self.hello)
        return self.client

    def _open_port(self, url: str) -> serial.SerialBase:
        """The board's link, at its line's rate; a link without a real line goes through a PacedLink when a baud is
        asked for. A real line already runs at its own rate, which a baud cannot change: the firmware's UART and
        the port must agree, so a different one is refused rather than left to garble every frame."""
        line = self.board.line_baud
        if self.baud is None or not url.startswith("socket://"):
            if self.baud is not None and line is not None and self.baud != line:
                raise BoardError(f"board {self.board.name}'s UART runs at {line} baud (its lab.toml row's baud); "
                                 f"--hil-baud {self.baud} paces links without a real line (host, QEMU). Drop "
                                 "--hil-baud, or give it the row's rate")  # fmt: skip
            return open_link(url, baudrate=self.baud or line or 115200)
        self.pacer = PacedLink(url, baud=self.baud)
        self.pacer.start()
        log.info("board %s: link %s paced at %d baud through %s", self.board.name, url, self.baud, self.pacer.url)
        return open_link(self.pacer.url)

    def reboot(self) -> Client:
        """Reboot the device and wait for its HELLO: the arena and stack high-water marks restart, so what is
        measured next is the next work's alone, whatever ran on the board before (another test, another order of
        tests: an xdist worker's)."""
        client = self.open(self.image)
        client.reset(reboot=True)
        client.model = None
        self.hello = client.hello(expect_build_id=self.expect_build_id)
        return client

    def close_link(self) -> None:
        if self.port is not None:
            self.port.close()
        if self.pacer is not None:
            self.pacer.close()
        self.port = None
        self.pacer = None
        self.client = None

    def close(self) -> None:
        self.close_link()
        self.board.stop()

    @property
    def image(self) -> Image | None:
        return self.board.image

    def deploy_lstm(self, model: LstmModel, *, where: str = "auto") -> Deployment:
        """Put `model` on the device: streamed into the arena, or compiled into flash when it does not fit RAM.

        where: "auto", "arena" or "flash".
        """
        return self.deploy_blob(to_blob(model), where=where)

    def deploy(self, model: object, *, where: str = "auto") -> Deployment:
        """Any model the device has a kind for (LstmModel, dense.MlpModel, a quantized quant.QMlp/Q15Mlp/QLstm/
        Q15Lstm) or a ready blob (bytes), as deploy_blob places it."""
        from harness.models import dense, quant

        if isinstance(model, bytes | bytearray | memoryview):
            blob = bytes(model)
        elif isinstance(model, LstmModel):
            blob = to_blob(model)
        elif isinstance(model, dense.MlpModel):
            blob = dense.to_blob(model)
        elif isinstance(model, quant.QMlp | quant.Q15Mlp | quant.QLstm | quant.Q15Lstm):
            blob = quant.to_blob(model)
        else:
            raise TypeError(
                f"no device blob for a {type(model).__name__}: deploy takes LstmModel, MlpModel, a quantized model "
                "from harness.models.quant, or blob bytes"
            )
        return self.deploy_blob(blob, where=where)

    def deploy_blob(self, blob: bytes, *, where: str = "auto") -> Deployment:
        """Put a model blob of any kind (its header says which) on the device: streamed into the arena, or compiled
        into flash when it does not fit RAM (or when asked). The client then encodes INFER in the kind's element
        type (ModelInfo.kind).

        where: "auto", "arena" or "flash".
        """
        if where not in ("auto", "arena", "flash"):
            raise ValueError(f"where={where!r}; use 'auto', 'arena' or 'flash'")
        client = self.open(self.image)
        if where in ("auto", "arena"):
            try:
                info = client.load_model(blob)
                return Deployment(client, info, "arena", len(blob))
            except DeviceError as exc:
                if where == "arena" or exc.status is not Status.HIL_ERR_ARENA_EXHAUSTED or self.link_url:
                    raise
                log.info("model of %d B does not fit the arena (%s); compiling it into flash", len(blob), exc.reason)
        # the image running now with the model compiled in: a test's build defines (a perturbed kernel, a test hook)
        # stay in force whichever way the model goes on
        current = self.image
        defines = dict(current.spec.defines) if current is not None else None
        image = self.board.build(builtin_model=blob, defines=defines or None)
        client = self.open(image)
        info = client.use_builtin_model()
        return Deployment(client, info, "flash", len(blob))


def session_for(
    board: Board, *, link_url: str | None = None, log_dir: Path | None = None, baud: int | None = None
) -> BoardSession:
    if log_dir is not None:
        board.options.log_dir = log_dir
    return BoardSession(board, link_url=link_url, baud=baud)
