"""Server-rendered SVG charts: no script, no CDN, nothing the Content-Security-Policy forbids.

Colours are SVG presentation attributes (`fill="#..."`), which the CSP allows; there is no
`style=` anywhere. Each chart is drawn twice, at a wide and a narrow geometry, because an SVG
scales its text with its box: one drawing readable at 1200 px would be unreadable at 390 px.
The stylesheet shows one of the two (`.chart--wide` / `.chart--narrow`), and the hidden one
is `display: none`, so screen readers meet a single chart. Every chart also carries its
numbers as table rows (`Chart.rows`) for screen readers and copying.

A chart has one unit (`Chart.unit`: "USD", "DIEM", ...), and every series in it is in that unit:
bars on one axis are comparable, and stacked bars add up to something real. Two currencies are
two charts, never two series of one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Tableau 10, darkened where needed for contrast on white; distinct for the common
# colour-vision deficiencies in the first four.
PALETTE = (
    "#3b6ea5",
    "#e07b1f",
    "#c8434a",
    "#4f9a95",
    "#4a8c3f",
    "#b8962e",
    "#93638b",
    "#d9737f",
    "#86634e",
    "#8a837e",
)
AXIS = "#9aa3ae"
MIN_GROUPED_BAR = 2.5  # user units
GRID = "#e5e8ec"
TEXT = "#5d6878"

_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[Decimal, ...]
    color: str = ""


@dataclass(frozen=True)
class Geometry:
    width: int
    height: int
    left: int  # room for the y-axis labels
    right: int
    top: int  # room for the legend
    bottom: int  # room for the x-axis labels
    char_width: float  # an estimate of one label character's width, in user units
    font: int = 11  # the text size the stylesheet gives this variant (portal.css)


WIDE = Geometry(width=960, height=300, left=64, right=16, top=34, bottom=30, char_width=6.6)
NARROW = Geometry(
    width=360, height=260, left=46, right=10, top=32, bottom=32, char_width=7.8, font=13
)
# Horizontal bars: rows of a fixed height, the label above each bar.
HBAR_WIDE = Geometry(width=560, height=0, left=8, right=90, top=34, bottom=8, char_width=6.6)
HBAR_NARROW = Geometry(
    width=360, height=0, left=8, right=80, top=32, bottom=8, char_width=7.8, font=13
)


@dataclass(frozen=True)
class Chart:
    """A chart's two drawings and its numbers as a table."""

    title: str
    wide: SafeString
    narrow: SafeString
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: bool = False
    summary: str = ""
    series: tuple[Series, ...] = field(default=())
    unit: str = ""  # what every value in it counts: "USD", "DIEM"; "" when unstated
    labels: tuple[str, ...] = ()


# --- numbers -----------------------------------------------------------------------------------


def nice_ticks(maximum: Decimal | float, count: int = 4) -> list[Decimal]:
    """Round tick values from 0 to at least `maximum`: steps of 1, 2, 2.5 or 5 times 10^k."""
    top = float(maximum)
    if top <= 0:
        return [Decimal(0), Decimal(1)]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * magnitude
        if step >= raw:
            break
    step_d = Decimal(str(step))
    ticks = [Decimal(0)]
    while ticks[-1] < Decimal(str(top)):
        ticks.append(ticks[-1] + step_d)
    return ticks


def format_amount(value: Decimal | float | int, places: int = 2) -> str:
    """`1234.5` → `1,234.50`; tiny amounts keep enough digits to not read as zero."""
    value = Decimal(str(value))
    if value != 0 and abs(value) < Decimal("0.01"):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return f"{value:,.{places}f}"


