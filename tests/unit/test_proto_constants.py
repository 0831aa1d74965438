"""The Python mirror of the wire protocol must match the C headers number for number."""

import re
from pathlib import Path

import pytest

from harness.proto import wire

HEADERS = Path(__file__).resolve().parents[2] / "firmware" / "include" / "hil"


def _proto_headers() -> list[Path]:
    """hil_proto.h and the hil/ headers it includes (hil_model.h: the blob format and kernel options it shares)."""
    text = (HEADERS / "hil_proto.h").read_text()
    return [HEADERS / "hil_proto.h"] + [
        HEADERS / name for name in re.findall(r'^#include "hil/(\w+\.h)"', text, flags=re.M)
    ]


def _c_defines() -> dict[str, int]:
    pairs = []
    for header in _proto_headers():
        pairs += re.findall(r"^#define\s+(HIL_\w+)\s+(0x[0-9A-Fa-f]+|\d+)u?\b", header.read_text(), flags=re.M)
    return {name: int(value, 0) for name, value in pairs}


def _c_status_enum() -> dict[str, int]:
    text = (HEADERS / "hil_types.h").read_text()
    body = re.search(r"typedef enum \{(.*?)\} hil_status_t;", text, flags=re.S)
    assert body, "hil_status_t enum not found in hil_types.h"
    return {name: int(value) for name, value in re.findall(r"(HIL_\w+)\s*=\s*(\d+)", body.group(1))}


def test_header_defines_found() -> None:
    assert len(_c_defines()) > 30, "the parser found too few #defines in hil_proto.h; did the format change?"
    assert "HIL_MODEL_MAGIC" in _c_defines(), "hil_model.h's constants not found: does hil_proto.h include it?"


@pytest.mark.parametrize("name,value", sorted(_c_defines().items()))
def test_every_c_define_is_mirrored(name: str, value: int) -> None:
    assert hasattr(wire, name), f"{name} is in hil_proto.h (or a header it includes) but not in harness/proto/wire.py"
    assert getattr(wire, name) == value, f"{name}: C says {value}, Python says {getattr(wire, name)}"


def test_every_python_constant_is_in_c() -> None:
    c_names = set(_c_defines()) | set(_c_status_enum())
    py_names = {n for n in vars(wire) if n.startswith("HIL_")}
    assert py_names - c_names == set(), "constants in wire.py that hil_proto.h/hil_model.h/hil_types.h do not define"


def test_status_codes_match() -> None:
    c = _c_status_enum()
    assert c == {s.name: int(s) for s in wire.Status}


@pytest.mark.parametrize("header", ["hil_lstm.h", "hil_lstm_train.h", "hil_quant.h", "hil_esn.h", "hil_model.h"])
def test_kernel_headers_know_nothing_of_the_protocol(header: str) -> None:
    text = (HEADERS / header).read_text()
    assert '#include "hil/hil_proto.h"' not in text and '#include "hil/hil_wire.h"' not in text, (
        f"{header} includes the wire protocol; kernels get blob constants from hil_model.h, status from hil_types.h"
    )
