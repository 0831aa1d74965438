"""docs/protocol.md's "Payload layouts" table and harness/proto/messages.py state every payload layout: they must be
the same layouts, field by field, with the sizes hil_proto.h fixes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.proto import messages, wire

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
HEADER = Path(__file__).resolve().parents[2] / "firmware" / "include" / "hil" / "hil_proto.h"


def _doc_rows() -> dict[str, tuple[str, str, str]]:
    """payload name -> (bytes cell, fields spec, then cell) from the table under "## Payload layouts"."""
    text = DOC.read_text()
    section = text.split("## Payload layouts", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[2].startswith("`"):
            rows[cells[0]] = (cells[1], cells[2].strip("`"), cells[3])
    return rows


def test_the_doc_has_the_table() -> None:
    assert len(_doc_rows()) >= 20, 'docs/protocol.md lost its "Payload layouts" table'


def test_every_layout_is_in_the_doc_and_every_doc_row_is_a_layout() -> None:
    doc, code = set(_doc_rows()), set(messages.LAYOUTS)
    assert doc == code, f"only in docs/protocol.md: {sorted(doc - code)}; only in messages.py: {sorted(code - doc)}"


@pytest.mark.parametrize("name", sorted(messages.LAYOUTS))
def test_the_doc_row_states_the_layout(name: str) -> None:
    size_cell, spec, then = _doc_rows()[name]
    layout = messages.LAYOUTS[name]
    documented = messages._layout(name, spec).fields
    assert documented == layout.fields, f"{name}: docs/protocol.md says {documented}, messages.py {layout.fields}"
    found = re.fullmatch(r"(\d+)(?: \(`(HIL_\w+)`\))?", size_cell)
    assert found, f"{name}: bytes cell {size_cell!r} is not 'N' or 'N (`HIL_..._SIZE`)'"
    assert int(found[1]) == layout.struct.size, f"{name}: the doc says {found[1]} bytes, the fields add up to more"
    assert found[2] == layout.size, f"{name}: the doc names {found[2]}, messages.py {layout.size}"
    assert then == (layout.then or "—")


@pytest.mark.parametrize("layout", [lay for lay in messages.LAYOUTS.values() if lay.size], ids=lambda lay: lay.name)
def test_sizes_match_the_c_header(layout: messages.Layout) -> None:
    value = re.search(rf"#define {layout.size} (\d+)", HEADER.read_text())
    assert value, f"{layout.size} is not defined in hil_proto.h"
    assert layout.struct.size == int(value[1]) == getattr(wire, layout.size)


def test_a_layout_that_disagrees_with_its_size_is_refused_at_import() -> None:
    with pytest.raises(ValueError, match="adds up to 8 bytes but HIL_STATS_SIZE is 44"):
        messages._layout("broken", "u32 a, b", "HIL_STATS_SIZE")


def test_pack_and_unpack_round_trip_and_name_what_is_wrong() -> None:
    payload = messages.ESN_FIT.pack(samples_fitted=7, n_features=3, n_outputs=2, ticks=2**40)
    assert payload == (7).to_bytes(4, "little") + (3).to_bytes(2, "little") + (2).to_bytes(2, "little") + (
        2**40
    ).to_bytes(8, "little")
    assert messages.ESN_FIT.unpack(payload) == {"samples_fitted": 7, "n_features": 3, "n_outputs": 2, "ticks": 2**40}
    with pytest.raises(TypeError, match=r"missing fields \['ticks'\]"):
        messages.ESN_FIT.pack(samples_fitted=7, n_features=3, n_outputs=2)
    with pytest.raises(messages.LinkError, match="ESN_FIT answer has 15 bytes, expected 16"):
        messages.ESN_FIT.unpack(payload[:-1])
    # reserved fields go out as zero and are not reported
    assert messages.TENSOR_WRITE.pack(tensor=5, offset=1) == bytes([5, 0, 0, 0, 1, 0, 0, 0])
    assert messages.TENSOR_WRITE.unpack(bytes([5, 9, 9, 9, 1, 0, 0, 0])) == {"tensor": 5, "offset": 1}
