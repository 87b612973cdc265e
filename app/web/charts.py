"""Bar charts as inline SVG, drawn on the server: a pure function from numbers to markup.

No script and nothing fetched from elsewhere; screen readers get the chart's
title and description (the page also shows the numbers as a table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 34, 34
MAX_X_LABELS = 16


@dataclass(frozen=True)
class Series:
    name: str
    color: str  # a CSS colour, from the code (never from input)
    values: list[float]


def nice_step(top: float, ticks: int = 5) -> int:
    """A round step (1, 2 or 5 times a power of ten, at least 1) that divides 0..top into at most `ticks` parts."""
    if top <= ticks:
        return 1
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1, 2, 5, 10) if raw <= factor * power)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def stacked_bars(*, title: str, desc: str, labels: list[str], series: list[Series], chart_id: str = "chart",
                 empty_text: str = "Nothing to show", width: int = WIDTH, height: int = HEIGHT) -> str:
    """One stacked bar per label, the series stacked bottom up in the order given."""
    for one in series:
        if len(one.values) != len(labels):
            raise ValueError(f"series {one.name!r} has {len(one.values)} values for {len(labels)} labels")
    totals = [sum(one.values[i] for one in series) for i in range(len(labels))]
    step = nice_step(max(totals, default=0))
    top = step * max(1, math.ceil(max(totals, default=0) / step))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    base = TOP + plot_h

    def y(value: float) -> float:
        return base - value / top * plot_h

    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'class="chart" aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}" '
           f'font-family="system-ui, sans-serif" font-size="11">'),
           f'<title id="{chart_id}-title">{escape(title)}</title>',
           f'<desc id="{chart_id}-desc">{escape(desc)}</desc>']
    # Grid lines and the value axis.
    value = 0.0
    while value <= top + 1e-9:
        out.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{_num(y(value))}" y2="{_num(y(value))}" '
                   f'stroke="#dde1e7" stroke-width="1"/>')
        out.append(f'<text x="{LEFT - 6}" y="{_num(y(value) + 4)}" text-anchor="end" fill="#5b6675">'
                   f'{_fmt(value)}</text>')
        value += step
    # The legend, on top.
    x = LEFT
    for one in series:
        out.append(f'<rect x="{x}" y="8" width="12" height="12" rx="2" fill="{escape(one.color)}"/>')
        out.append(f'<text x="{x + 16}" y="18" fill="#1c2430">{escape(one.name)}</text>')
        x += 24 + 7 * len(one.name)
    if not labels or not any(totals):
        out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{TOP + plot_h / 2:.0f}" text-anchor="middle" '
                   f'fill="#5b6675" font-size="14">{escape(empty_text)}</text>')
    slot = plot_w / max(len(labels), 1)
    bar = max(slot * 0.7, 1)
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    for i, label in enumerate(labels):
        left = LEFT + i * slot + (slot - bar) / 2
        stacked = 0.0
        parts = []
        for one in series:
            amount = one.values[i]
            if amount > 0:
                parts.append(f'<rect x="{_num(left)}" y="{_num(y(stacked + amount))}" width="{_num(bar)}" '
                             f'height="{_num(y(stacked) - y(stacked + amount))}" fill="{escape(one.color)}">'
                             f'<title>{escape(label)}: {_fmt(amount)} {escape(one.name)}</title></rect>')
            stacked += amount
        out.append(f'<g class="bar" data-label="{escape(label)}" data-total="{_fmt(totals[i])}">{"".join(parts)}</g>')
        if i % every == 0:
            out.append(f'<text x="{_num(left + bar / 2)}" y="{base + 16}" text-anchor="middle" fill="#5b6675">'
                       f'{escape(label)}</text>')
    out.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{base}" y2="{base}" stroke="#5b6675" stroke-width="1"/>')
    out.append("</svg>")
    return "\n".join(out)
