"""The bench inventory, ``lab.toml``: one table per physical board, data only.

```toml
[boards.nucleo-3]
kind    = "nucleo-f401re"      # which firmware folder (and so which image) the board runs
serial  = "/dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_066DFF...-if02"   # any pyserial URL
baud    = 115200
flasher = "openocd"            # a module in harness/flashing/: openocd | pyocd | gdb-remote | esptool | none
probe   = "066DFF..."          # the adapter's serial number, passed to the flasher
```

The file is found at ``--hil-lab PATH``, else ``$HIL_LAB``, else ``./lab.toml``. ``--hil-board ROWNAME`` then means
that row. Every key a row may have is in :data:`KEYS`; which flasher reads which is said by the flasher itself
(``Flasher.keys``), so an unknown key, a key of another flasher, a missing port, two rows on one port or one probe,
an unknown kind or flasher are refused here, with the file and line, before any board is touched.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KEYS", "LAB_ENV", "LAB_FILE", "BenchRow", "Key", "Lab", "LabError", "find_lab", "load_lab"]

LAB_ENV = "HIL_LAB"
LAB_FILE = "lab.toml"


class LabError(ValueError):
    """lab.toml cannot be used as written; the message names the file and line and what to change."""


@dataclass(frozen=True)
class Key:
    """One key a row may have: its TOML type and what it means."""

    type: type
    help: str
    required: bool = False


# Keys every row may have, whatever its flasher.
COMMON_KEYS: Mapping[str, Key] = {
    "kind": Key(str, "which firmware folder and board facts: a board kind or a folder under firmware/boards/", True),
    "serial": Key(str, "the board's UART as a pyserial URL: /dev/serial/by-id/..., socket://, rfc2217://", True),
    "flasher": Key(str, "how the image gets onto the board: a module in harness/flashing/", True),
    "baud": Key(int, "UART baud rate (default 115200)"),
    "probe": Key(str, "the debug adapter's serial number, passed to the flasher (two rows never share one)"),
    "boot_timeout": Key(float, "seconds the board may take to answer HELLO after a flash or reset (default 10)"),
    "flash_timeout": Key(float, "seconds the flasher may take (default 120)"),
    "place": Key(
        str,
        "a labgrid place (coordinator at $LG_COORDINATOR) whose NetworkSerialPort is the board's serial port: "
        "acquired for the run, released at its end; the row then has no serial",
    ),
    "pool": Key(
        str,
        "a name shared by interchangeable boards: a test that needs several (hil_boards) takes them from "
        "the pool of the board under test",
    ),
}
# Keys only some flashers read; each flasher lists its own in Flasher.keys.
FLASHER_KEYS: Mapping[str, Key] = {
    "gdb": Key(str, "the GDB server: HOST:PORT (OpenOCD/pyOCD :3333, J-Link :2331, st-util :4242) or a BMP's device"),
    "reset": Key(str, "the GDB server's monitor command that resets and runs the core (OpenOCD: 'reset run')"),
    "gdb_init": Key(list, "GDB commands after connecting, before load (a BMP: ['monitor swdp_scan', 'attach 1'])"),
    "openocd_cfg": Key(list, "OpenOCD -f config files (default by kind, e.g. board/st_nucleo_f4.cfg)"),
    "target": Key(str, "pyOCD target type (default by kind, e.g. stm32f401re)"),
    "image": Key(str, "a prebuilt image the harness flashes instead of building one (path relative to lab.toml)"),
    "chip": Key(str, "esptool --chip (esp32s3, esp32, ...)"),
    "build_id": Key(str, "the 16 hex digits the prebuilt image answers HELLO with (its banner's build=...)"),
}
KEYS: Mapping[str, Key] = {**COMMON_KEYS, **FLASHER_KEYS}

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HOST_PORT_RE = re.compile(r"^(?P<host>[^:\s]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class BenchRow:
    """One board on the bench, as lab.toml says: nothing here is looked up or opened."""

    name: str
    kind: str
    serial: str
    flasher: str
    baud: int = 115200
    probe: str = ""
    boot_timeout: float = 10.0
    flash_timeout: float = 120.0
    gdb: str = ""
    reset: str = "reset run"
    gdb_init: tuple[str, ...] = ()
    openocd_cfg: tuple[str, ...] = ()
    target: str = ""
    image: Path | None = None
    chip: str = ""
    build_id: int | None = None
    pool: str = ""
    place: str = ""  # a labgrid place: its NetworkSerialPort is the serial port, known once the place is acquired
    source: Path = field(default=Path(LAB_FILE), compare=False)
    line: int = field(default=0, compare=False)
    key_lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)

    def where(self, key: str | None = None) -> str:
        """``lab.toml:12`` — the row's table, or the line of one of its keys."""
        return f"{self.source}:{self.key_lines.get(key, self.line) if key else self.line}"

    @property
    def prebuilt(self) -> bool:
        """The board runs an image built elsewhere (ESP-IDF for an ESP32): the harness builds nothing for it."""
        return self.image is not None

    def gdb_address(self) -> tuple[str, int] | Path:
        """HOST:PORT of a GDB server, or the serial device of one (a Black Magic Probe's /dev/ttyBmpGdb)."""
        if self.gdb.startswith("/"):
            return Path(self.gdb)
        m = _HOST_PORT_RE.match(self.gdb)
        if not m:
            raise LabError(f"{self.where('gdb')}: gdb = {self.gdb!r} is not HOST:PORT (e.g. '127.0.0.1:3333') "
                           "nor a device path (e.g. '/dev/ttyBmpGdb')")  # fmt: skip
        return m.group("host"), int(m.group("port"))


