"""A board on a remote bench, reached through a labgrid place: the harness acquires the place from the coordinator
(``LG_COORDINATOR``, labgrid's own variable), opens the place's NetworkSerialPort as ``rfc2217://host:port`` (the
exporter's ser2net), and releases the place when the session ends, Ctrl-C and SIGTERM included.

labgrid lives in a virtual environment of its own (``make setup`` makes ``.hil-cache/labgrid-venv``): its
``pyserial-labgrid`` installs a ``serial`` module of its own, which must not replace the harness's pyserial, and its
pytest plugin would load into every run. The harness drives it through ``labgrid-client``, the commands a person at
the bench types.

labgrid knows a holder as ``host/user`` only. The harness acquires as user ``<user>.hil-<pid>-<start ticks>``, so the
holder of a place says which run holds it; a run killed with ``kill -9`` cannot release its place, and the next run
on the same host sees that the holder's process is gone and takes the place over (``release-from``, atomic), saying
from whom. Anyone else is told who holds the place and the command that frees it.
"""

from __future__ import annotations

import ast
import dataclasses
import getpass
import logging
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.boards.base import Board, BoardError, BoardOptions, BoardState
from harness.boards.bench import BenchBoard
from harness.build import Image
from harness.lab import BenchRow

log = logging.getLogger("harness.boards")

REPO = Path(__file__).resolve().parents[2]
LABGRID_VENV = REPO / ".hil-cache" / "labgrid-venv"
CLIENT_ENV = "HIL_LABGRID_CLIENT"  # a labgrid-client to use instead of the bootstrap's
COORDINATOR_ENV = "LG_COORDINATOR"
CLIENT_TIMEOUT_S = 30.0
SERIAL_WAIT_S = 10.0  # the exporter starts ser2net when the place is acquired; its port shows up shortly after
# ser2net's RFC 2217 side does not acknowledge the modem-control settings pyserial sends on open; the harness needs
# none (harness.link says the same when the option is missing)
RFC2217_OPTIONS = "?ign_set_control"
_RUN_USER_RE = re.compile(r"^(?P<user>.+)\.hil-(?P<pid>\d+)-(?P<ticks>\d+)$")

__all__ = ["LabgridPlaceBoard", "Place", "PlaceBenchBoard", "PlaceBusy", "PlaceHolder", "labgrid_client"]


class PlaceBusy(BoardError):
    """Another client holds the labgrid place (a ``board`` failure: the bench's, not the model's)."""


def labgrid_client() -> str:
    """The labgrid-client to run: $HIL_LABGRID_CLIENT, the bootstrap's venv, or one on PATH."""
    given = os.environ.get(CLIENT_ENV)
    if given:
        if not Path(given).is_file():
            raise BoardError(f"{CLIENT_ENV}={given}: no such file")
        return given
    ours = LABGRID_VENV / "bin" / "labgrid-client"
    if ours.is_file():
        return str(ours)
    found = shutil.which("labgrid-client")
    if found is None:
        raise BoardError(f"labgrid is not installed: run `make setup` (tools/bootstrap.sh installs it into "
                         f"{LABGRID_VENV.relative_to(REPO)}), or set {CLIENT_ENV} to a labgrid-client")  # fmt: skip
    return found


def coordinator() -> str:
    """$LG_COORDINATOR, required: a run must not talk to whatever coordinator labgrid's default address answers."""
    value = os.environ.get(COORDINATOR_ENV, "").strip()
    if not value:
        raise BoardError(f"{COORDINATOR_ENV} is not set: a labgrid place is found through its coordinator; set "
                         f"{COORDINATOR_ENV}=HOST:PORT (labgrid's default port is 20408)")  # fmt: skip
    return value


def run_user(pid: int | None = None) -> str:
    """The labgrid user this process acquires as: who runs it, and which process (pid and start time)."""
    from harness.lifetime import start_ticks

    pid = os.getpid() if pid is None else pid
    return f"{getpass.getuser()}.hil-{pid}-{start_ticks(pid) or 0}"


@dataclass(frozen=True)
class PlaceHolder:
    """Who holds a place, as the coordinator says (``host/user``)."""

    host: str
    user: str
    since: str = ""

    @property
    def run_pid(self) -> int | None:
        m = _RUN_USER_RE.match(self.user)
        return int(m.group("pid")) if m else None

    @property
    def is_harness_run(self) -> bool:
        return self.run_pid is not None

    def process_gone(self) -> bool:
        """A harness run on this host whose process has ended (or a later one reused its pid): it cannot release."""
        from harness.lifetime import process_alive

        m = _RUN_USER_RE.match(self.user)
        if m is None or self.host != socket.gethostname():
            return False
        ticks = int(m.group("ticks")) or None
        return not process_alive(int(m.group("pid")), ticks)

    def describe(self) -> str:
        since = f", since {self.since}" if self.since else ""
        m = _RUN_USER_RE.match(self.user)
        if m:
            run = f"a harness run: pid {m.group('pid')} of {m.group('user')} on {self.host}{since}"
            return f"{self.host}/{self.user} ({run})"
        return f"{self.host}/{self.user}{since}"

    def __str__(self) -> str:
        return f"{self.host}/{self.user}"


