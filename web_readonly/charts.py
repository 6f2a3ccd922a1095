"""Charts for the read-only web page, drawn on the server as inline SVG, and their tables.

No JavaScript, no CDN, no inline styles: the page's Content-Security-Policy has
`style-src 'self'`, so colours, fonts and strokes are SVG presentation
attributes, and every element carries a `chart-*` class the page's stylesheet
may restyle. Every piece of caller text (title, labels, series names) is
escaped. A helpdesk counts things, so negative and non-finite values are drawn
as 0; their tooltips and the table still show the value as given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Okabe-Ito, reordered so that the pale yellow comes late; it repeats past eight series.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
# Lines also differ by dash pattern so that colour is not the only cue.
_DASHES = ("", "6 3", "2 3", "8 3 2 3")
# Steps between labelled x ticks; 7 and 14 keep day labels on the same weekday.
_LABEL_STEPS = (1, 2, 3, 7, 14, 28, 56, 91, 182, 364)

_FONT = 11  # px, tick labels and legend
_CHAR = _FONT * 0.62  # average glyph width: labels are fitted without measuring text
_TEXT, _AXIS, _GRID = "#333333", "#666666", "#e0e0e0"
_LEGEND_NAME = 40  # characters of a series name shown in the legend
_SWATCH = 18  # px, width of a legend's colour sample
# Characters XML 1.0 forbids: they would make the SVG unparsable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Series:
    """One named row of numbers, a value per label."""

    name: str
    values: Sequence[float | int]


@dataclass(frozen=True)
class _Box:
    """What every chart is given besides its data: the frame and its words."""

    title: str
    width: int
    height: int
    x_label: str
    y_label: str


@dataclass(frozen=True)
class _Plot:
    """The data area in SVG user units and the y scale drawn on it."""

    left: float
    top: float
    width: float
    height: float
    ticks: list[float]

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def y(self, value: float) -> float:
        return self.bottom - self.height * value / self.ticks[-1]


def nice_ticks(maximum: float, *, integer: bool = False) -> list[float]:
    """4 to 6 ticks from 0 to at least `maximum`, in steps of 1, 2 or 5 times a power of ten.

    With `integer` the step is at least 1 (no "0.5 tickets").
    """
    top = maximum if math.isfinite(maximum) and maximum > 0 else 0.0
    exponent = math.floor(math.log10(top / 5)) if top else 0
    if integer:
        exponent = max(exponent, 0)
    while True:
        for mantissa in (1, 2, 5):
            step = mantissa * 10.0**exponent
            intervals = math.ceil(top / step * (1 - 1e-9))
            if intervals <= 5:
                # The step before was too fine (more than 5 intervals), so this one
                # gives at least 3, unless the step hit its floor: pad the top.
                decimals = max(0, -exponent)
                return [round(i * step, decimals) for i in range(max(intervals, 3) + 1)]
        exponent += 1


def label_indices(count: int, max_labels: int) -> list[int]:
    """Which of `count` x positions get a label when at most `max_labels` fit.

    Counted back from the last position, so the latest day is always labelled.
    """
    if count <= 0:
        return []
    wanted = math.ceil(count / max(1, max_labels))
    step = next((s for s in _LABEL_STEPS if s >= wanted), 364 * math.ceil(wanted / 364))
    return list(range((count - 1) % step, count, step))


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    stacked: bool = False,
    width: int = 640,
    height: int = 260,
    x_label: str = "",
    y_label: str = "",
    empty_text: str = "No data",
    total_text: str = "total",
) -> Markup:
    """Vertical bars, one group per label: series side by side, or stacked.

    A stacked segment's tooltip also gives its bar's total: "Mon — Open: 3 (total 7)".
    """
    _check(labels, series)
    box = _Box(title, width, height, x_label, y_label)
    if not any(_drawn(v) for s in series for v in s.values):
        return _empty(box, empty_text)
    if stacked:
        maximum = max(sum(_drawn(s.values[i]) for s in series) for i in range(len(labels)))
    else:
        maximum = max(_drawn(v) for s in series for v in s.values)
    plot, parts = _frame(box, series, maximum, line=False, edge=0.0)
    band = plot.width / len(labels)
    parts += _bars(plot, labels, series, total_text if stacked else None)
    centres = [plot.left + band * (i + 0.5) for i in range(len(labels))]
    parts += _x_labels(plot, labels, centres, band)
    return _svg(box, parts)


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 640,
    height: int = 260,
    x_label: str = "",
    y_label: str = "",
    empty_text: str = "No data",
) -> Markup:
    """One line per series over the labels (days), a point per value."""
    _check(labels, series)
    box = _Box(title, width, height, x_label, y_label)
    if not any(_drawn(v) for s in series for v in s.values):
        return _empty(box, empty_text)
    maximum = max(_drawn(v) for s in series for v in s.values)
    # The first and last labels are centred on the plot's edges: keep room for their halves.
    edge = min(_text_width(max(labels, key=len)), 10 * _CHAR) / 2
    plot, parts = _frame(box, series, maximum, line=True, edge=edge)
    count = len(labels)
    spacing = plot.width / (count - 1) if count > 1 else plot.width
    xs = [plot.left + spacing * i for i in range(count)] if count > 1 else [plot.left + spacing / 2]
    parts += _lines(plot, labels, series, xs)
    parts += _x_labels(plot, labels, xs, spacing)
    return _svg(box, parts)


def chart_table(
    labels: Sequence[str], series: Sequence[Series], *, caption: str, label_header: str = ""
) -> Markup:
    """The numbers of a chart as an accessible HTML table: a row per label, a column per series."""
    _check(labels, series)
    head = "".join(f'<th scope="col">{_esc(s.name)}</th>' for s in series)
    rows = "".join(
        f'<tr><th scope="row">{_esc(label)}</th>'
        + "".join(f'<td class="num">{_number(s.values[i])}</td>' for s in series)
        + "</tr>"
        for i, label in enumerate(labels)
    )
    return Markup(
        f'<table class="chart-table"><caption>{_esc(caption)}</caption>'
        f'<thead><tr><th scope="col">{_esc(label_header)}</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _frame(
    box: _Box, series: Sequence[Series], maximum: float, *, line: bool, edge: float
) -> tuple[_Plot, list[str]]:
    """Lay out the plot area; draw the title, legend, y axis and axis titles around it."""
    parts = [_heading(box)]
    legend_height = 0.0
    if len(series) > 1:
        legend, legend_height = _legend(series, box.width, top=28, line=line)
        parts += legend
    ticks = nice_ticks(maximum, integer=_all_integers(series))
    tick_labels = [_number(t) for t in ticks]
    y_labels_width = _text_width(max(tick_labels, key=len))
    left = max(8 + (16 if box.y_label else 0) + y_labels_width + 6, edge + 8)
    right = max(12.0, edge + 8)
    top = 28 + legend_height + 8
    bottom = _FONT + 12 + (18 if box.x_label else 0)
    width, height = max(box.width - left - right, 10), max(box.height - top - bottom, 10)
    plot = _Plot(left, top, width, height, ticks)
    parts += _y_axis(plot, tick_labels)
    if box.x_label:
        x = plot.left + plot.width / 2
        parts.append(_text(x, box.height - 6, box.x_label, "chart-axis-title", anchor="middle"))
    if box.y_label:
        y = plot.top + plot.height / 2
        rotate = f' transform="rotate(-90 14 {y:.1f})"'
        parts.append(_text(14, y, box.y_label, "chart-axis-title", anchor="middle", extra=rotate))
    return plot, parts


def _legend(
    series: Sequence[Series], width: int, *, top: float, line: bool
) -> tuple[list[str], float]:
    """Sample and name per series, wrapped into rows; returns the parts and their height."""
    parts: list[str] = []
    x, y = 8.0, top
    for k, s in enumerate(series):
        name = _shorten(s.name, _LEGEND_NAME)
        item_width = _SWATCH + 5 + _text_width(name) + 14
        if x > 8 and x + item_width > width - 8:
            x, y = 8.0, y + 16
        tip = s.name if name != s.name else ""
        text = _text(x + _SWATCH + 5, y + 10, name, "chart-legend", tooltip=tip)
        parts.append(
            f'<g class="chart-legend-item chart-series-{k}">{_swatch(x, y, k, line)}{text}</g>'
        )
        x += item_width
    return parts, y + 16 - top


def _swatch(x: float, y: float, k: int, line: bool) -> str:
    if not line:
        return f'<rect x="{x + 3:.1f}" y="{y:.1f}" width="11" height="11" fill="{_colour(k)}"/>'
    return (
        f'<line x1="{x:.1f}" y1="{y + 6:.1f}" x2="{x + _SWATCH:.1f}" y2="{y + 6:.1f}" '
        f'stroke="{_colour(k)}" stroke-width="2"{_dash(k)}/>'
    )


def _y_axis(plot: _Plot, tick_labels: list[str]) -> list[str]:
    parts = []
    right = plot.left + plot.width
    for tick, label in zip(plot.ticks, tick_labels, strict=True):
        y = plot.y(tick)
        parts.append(_line("chart-grid", plot.left, y, right, y, _GRID))
        parts.append(_text(plot.left - 6, y + 4, label, "chart-y-label", anchor="end"))
    parts.append(_line("chart-axis", plot.left, plot.bottom, right, plot.bottom, _AXIS))
    return parts


def _bars(
    plot: _Plot, labels: Sequence[str], series: Sequence[Series], total_text: str | None
) -> list[str]:
    """Side by side, or stacked when `total_text` (the word in a segment's tooltip) is given."""
    band = plot.width / len(labels)
    inner = band * 0.8
    parts = []
    for i, label in enumerate(labels):
        x = plot.left + band * i + (band - inner) / 2
        base = 0.0
        total = sum(_drawn(s.values[i]) for s in series)
        for k, s in enumerate(series):
            value = _drawn(s.values[i])
            tip = _tooltip(label, series, k, s.values[i])
            if total_text is not None:
                if len(series) > 1:
                    tip += f" ({total_text} {_number(total)})"
                top, bottom = plot.y(base + value), plot.y(base)
                parts.append(_rect(x, top, inner, bottom - top, k, tip, separated=True))
                base += value
            else:
                bar_width = inner / len(series)
                top = plot.y(value)
                parts.append(_rect(x + bar_width * k, top, bar_width, plot.bottom - top, k, tip))
    return parts


def _lines(
    plot: _Plot, labels: Sequence[str], series: Sequence[Series], xs: list[float]
) -> list[str]:
    radius = 3.0 if len(xs) <= 60 else 2.0
    parts = []
    for k, s in enumerate(series):
        points = " ".join(
            f"{x:.1f},{plot.y(_drawn(v)):.1f}" for x, v in zip(xs, s.values, strict=True)
        )
        parts.append(
            f'<polyline class="chart-line chart-series-{k}" points="{points}" fill="none" '
            f'stroke="{_colour(k)}" stroke-width="2"{_dash(k)}/>'
        )
        for i, (x, v) in enumerate(zip(xs, s.values, strict=True)):
            parts.append(
                f'<circle class="chart-point chart-series-{k}" cx="{x:.1f}" '
                f'cy="{plot.y(_drawn(v)):.1f}" r="{radius}" fill="{_colour(k)}">'
                f"<title>{_esc(_tooltip(labels[i], series, k, v))}</title></circle>"
            )
    return parts


def _x_labels(plot: _Plot, labels: Sequence[str], xs: list[float], spacing: float) -> list[str]:
    """Labels under the x axis, thinned so that they do not overlap, shortened if too long."""
    # Long category names are shortened rather than thinned, down to about ten characters.
    slot = min(_text_width(max(labels, key=len)), 10 * _CHAR) + 8
    shown = label_indices(len(labels), int(plot.width // slot))
    room = spacing * (shown[1] - shown[0]) if len(shown) > 1 else plot.width
    fits = max(3, int((room - 6) / _CHAR))
    parts = []
    y = plot.bottom + _FONT + 5
    for i in shown:
        label = labels[i]
        short = _shorten(label, fits)
        parts.append(_line("chart-tick", xs[i], plot.bottom, xs[i], plot.bottom + 4, _AXIS))
        tooltip = label if short != label else ""
        parts.append(_text(xs[i], y, short, "chart-x-label", anchor="middle", tooltip=tooltip))
    return parts


def _svg(box: _Box, parts: list[str]) -> Markup:
    label, width, height = _esc(box.title), box.width, box.height
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{label}" '
        f'font-family="sans-serif" font-size="{_FONT}"><title>{label}</title>'
        + "".join(parts)
        + "</svg>"
    )


def _empty(box: _Box, message: str) -> Markup:
    """No labels, no series or nothing above zero: a framed message instead of a scale."""
    width, height = box.width, box.height
    parts = [
        _heading(box),
        f'<rect class="chart-frame" x="8" y="28" width="{max(width - 16, 1)}" '
        f'height="{max(height - 36, 1)}" fill="none" stroke="{_GRID}" stroke-width="1"/>',
        _text(width / 2, 28 + (height - 36) / 2 + 4, message, "chart-empty", anchor="middle"),
    ]
    return _svg(box, parts)


def _rect(
    x: float, y: float, w: float, h: float, k: int, tooltip: str, *, separated: bool = False
) -> str:
    # A white edge between stacked segments keeps adjacent colours apart.
    edge = ' stroke="#ffffff" stroke-width="0.5"' if separated else ""
    return (
        f'<rect class="chart-bar chart-series-{k}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
        f'height="{max(h, 0):.1f}" fill="{_colour(k)}"{edge}><title>{_esc(tooltip)}</title></rect>'
    )


def _text(
    x: float,
    y: float,
    text: str,
    cls: str,
    *,
    anchor: str = "start",
    tooltip: str = "",
    extra: str = "",
) -> str:
    title = f"<title>{_esc(tooltip)}</title>" if tooltip else ""
    return (
        f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" '
        f'fill="{_TEXT}"{extra}>{title}{_esc(text)}</text>'
    )


def _heading(box: _Box) -> str:
    return _text(8, 18, box.title, "chart-title", extra=' font-size="14" font-weight="bold"')


def _line(cls: str, x1: float, y1: float, x2: float, y2: float, colour: str) -> str:
    return (
        f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{colour}" stroke-width="1"/>'
    )


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _tooltip(label: str, series: Sequence[Series], k: int, value: float) -> str:
    if len(series) == 1:
        return f"{label}: {_number(value)}"
    return f"{label} — {series[k].name}: {_number(value)}"


def _check(labels: Sequence[str], series: Sequence[Series]) -> None:
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r}: {len(s.values)} values, {len(labels)} labels")


def _all_integers(series: Sequence[Series]) -> bool:
    return all(isinstance(v, int) for s in series for v in s.values)


def _drawn(value: float) -> float:
    """The height a value is drawn at: negative, NaN and infinite values lie on the axis."""
    return float(value) if math.isfinite(value) and value > 0 else 0.0


def _number(value: float) -> str:
    """A value as people read it: 3, 2.5; no float noise like 0.30000000000000004."""
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g")


def _colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def _dash(k: int) -> str:
    dash = _DASHES[k % len(_DASHES)]
    return f' stroke-dasharray="{dash}"' if dash else ""


def _text_width(text: str) -> float:
    return len(text) * _CHAR


def _esc(text: str) -> str:
    return str(escape(_NOT_XML.sub("", text)))