@dataclass(frozen=True)
class Lab:
    path: Path
    rows: Mapping[str, BenchRow]

    def row(self, name: str) -> BenchRow:
        if name not in self.rows:
            raise LabError(f"{self.path}: no row [boards.{name}]; rows: {', '.join(self.rows) or 'none'}")
        return self.rows[name]

    def pool(self, name: str) -> list[BenchRow]:
        """The rows of pool ``name``, in file order."""
        return [row for row in self.rows.values() if row.pool == name]


def find_lab(explicit: str | Path | None = None) -> Path | None:
    """The inventory to use: ``explicit`` (--hil-lab), else $HIL_LAB, else ./lab.toml when it exists, else None.
    A path that was asked for and is missing is an error, not silence."""
    for given, origin in ((explicit, "--hil-lab"), (os.environ.get(LAB_ENV) or None, f"${LAB_ENV}")):
        if given is not None:
            path = Path(given)
            if not path.is_file():
                raise LabError(f"{origin} {path}: no such file; write the bench inventory there (docs/bench.md)")
            return path
    local = Path(LAB_FILE)
    return local if local.is_file() else None


# ---- where things are in the text (tomllib gives values, not lines) --------------------------------------------
_TABLE_RE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY_RE = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""")


def _dotted(path: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"""(?:"[^"]*"|'[^']*'|[^.]+)""", path)]


def _lines(text: str) -> tuple[dict[str, int], dict[str, dict[str, int]], dict[str, int]]:
    """Line numbers of each [boards.NAME] table, of each key inside it, and of top-level tables/keys."""
    tables: dict[str, int] = {}
    keys: dict[str, dict[str, int]] = {}
    top: dict[str, int] = {}
    current: str | None = None
    in_top = True
    for number, line in enumerate(text.splitlines(), start=1):
        m = _TABLE_RE.match(line)
        if m:
            parts = _dotted(m.group(1))
            in_top = False
            current = None
            if len(parts) == 2 and parts[0] == "boards":
                current = parts[1]
                tables.setdefault(current, number)
                keys.setdefault(current, {})
            top.setdefault(parts[0], number)
            continue
        k = _KEY_RE.match(line)
        if k:
            key = next(g for g in k.groups() if g)
            if current is not None:
                keys[current].setdefault(key, number)
            elif in_top:
                top.setdefault(key, number)
    return tables, keys, top