@dataclass(frozen=True)
class Resource:
    """One resource of a place as ``labgrid-client show`` prints it."""

    name: str
    path: str  # exporter/group/class/name
    cls: str
    params: dict = field(default_factory=dict)
    avail: bool = False


@dataclass(frozen=True)
class PlaceInfo:
    name: str
    holder: PlaceHolder | None
    resources: tuple[Resource, ...]
    text: str  # what labgrid-client printed

    def resource(self, cls: str) -> Resource | None:
        return next((r for r in self.resources if r.cls == cls), None)


_RESOURCE_RE = re.compile(r"^(?:Acquired|Matching) resource '(?P<name>[^']*)' \((?P<path>[^)]*)\):$")


def parse_show(name: str, text: str) -> PlaceInfo:
    """``labgrid-client -p NAME show``: the place's holder (``acquired: host/user``) and its resources, each
    printed as an indented Python dict (read with ast.literal_eval, never eval)."""
    holder: PlaceHolder | None = None
    acquired = re.search(r"^\s+acquired: (\S+)\s*$", text, re.M)
    changed = re.search(r"^\s+changed: (.+?)\s*$", text, re.M)
    if acquired and acquired.group(1) != "None" and "/" in acquired.group(1):
        host, user = acquired.group(1).split("/", 1)
        holder = PlaceHolder(host, user, changed.group(1) if changed else "")
    resources: list[Resource] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _RESOURCE_RE.match(lines[i])
        i += 1
        if not m:
            continue
        body: list[str] = []
        while i < len(lines) and lines[i].startswith("  "):
            body.append(lines[i])
            i += 1
        try:
            data = ast.literal_eval("\n".join(body).strip())
        except (ValueError, SyntaxError):
            continue
        parts = m.group("path").split("/")
        cls = data.get("cls") or (parts[2] if len(parts) > 2 else "")
        resources.append(Resource(m.group("name"), m.group("path"), cls, dict(data.get("params") or {}),
                                  bool(data.get("avail"))))  # fmt: skip
    return PlaceInfo(name, holder, tuple(resources), text)


class Place:
    """One labgrid place, driven through ``labgrid-client -x $LG_COORDINATOR -p NAME``."""

    def __init__(self, name: str, *, user: str | None = None, host: str | None = None) -> None:
        self.name = name
        self.user = user or run_user()
        self.host = host or socket.gethostname()  # labgrid's own default; another host's client is another holder
        self.acquired = False
        self.took_over: PlaceHolder | None = None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        address = coordinator()
        argv = [labgrid_client(), "-x", address, "-p", self.name, *args]
        env = {**os.environ, "LG_USERNAME": self.user, "LG_HOSTNAME": self.host}
        env.pop("LG_PLACE", None)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, env=env,
                                  stdin=subprocess.DEVNULL)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise BoardError(f"`labgrid-client -p {self.name} {' '.join(args)}` did not finish in "
                             f"{CLIENT_TIMEOUT_S:.0f} s: is the coordinator at {COORDINATOR_ENV}={address} "
                             "up?") from None  # fmt: skip
        if check and done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            said_text = " / ".join(line for line in said if line.strip())[-800:]
            if "failed to connect" in said_text.lower() or "unavailable" in said_text.lower():
                raise BoardError(f"no labgrid coordinator answers at {COORDINATOR_ENV}={address}: start one there or "
                                 f"set {COORDINATOR_ENV} (labgrid-client said: {said_text})")  # fmt: skip
            if re.search(r"place \S+ not found|no place", said_text, re.I):
                raise BoardError(f"the coordinator at {address} has no labgrid place {self.name!r} "
                                 f"(`labgrid-client places` lists them; labgrid-client said: {said_text})")  # fmt: skip
            raise BoardError(f"`labgrid-client -p {self.name} {' '.join(args)}` failed (exit {done.returncode}): "
                             f"{said_text}")  # fmt: skip
        return done

    def show(self) -> PlaceInfo:
        return parse_show(self.name, self._run("show").stdout)

    def busy_message(self, holder: PlaceHolder) -> str:
        return (f"labgrid place {self.name!r} is held by {holder.describe()} (coordinator "
                f"{os.environ.get(COORDINATOR_ENV)}). Wait for that run to end, or free the place with "
                f"`labgrid-client -p {self.name} release --kick` (or `labgrid-client -p {self.name} release-from "
                f"{holder}`)")  # fmt: skip

    def acquire(self) -> None:
        """Acquire the place, or raise PlaceBusy naming its holder. A place held by a harness run on this host whose
        process is gone is taken over, with a warning naming that run."""
        info = self.show()
        if info.holder is not None:
            if info.holder.host == self.host and info.holder.process_gone():
                self._run("release-from", str(info.holder))  # only if that run still holds it
                self.took_over = info.holder
                log.warning("took labgrid place %s over from %s, which ended without releasing it", self.name,
                            info.holder.describe())  # fmt: skip
            else:
                raise PlaceBusy(self.busy_message(info.holder))
        done = self._run("acquire", check=False)
        if done.returncode != 0:
            now = self.show().holder
            if now is not None and str(now) != f"{self.host}/{self.user}":
                raise PlaceBusy(self.busy_message(now))  # someone acquired it between our show and our acquire
            said = " / ".join(x for x in (done.stderr.strip() or done.stdout.strip()).splitlines() if x.strip())
            raise BoardError(f"labgrid-client could not acquire place {self.name!r}: {said[-800:]}")
        self.acquired = True
        log.info("acquired labgrid place %s as %s/%s", self.name, self.host, self.user)

    def release(self) -> None:
        if not self.acquired:
            return
        self.acquired = False
        done = self._run("release", check=False)
        if done.returncode != 0:
            log.warning("labgrid place %s not released: %s", self.name, (done.stderr or done.stdout).strip())
        else:
            log.info("released labgrid place %s", self.name)

    def serial_url(self, within: float = SERIAL_WAIT_S) -> str:
        """The place's NetworkSerialPort as ``rfc2217://host:port?ign_set_control``, once the exporter serves it."""
        deadline = time.monotonic() + within
        while True:
            info = self.show()
            port = info.resource("NetworkSerialPort")
            if port is None:
                kinds = ", ".join(f"{r.cls} ({r.path})" for r in info.resources) or "none"
                raise BoardError(f"labgrid place {self.name!r} has no NetworkSerialPort (an exported RawSerialPort "
                                 f"or USBSerialPort); its resources: {kinds}")  # fmt: skip
            host, number = port.params.get("host"), port.params.get("port")
            if host and number and port.avail:
                return f"rfc2217://{host}:{number}{RFC2217_OPTIONS}"
            if time.monotonic() >= deadline:
                raise BoardError(f"labgrid place {self.name!r}: its NetworkSerialPort {port.path} has no port after "
                                 f"{within:.0f} s (the exporter starts ser2net on acquire; see the exporter's "
                                 f"log): {port.params}")  # fmt: skip
            time.sleep(0.2)


