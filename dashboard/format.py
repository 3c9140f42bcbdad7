"""How numbers are written on the page (KPI cards), by the unit of their column."""

from __future__ import annotations


def money(value: float) -> str:
    """1,234 / 12.3k / 4.64M / 231.3M: amounts under 10,000 in full, larger ones short."""
    # (a start just under the unit, so 999,999 is 1.00M, not 1,000.0k)
    for unit, size, start in (("B", 1e9, 999.95e6), ("M", 1e6, 999.95e3), ("k", 1e3, 1e4)):
        if abs(value) >= start:
            scaled = value / size
            return f"{scaled:,.2f}{unit}" if abs(scaled) < 10 else f"{scaled:,.1f}{unit}"
    return f"{value:,.0f}"


#: How a value is written, by the unit of its column (see segmentation.shapes.Panel).
FORMATS = {
    "money": money,
    "count": lambda v: f"{v:,.1f}",
    "days": lambda v: f"{v:,.1f} days",
    "share": lambda v: f"{v:.1%}",
    "number": lambda v: f"{v:,.4g}" if abs(v) < 1e4 else money(v),
}
