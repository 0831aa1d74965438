"""PacedLink: a LinkProxy that carries each direction of a board's socket:// link at a real UART's rate.

An emulated board's link moves bytes as fast as the host copies them (QEMU's chardev: tens of MB/s), so a stream
that passes on QEMU can still be more than a real 115200-baud line carries. In front of the link, this proxy holds
every byte for its time on the wire (``bits_per_byte / baud`` s, 10 bits for 8N1) and passes it on when its stop
bit would have arrived, in each direction independently (a UART is full duplex). It models a device whose UART
sends from a buffer (DMA or interrupt driven): the device's core does not wait for its answer to leave.

    with PacedLink("socket://127.0.0.1:5555", baud=115200) as line:
        client = Client(open_link(line.url))

``to_device`` and ``to_host`` count what each direction carried and for how long its line was busy, which is
what tells a link kept full (pipelined requests) from one that idles while the device computes.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass

from harness.link_proxy import LinkProxy

BITS_PER_BYTE_8N1 = 10  # start bit, 8 data bits, stop bit
# A direction that was idle and gets data starts its line at once. Data already waiting when the line finished its
# last piece continues the line without a gap, when the proxy's thread woke at most this late: a sleep overshooting
# its time must not leave the line idle, or the proxy would carry less than the baud.
CATCH_UP_S = 0.002


@dataclass
class LineLoad:
    """What one direction of the line carried: bytes, and the seconds the line spent sending them."""

    bytes: int = 0
    busy_s: float = 0.0
    last_end: float = 0.0  # time.monotonic() when the line finishes the last byte it was given


class _Line:
    """One direction: reads what arrives, holds each piece for its time on the wire, then passes it on."""

    def __init__(self, name: str, baud: int, bits_per_byte: int) -> None:
        self.name = name
        self.seconds_per_byte = bits_per_byte / baud
        self.piece = max(1, round(baud / bits_per_byte / 1000))  # about a millisecond of the line per piece
        self.load = LineLoad()
        self._free_at = 0.0  # when the line finishes what it has been given

    def carry(self, src: socket.socket, dst: socket.socket, stopping: threading.Event, done: threading.Event) -> None:
        try:
            while not stopping.is_set() and not done.is_set():
                waiting = bool(select.select([src], [], [], 0)[0])
                if not waiting and not select.select([src], [], [], 0.05)[0]:
                    continue
                data = src.recv(4096)
                if not data:
                    return
                now = time.monotonic()
                start = self._free_at if waiting and self._free_at >= now - CATCH_UP_S else max(self._free_at, now)
                for i in range(0, len(data), self.piece):
                    piece = data[i : i + self.piece]
                    self._free_at = start + len(piece) * self.seconds_per_byte
                    start = self._free_at
                    self.load.bytes += len(piece)
                    self.load.busy_s += len(piece) * self.seconds_per_byte
                    self.load.last_end = self._free_at
                    delay = self._free_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    dst.sendall(piece)
        except OSError:
            return
        finally:
            done.set()  # one direction ending ends the connection, as a closed port does


class PacedLink(LinkProxy):
    """A LinkProxy that delivers each direction's bytes no faster than a UART at ``baud`` sends them."""

    kind = "paced link"

    def __init__(self, upstream: str, *, baud: int, bits_per_byte: int = BITS_PER_BYTE_8N1) -> None:
        if not (isinstance(baud, int) and baud > 0):
            raise ValueError(f"baud={baud!r}: a UART's rate is a positive whole number of bits per second")
        super().__init__(upstream)
        self.baud = baud
        self.bits_per_byte = bits_per_byte
        self.to_device = _Line("to device", baud, bits_per_byte)
        self.to_host = _Line("to host", baud, bits_per_byte)

    def wire_seconds(self, n_bytes: int) -> float:
        """What ``n_bytes`` take on this line in one direction."""
        return n_bytes * self.bits_per_byte / self.baud

    def summary(self) -> str:
        return "; ".join(f"{d.name}: {d.load.bytes} B in {d.load.busy_s:.3g} s of line time"
                         for d in (self.to_device, self.to_host))  # fmt: skip

    def _pump(self, host_side: socket.socket, device_side: socket.socket) -> None:
        done = threading.Event()
        up = threading.Thread(target=self.to_device.carry, args=(host_side, device_side, self._stop, done),
                              name="paced-to-device", daemon=True)  # fmt: skip
        up.start()
        self.to_host.carry(device_side, host_side, self._stop, done)
        up.join(timeout=5)
