"""The model kinds: the device's one table (firmware/src/runtime/hil_models.c) and the harness's mirror
(harness/proto/wire.py MODEL_KINDS) must agree on every kind's element type, sequence handling and capability, or
INFER would put the wrong bytes on the wire."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.proto import wire

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
C_ELEMENT = {"float": "<f4", "int8_t": "i1", "int16_t": "<i2"}


def _c_table() -> dict[int, dict[str, object]]:
    text = (FIRMWARE / "src" / "runtime" / "hil_models.c").read_text()
    rows = re.findall(
        r"^\s*X\((HIL_MODEL_\w+),\s*\"(\w+)\",\s*(\w+),\s*\w+,\s*(\w+),\s*(\w+),\s*(\w+),\s*([^,]+),\s*(HIL_CAP_\w+)\)",
        text,
        flags=re.M,
    )
    table = {}
    for kind, name, family, dtype, _struct, elem, flags, cap in rows:
        table[getattr(wire, kind)] = {
            "name": name,
            "family": family,
            "dtype": dtype,
            "elem": C_ELEMENT[elem],
            "recurrent": "HIL_R" in flags,
            "float": "HIL_F" in flags,
            "capability": getattr(wire, cap),
        }
    return table


def test_the_table_parses() -> None:
    assert len(_c_table()) >= 8, "the parser found too few X(...) rows in hil_models.c; did the format change?"


def test_every_device_kind_is_mirrored_and_back() -> None:
    assert set(_c_table()) == set(wire.MODEL_KINDS)


@pytest.mark.parametrize("kind", sorted(wire.MODEL_KINDS))
def test_kind_agrees(kind: int) -> None:
    c, py = _c_table()[kind], wire.MODEL_KINDS[kind]
    assert c["name"] == py.name
    assert c["elem"] == py.dtype, f"{py.name}: the device carries {c['elem']}, the client would send {py.dtype}"
    assert c["recurrent"] == py.recurrent
    assert c["float"] == py.is_float
    assert c["capability"] == wire.CAPABILITY_NAMES[py.capability]
    # the kernel family/dtype named in the row must be the kind's own: LSTM_S8 -> hil_lstm_*_s8
    assert f"{c['family']}_{c['dtype']}".upper() == py.name