def format_tick(value: Decimal) -> str:
    if value >= 1000:
        shown = value / 1000
        text = f"{shown:,.1f}".rstrip("0").rstrip(".")
        return f"{text}k"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _n(value: float) -> str:
    """A coordinate, short: 12.0 → "12", 12.345 → "12.35"."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def date_label(day: date) -> str:
    return f"{day:%b} {day.day}"


# --- drawing helpers ---------------------------------------------------------------------------


def _colors(series: Sequence[Series]) -> list[Series]:
    return [
        s if s.color else Series(s.name, s.values, PALETTE[i % len(PALETTE)])
        for i, s in enumerate(series)
    ]


def _svg_open(
    geometry: Geometry, height: float, title: str, desc: str, variant: str
) -> tuple[str, str]:
    uid = f"chart-{next(_ids)}"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart--{variant}" '
        f'viewBox="0 0 {geometry.width} {_n(height)}" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc" focusable="false">'
        f'<title id="{uid}-title">{escape(title)}</title>'
        f'<desc id="{uid}-desc">{escape(desc)}</desc>'
    )
    return uid, head


def _legend(series: Sequence[Series], geometry: Geometry) -> tuple[str, float]:
    """Swatches and names in rows across the top; long names are shortened, the full name
    stays in the swatch's <title>."""
    parts = ['<g class="chart__legend">']
    x = float(geometry.left)
    y = float(geometry.font + 1)
    limit = 28 if geometry.width > 400 else 18
    for s in series:
        name = s.name if len(s.name) <= limit else s.name[: limit - 1] + "…"
        item_width = 16 + len(name) * geometry.char_width + 14
        if x + item_width > geometry.width - geometry.right and x > geometry.left:
            x = float(geometry.left)
            y += geometry.font + 5
        parts.append(
            f'<rect x="{_n(x)}" y="{_n(y - geometry.font + 2)}" width="10" height="10" rx="2" '
            f'fill="{s.color}">'
            f"<title>{escape(s.name)}</title></rect>"
            f'<text x="{_n(x + 14)}" y="{_n(y)}" fill="{TEXT}">{escape(name)}</text>'
        )
        x += item_width
    parts.append("</g>")
    return "".join(parts), y


def _legend_height(series: Sequence[Series], geometry: Geometry) -> float:
    _, last_y = _legend(series, geometry)
    return last_y + 10


# --- vertical bars -----------------------------------------------------------------------------


