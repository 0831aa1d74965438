"""The Python mirror of the wire protocol must match the C headers number for number."""

import re
from pathlib import Path

import pytest

from harness.proto import wire

HEADERS = Path(__file__).resolve().parents[2] / "firmware" / "include" / "hil"


def _c_defines() -> dict[str, int]:
    text = (HEADERS / "hil_proto.h").read_text()
    pairs = re.findall(r"^#define\s+(HIL_\w+)\s+(0x[0-9A-Fa-f]+|\d+)u?\b", text, flags=re.M)
    return {name: int(value, 0) for name, value in pairs}


def _c_status_enum() -> dict[str, int]:
    text = (HEADERS / "hil_types.h").read_text()
    body = re.search(r"typedef enum \{(.*?)\} hil_status_t;", text, flags=re.S)
    assert body, "hil_status_t enum not found in hil_types.h"
    return {name: int(value) for name, value in re.findall(r"(HIL_\w+)\s*=\s*(\d+)", body.group(1))}


def test_header_defines_found() -> None:
    assert len(_c_defines()) > 30, "the parser found too few #defines in hil_proto.h; did the format change?"


@pytest.mark.parametrize("name,value", sorted(_c_defines().items()))
def test_every_c_define_is_mirrored(name: str, value: int) -> None:
    assert hasattr(wire, name), f"{name} is in hil_proto.h but not in harness/proto/wire.py"
    assert getattr(wire, name) == value, f"{name}: C says {value}, Python says {getattr(wire, name)}"


def test_every_python_constant_is_in_c() -> None:
    c_names = set(_c_defines()) | set(_c_status_enum())
    py_names = {n for n in vars(wire) if n.startswith("HIL_")}
    assert py_names - c_names == set(), "constants in wire.py that hil_proto.h/hil_types.h do not define"


def test_status_codes_match() -> None:
    c = _c_status_enum()
    assert c == {s.name: int(s) for s in wire.Status}
