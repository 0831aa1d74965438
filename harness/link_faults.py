"""FaultyLink: a TCP proxy that sits between the client and a board's socket:// link and damages what it carries,
with seeded, counted faults in each direction: bits flipped, bytes dropped, duplicated or inserted, and stalls.

It is how the harness shows that a bad link is reported as a link failure and never as a wrong answer or a model
regression (tests/firmware/test_link_faults.py), and how a user can check the same of their own board's link:

    with FaultyLink("socket://127.0.0.1:5555", to_device=FaultRates(flip=1e-3), seed=1) as link:
        client = Client(open_link(link.url))
"""

from __future__ import annotations

import random
import select
import socket
import time
from dataclasses import dataclass, field, fields

from harness.link_proxy import LinkProxy


@dataclass(frozen=True)
class FaultRates:
    """Probabilities per byte carried (flip, drop, duplicate, insert) and per read forwarded (stall)."""

    flip: float = 0.0  # one bit of the byte flipped
    drop: float = 0.0  # the byte lost
    duplicate: float = 0.0  # the byte sent twice
    insert: float = 0.0  # a random byte sent before it
    stall: float = 0.0  # this direction stops for stall_seconds before the read is forwarded
    stall_seconds: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "stall_seconds" and not 0.0 <= value <= 1.0:
                raise ValueError(f"FaultRates.{f.name}={value}: a probability is between 0 and 1")
        if self.stall_seconds < 0:
            raise ValueError(f"FaultRates.stall_seconds={self.stall_seconds}: a pause cannot be negative")


@dataclass
class FaultCounts:
    """What one direction carried and what it did to it."""

    bytes_in: int = 0
    bytes_out: int = 0
    flip: int = 0
    drop: int = 0
    duplicate: int = 0
    insert: int = 0
    stall: int = 0

    @property
    def faults(self) -> int:
        return self.flip + self.drop + self.duplicate + self.insert + self.stall


@dataclass
class _Direction:
    name: str
    rates: FaultRates
    rng: random.Random
    counts: FaultCounts = field(default_factory=FaultCounts)

    def damage(self, data: bytes) -> bytes:
        r, rng, n = self.rates, self.rng, self.counts
        n.bytes_in += len(data)
        out = bytearray()
        for byte in data:
            if r.insert and rng.random() < r.insert:
                out.append(rng.randrange(256))
                n.insert += 1
            if r.drop and rng.random() < r.drop:
                n.drop += 1
                continue
            if r.flip and rng.random() < r.flip:
                byte ^= 1 << rng.randrange(8)
                n.flip += 1
            out.append(byte)
            if r.duplicate and rng.random() < r.duplicate:
                out.append(byte)
                n.duplicate += 1
        n.bytes_out += len(out)
        return bytes(out)


class FaultyLink(LinkProxy):
    """A LinkProxy whose every read is damaged by that direction's FaultRates before it is passed on. Seeded: the
    same seed and the same traffic give the same faults."""

    kind = "faulty link"

    def __init__(
        self,
        upstream: str,
        *,
        to_device: FaultRates = FaultRates(),
        to_host: FaultRates = FaultRates(),
        seed: int = 0,
    ) -> None:
        super().__init__(upstream)
        self.to_device = _Direction("to device", to_device, random.Random(f"{seed}:to-device"))
        self.to_host = _Direction("to host", to_host, random.Random(f"{seed}:to-host"))

    @property
    def counts(self) -> dict[str, FaultCounts]:
        return {d.name: d.counts for d in (self.to_device, self.to_host)}

    def summary(self) -> str:
        parts = []
        for name, c in self.counts.items():
            parts.append(f"{name}: {c.bytes_in} B, {c.flip} flipped, {c.drop} dropped, {c.duplicate} duplicated, "
                         f"{c.insert} inserted, {c.stall} stalls")  # fmt: skip
        return "; ".join(parts)

    def _pump(self, host_side: socket.socket, device_side: socket.socket) -> None:
        """Carry both directions until either end closes or the proxy is closed."""
        route = {host_side: (device_side, self.to_device), device_side: (host_side, self.to_host)}
        while not self.stopping:
            readable, _, _ = select.select(list(route), [], [], 0.05)
            for src in readable:
                dst, direction = route[src]
                try:
                    data = src.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                rates = direction.rates
                if rates.stall and direction.rng.random() < rates.stall:
                    direction.counts.stall += 1
                    time.sleep(rates.stall_seconds)  # both directions wait: a stalled adapter, as benches see
                try:
                    dst.sendall(direction.damage(data))
                except OSError:
                    return