def _bars_svg(
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    stacked: bool,
    geometry: Geometry,
    variant: str,
    value_format: Callable = format_amount,
) -> str:
    legend, _ = _legend(series, geometry)
    top = max(geometry.top, _legend_height(series, geometry) + 8)
    height = geometry.height + (top - geometry.top)
    plot_w = geometry.width - geometry.left - geometry.right
    plot_h = height - top - geometry.bottom
    count = max(len(labels), 1)
    # Side-by-side bars thinner than ~2.5 units turn to hairlines (90 days on a phone): pile
    # them up instead. The legend and the table still tell the series apart.
    if not stacked and len(series) > 1 and plot_w / count / len(series) < MIN_GROUPED_BAR:
        stacked = True

    if stacked:
        peak = max((sum(s.values[i] for s in series) for i in range(len(labels))), default=0)
    else:
        peak = max((v for s in series for v in s.values), default=0)
    ticks = nice_ticks(peak)
    scale_top = float(ticks[-1]) or 1.0

    def y_of(value: float) -> float:
        return top + plot_h - (value / scale_top) * plot_h

    _, out = _svg_open(geometry, height, title, desc, variant)
    parts = [out, legend]

    # Grid lines and y-axis labels.
    parts.append('<g class="chart__axis chart__axis--y">')
    for tick in ticks:
        y = y_of(float(tick))
        parts.append(
            f'<line x1="{geometry.left}" x2="{geometry.width - geometry.right}" '
            f'y1="{_n(y)}" y2="{_n(y)}" stroke="{GRID if tick else AXIS}" stroke-width="1"/>'
            f'<text x="{geometry.left - 6}" y="{_n(y + 4)}" text-anchor="end" fill="{TEXT}">'
            f"{escape(format_tick(tick))}</text>"
        )
    parts.append("</g>")

    # Bars: one slot per label; grouped bars share the slot, stacked bars pile up.
    slot = plot_w / count
    gap = min(slot * 0.2, 8)
    inner = slot - gap
    bar_w = inner if stacked else inner / max(len(series), 1)
    parts.append('<g class="chart__bars">')
    for si, s in enumerate(series):
        parts.append(f'<g class="chart__series" fill="{s.color}">')
        for i, value in enumerate(s.values):
            if value <= 0:
                continue
            if stacked:
                base = float(sum(series[j].values[i] for j in range(si)))
                x = geometry.left + i * slot + gap / 2
            else:
                base = 0.0
                x = geometry.left + i * slot + gap / 2 + si * bar_w
            y1 = y_of(base + float(value))
            y0 = y_of(base)
            parts.append(
                f'<rect x="{_n(x)}" y="{_n(y1)}" width="{_n(max(bar_w, 0.8))}" '
                f'height="{_n(max(y0 - y1, 0.5))}">'
                f"<title>{escape(labels[i])} · {escape(s.name)}: "
                f"{escape(value_format(value))}</title></rect>"
            )
        parts.append("</g>")
    parts.append("</g>")

    # X-axis labels: as many as fit without overlapping, evenly spaced, always the last one.
    widest = max((len(label) for label in labels), default=1) * geometry.char_width + 10
    fit = max(int(plot_w // widest), 1)
    step = max(math.ceil(count / fit), 1)
    shown = set(range(0, count, step))
    if count - 1 not in shown and labels:
        shown.discard(max(shown))
        shown.add(count - 1)
    parts.append('<g class="chart__axis chart__axis--x">')
    for i in sorted(shown):
        if i >= len(labels):
            continue
        x = geometry.left + i * slot + slot / 2
        half = len(labels[i]) * geometry.char_width / 2
        # Keep the first and last labels inside the drawing instead of centring them off it.
        x = min(max(x, half + 2), geometry.width - half - 2)
        parts.append(
            f'<text x="{_n(x)}" y="{_n(height - geometry.bottom + geometry.font + 5)}" '
            f'text-anchor="middle" '
            f'fill="{TEXT}">{escape(labels[i])}</text>'
        )
    parts.append("</g></svg>")
    return "".join(parts)


def _checked_series(labels: Sequence[str], series: Sequence[Series]) -> list[Series]:
    """The series with their colours, each checked to hold one value per label."""
    series = _colors(series)
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(labels)}")
    return series


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
    summary: str = "",
    label_header: str = "Date",
    unit: str = "",
    value_format: Callable = format_amount,
) -> Chart:
    """Vertical bars, one slot per label: grouped side by side, or stacked. Every series is
    in `unit` (one axis, one unit); `value_format` writes a value (`$1.50`)."""
    series = _checked_series(labels, series)
    empty = not labels or all(v == 0 for s in series for v in s.values)
    desc = summary or _summary(labels, series, value_format)
    kwargs = dict(
        title=title,
        desc=desc,
        labels=labels,
        series=series,
        stacked=stacked,
        value_format=value_format,
    )
    wide = _bars_svg(geometry=WIDE, variant="wide", **kwargs)
    narrow = _bars_svg(geometry=NARROW, variant="narrow", **kwargs)
    columns = (label_header, *(s.name for s in series))
    rows = tuple(
        (label, *(value_format(s.values[i]) for s in series)) for i, label in enumerate(labels)
    )
    if stacked and len(series) > 1:
        columns = (*columns, "Total")
        rows = tuple(
            (*row, value_format(sum(s.values[i] for s in series))) for i, row in enumerate(rows)
        )
    return Chart(
        title=title,
        wide=mark_safe(wide),  # noqa: S308 -- every text in it went through escape()
        narrow=mark_safe(narrow),  # noqa: S308
        columns=columns,
        rows=rows,
        empty=empty,
        summary=desc,
        series=tuple(series),
        unit=unit,
        labels=tuple(labels),
    )