# ---- parsing -------------------------------------------------------------------------------------------------
def _known_kinds() -> dict[str, str]:
    """Kinds a row may name, with where their firmware comes from: a registry kind that builds an MCU image, or a
    folder under firmware/boards/ (``nucleo-f401re`` also finds ``nucleo_f401re``)."""
    from harness.boards import board_kinds
    from harness.defaults import FIRMWARE_DIR

    kinds = {name: f"board kind {name}" for name, cls in board_kinds().items() if cls.firmware_board and cls.cross}
    boards_dir = FIRMWARE_DIR / "boards"
    registry_folders = {cls.firmware_board for cls in board_kinds().values()}
    if boards_dir.is_dir():
        for folder in sorted(p.name for p in boards_dir.iterdir() if (p / "board.cmake").is_file()):
            if folder in registry_folders:
                continue  # the registry's kind (the host, a QEMU machine) says what that folder is
            kinds.setdefault(folder, f"firmware/boards/{folder}")
            kinds.setdefault(folder.replace("_", "-"), f"firmware/boards/{folder}")
    return kinds


def _typed(value: Any, key: str, where: str) -> Any:
    spec = KEYS[key]
    if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if spec.type is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise LabError(f"{where}: {key} must be a list of strings ({spec.help})")
        return tuple(value)
    if not isinstance(value, spec.type) or isinstance(value, bool):
        kind = {str: "a string", int: "an integer", float: "a number"}[spec.type]
        raise LabError(f"{where}: {key} = {value!r} must be {kind} ({spec.help})")
    if isinstance(value, str) and not value.strip():
        raise LabError(f"{where}: {key} is empty ({spec.help})")
    return value


def _port_identity(url: str) -> str:
    """Two spellings of one port are one port: /dev/serial/by-id/... links resolve to the device they name."""
    if "://" not in url and os.path.exists(url):
        return os.path.realpath(url)
    return url


def _row(name: str, table: Any, path: Path, line: int, key_lines: dict[str, int]) -> BenchRow:
    where = f"{path}:{line}"
    if not _NAME_RE.match(name):
        raise LabError(f"{where}: row name {name!r} must be letters, digits, '-', '_' or '.' (it is a --hil-board)")
    if not isinstance(table, dict):
        raise LabError(f"{where}: boards.{name} must be a table: [boards.{name}] with kind, serial, flasher")
    for key in table:
        if key not in KEYS:
            raise LabError(
                f"{path}:{key_lines.get(key, line)}: unknown key {key!r} in [boards.{name}]; a row has "
                f"{', '.join(KEYS)} (docs/bench.md)"
            )
    if "place" in table and "serial" in table:
        raise LabError(f"{path}:{key_lines.get('serial', line)}: [boards.{name}] has a labgrid place, whose "
                       "NetworkSerialPort is its serial port: remove serial")  # fmt: skip
    for key, spec in COMMON_KEYS.items():
        if spec.required and key not in table and not (key == "serial" and "place" in table):
            raise LabError(f"{where}: [boards.{name}] has no {key} ({spec.help}; or a labgrid place)")
    values = {key: _typed(value, key, f"{path}:{key_lines.get(key, line)}") for key, value in table.items()}

    from harness.flashing import flashers

    known_flashers = flashers()
    flasher = known_flashers.get(values["flasher"])
    if flasher is None:
        raise LabError(
            f"{path}:{key_lines.get('flasher', line)}: unknown flasher {values['flasher']!r} in [boards.{name}]; "
            f"flashers: {', '.join(known_flashers)}"
        )
    for key in values:
        if key in FLASHER_KEYS and key not in flasher.keys:
            users = [n for n, f in known_flashers.items() if key in f.keys]
            raise LabError(
                f"{path}:{key_lines.get(key, line)}: key {key!r} is read by flasher {' / '.join(users)}, but "
                f"[boards.{name}] has flasher {flasher.name!r}: remove it or change the flasher"
            )
    for key in flasher.required:
        if key not in values:
            raise LabError(f"{where}: [boards.{name}] uses flasher {flasher.name!r}, which needs {key} "
                           f"({KEYS[key].help})")  # fmt: skip
    if "image" in values:
        image = Path(values["image"]).expanduser()
        values["image"] = image if image.is_absolute() else (path.parent / image)
    if "build_id" in values:
        text = values["build_id"].lower().removeprefix("0x")
        if not re.fullmatch(r"[0-9a-f]{16}", text):
            raise LabError(f"{path}:{key_lines.get('build_id', line)}: build_id = {values['build_id']!r} must be "
                           "16 hex digits, as the image's banner prints after build=")  # fmt: skip
        values["build_id"] = int(text, 16)
    if "baud" in values and values["baud"] <= 0:
        raise LabError(f"{path}:{key_lines.get('baud', line)}: baud = {values['baud']} must be positive")
    values.setdefault("serial", "")  # a place's: known once it is acquired
    row = BenchRow(name=name, source=path, line=line, key_lines=dict(key_lines), **values)
    if row.gdb:
        row.gdb_address()
    for problem in flasher().problems(row):
        raise LabError(f"{where}: [boards.{name}]: {problem}")
    return row


