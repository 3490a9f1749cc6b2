"""Charts as inline SVG, drawn in Python (private): the HTML report needs no chart library.

Every chart is a ``<figure class="chart" data-chart=NAME>`` holding one ``<svg>``; colours are
CSS classes (the report's stylesheet sets them for light and dark), never inline styles, which
the report's Content-Security-Policy forbids. Every label may come from a log and is escaped.
Each bucket of a time chart carries a ``<title>`` (the browser's tooltip) with its values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from botguard.report._spark import rebin

WIDTH, HEIGHT = 800, 240
LEFT, RIGHT, TOP, BOTTOM = 60, 14, 12, 30
ROW = 22  # height of one bar of a bar chart
LABEL = 220  # room for a bar's label
LABEL_CHARS = 30  # a longer label is cut (the whole label is its tooltip)


@dataclass(frozen=True, slots=True)
class Part:
    """One coloured stretch of a bar or one series of a time chart."""

    name: str
    css: str  # the class that colours it
    values: tuple[int, ...]
    note: str = ""  # a bar part's tooltip instead of its value (e.g. a share)


@dataclass(frozen=True, slots=True)
class Mark:
    """A moment to mark on a time axis (a new robots.txt version)."""

    time: datetime
    label: str


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def nice_step(value: float) -> int:
    """The tick step for an axis up to ``value``: 1, 2 or 5 times a power of ten, at most 5 ticks.

    Examples:
        >>> nice_step(0), nice_step(3), nice_step(41), nice_step(83), nice_step(2_001)
        (1, 1, 10, 20, 500)
    """
    if value <= 5:
        return 1
    power = 10 ** math.floor(math.log10(value / 5))
    return next(step * power for step in (1, 2, 5, 10) if step * power * 5 >= value)


def number(value: float) -> str:
    """A count in few characters: 950, 1.2k, 3.4M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return _fmt(value / limit) + suffix
    return _fmt(value)


def byte_size(value: float) -> str:
    """A byte count as people read it: 500 B, 602.4 kB, 198.7 MB.

    Examples:
        >>> byte_size(500), byte_size(602_400), byte_size(198_700_000)
        ('500 B', '602.4 kB', '198.7 MB')
    """
    for limit, suffix in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if abs(value) >= limit:
            return f"{_fmt(value / limit)} {suffix}"
    return f"{_fmt(value)} B"


def _y_axis(value: float, plot_h: int) -> tuple[float, list[str]]:
    """The axis's top (a whole number of steps at or above ``value``) and its grid and labels."""
    step = nice_step(value)
    ticks = max(1, math.ceil(value / step))
    top = float(step * ticks)
    out = []
    for i in range(ticks + 1):
        y = TOP + plot_h * (1 - i / ticks)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_fmt(y)}" y2="{_fmt(y)}"/>')
        out.append(
            f'<text class="tick" x="{LEFT - 6}" y="{_fmt(y + 4)}" text-anchor="end">{number(i * step)}</text>'
        )
    return top, out


#: Steps between time labels (seconds): an hour ... a week, so labels fall on round times.
_TIME_STEPS = (60, 300, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800)


def _x_axis(start: datetime, width: int, buckets: int, bar: float) -> list[str]:
    """Labels at round UTC times, about six across the span."""
    span = width * buckets
    step = next((s for s in _TIME_STEPS if s >= span / 6 and s >= width), _TIME_STEPS[-1])
    first = start.timestamp()
    tick = math.ceil(first / step) * step
    style = "%Y-%m-%d" if step >= 86_400 else "%m-%d %H:%M"
    out = []
    while tick <= first + span:
        x = _fmt(LEFT + (tick - first) / width * bar)
        label = datetime.fromtimestamp(tick, start.tzinfo).strftime(style)
        out.append(
            f'<line class="axis" x1="{x}" x2="{x}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM + 4}"/>'
        )
        out.append(
            f'<text class="tick" x="{x}" y="{HEIGHT - 10}" text-anchor="middle">{escape(label)}</text>'
        )
        tick += step
    return out


def _marks(marks: Sequence[Mark], start: datetime, width: int, buckets: int, bar: float) -> list[str]:
    out = []
    span = width * buckets
    for mark in marks:
        offset = (mark.time - start).total_seconds()
        if not 0 <= offset <= span:
            continue
        x = _fmt(LEFT + offset / width * bar)
        out.append(
            f'<g class="mark"><title>{escape(mark.label)}</title>'
            f'<line x1="{x}" x2="{x}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>'
            f'<text x="{x}" y="{TOP + 10}">robots.txt</text></g>'
        )
    return out


def _legend(parts: Sequence[Part], counts: bool = True) -> str:
    items = "".join(
        f'<li><span class="sw {p.css}"></span>{escape(p.name)}'
        + (f" <small>{number(sum(p.values))}</small>" if counts else "")
        + "</li>"
        for p in parts
    )
    return f'<ul class="legend">{items}</ul>'


def _figure(name: str, label: str, body: list[str], height: int, legend: str = "") -> str:
    return (
        f'<figure class="chart" data-chart="{escape(name)}">'
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
        f"{'<figcaption>' + legend + '</figcaption>' if legend else ''}</figure>"
    )


