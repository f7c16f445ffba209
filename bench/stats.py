"""Small statistics and table helpers shared by the benchmark runners."""

from __future__ import annotations

import statistics
from typing import Iterable, Sequence


def median(values: Iterable[float | None]) -> float | None:
    """Median of the non-None values, or None if there are none."""
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def ratios(num: Sequence[float | None], den: Sequence[float | None]) -> list[float]:
    """Per-round ratios num[i]/den[i], skipping rounds where either is missing/0."""
    return [a / b for a, b in zip(num, den) if a is not None and b]


def median_ratio(num: Sequence[float | None], den: Sequence[float | None]) -> float | None:
    """Median of the per-round ratios (not the ratio of medians)."""
    return median(ratios(num, den))


def fmt_rps(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def fmt_ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def fmt_spread(rs: Sequence[float]) -> str:
    return "-" if not rs else f"{min(rs):.2f}-{max(rs):.2f}"


def fmt_us(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                 align: str | None = None) -> str:
    """Plain-text table; ``align`` is one char per column, 'l' or 'r'."""
    if align is None:
        align = "l" + "r" * (len(headers) - 1)
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells):
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.ljust(widths[i]) if align[i] == "l" else cell.rjust(widths[i]))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep] + [line(r) for r in rows])