def load_lab(path: str | Path) -> Lab:
    """Read and check ``path``. Every refusal is a LabError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabError(f"{path}: cannot read the bench inventory: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"{path}: not valid TOML: {exc}") from exc
    tables, keys, top = _lines(text)
    for key in data:
        if key != "boards":
            raise LabError(f"{path}:{top.get(key, 1)}: unknown top-level entry {key!r}; lab.toml holds only "
                           "[boards.NAME] tables")  # fmt: skip
    boards = data.get("boards", {})
    if not isinstance(boards, dict):
        raise LabError(f"{path}:{top.get('boards', 1)}: 'boards' must hold tables: [boards.NAME]")

    from harness.boards import board_kinds

    registry = board_kinds()
    kinds = _known_kinds()
    rows: dict[str, BenchRow] = {}
    ports: dict[str, BenchRow] = {}
    probes: dict[tuple[str, str], BenchRow] = {}
    for name, table in boards.items():
        line = tables.get(name, top.get("boards", 1))
        if name in registry:
            raise LabError(
                f"{path}:{line}: row [boards.{name}] is named like the board kind {name!r}, so --hil-board {name} "
                f"would mean two boards; rename the row (e.g. {name}-1)"
            )
        row = _row(name, table, path, line, keys.get(name, {}))
        if not row.prebuilt and row.kind not in kinds:
            raise LabError(
                f"{row.where('kind')}: [boards.{name}] has kind {row.kind!r}, which has no firmware here; kinds: "
                f"{', '.join(sorted(kinds))} (or give a prebuilt image with flasher esptool)"
            )
        port = f"labgrid place {row.place}" if row.place else _port_identity(row.serial)
        if port in ports:
            first = ports[port]
            key = "place" if row.place else "serial"
            raise LabError(f"{row.where(key)}: [boards.{name}] has the serial port of [boards.{first.name}] "
                           f"({first.where(key)}): {row.serial or port}; each board has its own port")  # fmt: skip
        ports[port] = row
        for key, value in (("probe", row.probe), ("gdb", row.gdb)):
            if value and (key, value) in probes:
                first = probes[(key, value)]
                raise LabError(f"{row.where(key)}: [boards.{name}] has the {key} of [boards.{first.name}] "
                               f"({first.where(key)}): {value}; one probe flashes one board")  # fmt: skip
            if value:
                probes[(key, value)] = row
        rows[name] = row
    return Lab(path, rows)