class LabgridPlaceBoard(Board):
    """``--hil-lg-place NAME``: the board of a labgrid place, running whatever its bench put on it."""

    description = "a board on a remote bench, behind a labgrid place (--hil-lg-place)"
    firmware_board = None

    def __init__(self, name: str, place: str, options: BoardOptions | None = None) -> None:
        super().__init__(options)
        self.name = name  # type: ignore[misc]  # per instance: it names whatever board the place holds
        self.place = Place(place)
        self.state = BoardState.FLASHED  # it runs what its bench put on it; start() acquires the place

    @property
    def lease_key(self) -> str | None:
        return None  # the coordinator is the lock: two clients cannot acquire one place

    def _flash(self, image: Image) -> None:
        raise BoardError(f"board {self.name!r} of labgrid place {self.place.name!r} is not flashed by the harness "
                         "with --hil-lg-place; flash it on its bench, or give it a lab.toml row with place = "
                         "\"...\" and a flasher")  # fmt: skip

    def _start(self) -> str:
        self.place.acquire()
        try:
            return self.place.serial_url()
        except BaseException:
            self.place.release()
            raise

    def _stop(self) -> None:
        self.place.release()

    def reset(self) -> None:
        raise BoardError(f"labgrid place {self.place.name!r}: the harness drives no reset line of it")

    def facts(self) -> dict[str, str]:
        return {"board": self.name, "labgrid_place": self.place.name,
                "coordinator": os.environ.get(COORDINATOR_ENV, ""), "link": self.url or ""}  # fmt: skip


class PlaceBenchBoard(BenchBoard):
    """A lab.toml row with ``place = "NAME"``: a bench board whose serial port is the labgrid place's
    NetworkSerialPort. The place is acquired before the board is first touched (the flash's HELLO probe) and released
    when the board stops; the row's flasher flashes it as any row's does, from this machine (a GDB server on the
    bench host for gdb-remote)."""

    def __init__(self, row: BenchRow, options: BoardOptions | None = None) -> None:
        super().__init__(row, options)
        self.place = Place(row.place)

    @property
    def lease_key(self) -> str | None:
        return None  # the coordinator is the lock

    def _take_place(self) -> None:
        if not self.place.acquired:
            self.place.acquire()
            try:
                self.row = dataclasses.replace(self.row, serial=self.place.serial_url())
            except BaseException:
                self.place.release()
                raise
            log.info("board %s: labgrid place %s, serial %s", self.name, self.place.name, self.row.serial)

    def _flash(self, image: Image) -> None:
        self._take_place()
        super()._flash(image)

    def _start(self) -> str:
        self._take_place()
        return super()._start()

    def reset(self) -> None:
        self._take_place()
        super().reset()

    def stop(self) -> None:
        """Released whatever state the board got to: a flash that failed has acquired the place too."""
        try:
            super().stop()
        finally:
            self.place.release()

    def facts(self) -> dict[str, str]:
        return {**super().facts(), "labgrid_place": self.place.name,
                "coordinator": os.environ.get(COORDINATOR_ENV, "")}  # fmt: skip
