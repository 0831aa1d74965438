"""The bench quant table: per MAC from the measured count, the CMSIS-NN anchor beside the shape it was measured on
(and nowhere else), speed against the same board's float32."""

from __future__ import annotations

from harness.suites.bench import QuantFigure, format_quant


def _figure(board: str, model: str, variant: str, count: float, macs: int = 11_612_288) -> QuantFigure:
    quality = {"rmse": 0.1, "mae": 0.08, "rmse_vs_float32": 0.0 if variant == "float32" else 0.01}
    return QuantFigure(board, model, variant, "LSTM_S8", "instructions", count, macs, 1000, 4000, 2000, 600, quality,
                       8, None if variant == "float32" else True, 0.0)  # fmt: skip


def _row(table: str, board: str, model: str, variant: str) -> list[str]:
    for line in table.splitlines():
        cells = line.split()
        if cells[:3] == [board, model, variant]:
            return cells
    raise AssertionError(f"no row {board} {model} {variant} in\n{table}")


def test_anchor_and_speed_columns() -> None:
    figures = [
        _figure("qemu-stm32f4", "beijing_lstm128x168", "float32", 57_680_833),
        _figure("qemu-stm32f4", "beijing_lstm128x168", "int8", 34_762_278),
        _figure("qemu-cm3", "beijing_lstm128x168", "int8", 100_000_000),
        _figure("qemu-stm32f4", "electricity_lstm32x24", "int8", 637_032, macs=101_408),
    ]
    table = format_quant(figures)
    header = table.splitlines()[0].split()
    at = header.index("per")  # "per inference", then "per MAC", then "anchor"
    assert header[at + 2 : at + 5] == ["per", "MAC", "anchor"]
    int8 = _row(table, "qemu-stm32f4", "beijing_lstm128x168", "int8")
    assert "2.99" in int8 and "2.95" in int8, int8  # measured per MAC, the anchor beside it
    assert "1.66x" in int8  # float32's count over int8's
    assert "2.95" not in _row(table, "qemu-cm3", "beijing_lstm128x168", "int8")  # measured on the M4F only
    assert "2.95" not in _row(table, "qemu-stm32f4", "electricity_lstm32x24", "int8")  # another shape
    assert "CMSIS-NN" in table