def _summary(
    labels: Sequence[str], series: Sequence[Series], value_format: Callable = format_amount
) -> str:
    if not labels:
        return "No data."
    parts = []
    for s in series:
        total = sum(s.values, Decimal(0))
        if total == 0:
            parts.append(f"{s.name}: none")
            continue
        peak_i = max(range(len(s.values)), key=lambda i: s.values[i])
        parts.append(
            f"{s.name}: total {value_format(total)}, highest {value_format(s.values[peak_i])} "
            f"on {labels[peak_i]}"
        )
    return f"{labels[0]} to {labels[-1]}. " + "; ".join(parts) + "."


# --- horizontal bars ---------------------------------------------------------------------------


def _hbars_svg(
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    geometry: Geometry,
    variant: str,
    value_format: Callable = format_amount,
) -> str:
    legend, _ = _legend(series, geometry)
    top = max(geometry.top, _legend_height(series, geometry) + 6)
    bar_h = geometry.font - 1
    line = geometry.font + 5
    row_h = line + bar_h * len(series) + 8  # label line, bars, gap
    height = top + row_h * len(labels) + geometry.bottom
    plot_w = geometry.width - geometry.left - geometry.right
    peak = max((v for s in series for v in s.values), default=0)
    scale_top = float(peak) or 1.0
    limit = int((geometry.width - geometry.left) / geometry.char_width) - 2

    _, out = _svg_open(geometry, height, title, desc, variant)
    parts = [out, legend, '<g class="chart__bars">']
    for i, label in enumerate(labels):
        y = top + i * row_h
        shown = label if len(label) <= limit else label[: limit - 1] + "…"
        parts.append(
            f'<text x="{geometry.left}" y="{_n(y + geometry.font)}" fill="{TEXT}" '
            f'class="chart__label">'
            f"{escape(shown)}</text>"
        )
        for si, s in enumerate(series):
            value = s.values[i]
            by = y + line + si * bar_h
            w = (float(value) / scale_top) * plot_w if value > 0 else 0
            parts.append(
                f'<rect x="{geometry.left}" y="{_n(by)}" width="{_n(max(w, 1 if value else 0))}" '
                f'height="{bar_h - 2}" fill="{s.color}">'
                f"<title>{escape(label)} · {escape(s.name)}: {escape(value_format(value))}"
                f"</title></rect>"
                f'<text x="{_n(geometry.left + w + 4)}" y="{_n(by + bar_h - 2)}" fill="{TEXT}">'
                f"{escape(value_format(value))}</text>"
            )
    parts.append("</g></svg>")
    return "".join(parts)


def hbar_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    summary: str = "",
    label_header: str = "Name",
    unit: str = "",
    value_format: Callable = format_amount,
) -> Chart:
    """Horizontal bars, one row per label (model or key names fit on a phone this way); every
    series in `unit`."""
    series = _checked_series(labels, series)
    empty = not labels or all(v == 0 for s in series for v in s.values)
    desc = summary or (
        "; ".join(
            f"{label}: " + ", ".join(f"{s.name} {value_format(s.values[i])}" for s in series)
            for i, label in enumerate(labels)
        )
        or "No data."
    )
    kwargs = dict(title=title, desc=desc, labels=labels, series=series, value_format=value_format)
    wide = _hbars_svg(geometry=HBAR_WIDE, variant="wide", **kwargs)
    narrow = _hbars_svg(geometry=HBAR_NARROW, variant="narrow", **kwargs)
    return Chart(
        title=title,
        wide=mark_safe(wide),  # noqa: S308 -- every text in it went through escape()
        narrow=mark_safe(narrow),  # noqa: S308
        columns=(label_header, *(s.name for s in series)),
        rows=tuple(
            (label, *(value_format(s.values[i]) for s in series)) for i, label in enumerate(labels)
        ),
        empty=empty,
        summary=desc,
        series=tuple(series),
        unit=unit,
        labels=tuple(labels),
    )