def _tooltips(parts: Sequence[Part], start: datetime, width: int, buckets: int, bar: float) -> list[str]:
    """One transparent column per busy bucket whose title lists the values (hover to read)."""
    out, plot_h = [], HEIGHT - TOP - BOTTOM
    for i in range(buckets):
        values = [(p.name, p.values[i]) for p in parts if p.values[i]]
        if not values:
            continue
        when = start + timedelta(seconds=i * width)
        text = f"{when:%Y-%m-%d %H:%M} UTC, {number(sum(v for _, v in values))} requests\n"
        text += "\n".join(f"{name}: {value:,}" for name, value in values)
        out.append(
            f'<rect class="hit" x="{_fmt(LEFT + i * bar)}" y="{TOP}" width="{_fmt(bar)}" '
            f'height="{plot_h}"><title>{escape(text)}</title></rect>'
        )
    return out


def stacked_bars(
    name: str, label: str, parts: Sequence[Part], start: datetime, width: int, buckets: int,
    marks: Sequence[Mark] = (),
) -> str:  # fmt: skip
    """Requests per bucket, one coloured stack per part, robots.txt changes marked."""
    plot_h = HEIGHT - TOP - BOTTOM
    bar = (WIDTH - LEFT - RIGHT) / max(buckets, 1)
    top, body = _y_axis(max((sum(p.values[i] for p in parts) for i in range(buckets)), default=0), plot_h)
    base = [0] * buckets
    for part in parts:
        d = []
        for i, value in enumerate(part.values):
            if value:
                y0, y1 = TOP + plot_h * (1 - base[i] / top), TOP + plot_h * (1 - (base[i] + value) / top)
                d.append(f"M{_fmt(LEFT + i * bar)} {_fmt(y1)}h{_fmt(bar)}V{_fmt(y0)}h{_fmt(-bar)}Z")
                base[i] += value
        body.append(f'<path class="{part.css}" d="{"".join(d)}"><title>{escape(part.name)}</title></path>')
    body += _x_axis(start, width, buckets, bar) + _marks(marks, start, width, buckets, bar)
    body += _tooltips(parts, start, width, buckets, bar)
    return _figure(name, label, body, HEIGHT, _legend(parts))


def lines(
    name: str, label: str, parts: Sequence[Part], start: datetime, width: int, buckets: int,
    marks: Sequence[Mark] = (),
) -> str:  # fmt: skip
    """Requests per bucket, one line per part (the busiest operators)."""
    plot_h = HEIGHT - TOP - BOTTOM
    bar = (WIDTH - LEFT - RIGHT) / max(buckets, 1)
    top, body = _y_axis(max((max(p.values, default=0) for p in parts), default=0), plot_h)
    for part in parts:
        points = " ".join(
            f"{_fmt(LEFT + (i + 0.5) * bar)},{_fmt(TOP + plot_h * (1 - v / top))}"
            for i, v in enumerate(part.values)
        )
        body.append(
            f'<polyline class="line {part.css}" points="{points}">'
            f"<title>{escape(part.name)}</title></polyline>"
        )
    body += _x_axis(start, width, buckets, bar) + _marks(marks, start, width, buckets, bar)
    body += _tooltips(parts, start, width, buckets, bar)
    return _figure(name, label, body, HEIGHT, _legend(parts))


@dataclass(frozen=True, slots=True)
class Bar:
    """One row of a bar chart: a label and its coloured parts (``Part.values`` holds one value)."""

    label: str
    parts: tuple[Part, ...]
    note: str = ""  # shown after the bar (e.g. a percentage)


def bars(name: str, label: str, rows: Sequence[Bar], legend: Sequence[Part] = ()) -> str:
    """Horizontal bars, one per row, each split into coloured parts, on a shared scale."""
    height = TOP + BOTTOM // 2 + ROW * max(len(rows), 1)
    notes = [row.note or number(sum(p.values[0] for p in row.parts)) for row in rows]
    right = WIDTH - RIGHT - 7 * max((len(n) for n in notes), default=0) - 12
    top = max((sum(p.values[0] for p in row.parts) for row in rows), default=0) or 1
    body = []
    for r, (row, note) in enumerate(zip(rows, notes)):
        y = TOP + r * ROW
        shown = row.label if len(row.label) <= LABEL_CHARS else row.label[: LABEL_CHARS - 1] + "…"
        body.append(
            f'<text class="label" x="{LABEL - 6}" y="{y + 15}" text-anchor="end">'
            f"<title>{escape(row.label)}</title>{escape(shown)}</text>"
        )
        x = float(LABEL)
        for part in row.parts:
            w = (right - LABEL) * part.values[0] / top
            if w > 0:
                body.append(
                    f'<rect class="{part.css}" x="{_fmt(x)}" y="{y + 3}" width="{_fmt(max(w, 1))}" '
                    f'height="{ROW - 6}"><title>{escape(row.label)}: {escape(part.name)} '
                    f"{escape(part.note or f'{part.values[0]:,}')}</title></rect>"
                )
            x += w
        body.append(f'<text class="tick" x="{_fmt(x + 6)}" y="{y + 15}">{escape(note)}</text>')
    return _figure(name, label, body, height, _legend(legend, counts=False) if legend else "")


def sparkline(counts: Sequence[int], label: str, columns: int = 48) -> str:
    """A small line of requests over time (a client of the top offenders)."""
    values = rebin(counts, columns)
    top = max(values, default=0) or 1
    w, h = 120, 22
    step = w / max(len(values) - 1, 1)
    points = " ".join(f"{_fmt(i * step)},{_fmt(h - 1 - (h - 2) * v / top)}" for i, v in enumerate(values))
    return (
        f'<svg class="spark" viewBox="0 0 {w} {h}" role="img" aria-label="{escape(label)}">'
        f'<title>{escape(label)}</title><polyline points="{points}"/></svg>'
    )
