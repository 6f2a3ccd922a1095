"""Charts drawn on the server as inline SVG, and the tables that carry the same numbers.

Threat: titles, labels and series names are text people typed (department names,
staff names, ticket subjects). Inline SVG is live markup inside the page, so an
unescaped label could add a `<script>`, an `on*` handler, a `javascript:` link or
an inline style the page's Content-Security-Policy would then have to catch. The
tests parse every chart and walk it: only the expected elements and attributes may
appear, and hostile text must come back out as the same text.
"""

from __future__ import annotations

import math
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, timedelta
from itertools import pairwise

import pytest
from markupsafe import Markup

from web_readonly.charts import (
    PALETTE,
    Series,
    bar_chart,
    chart_table,
    label_indices,
    line_chart,
    nice_ticks,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = [
    "<script>alert(1)</script>",
    '" onload="x',
    "' onmouseover='y",
    "javascript:alert(1)",
    "&amp;",
    "]]><a href='x'>",
]
ELEMENTS = {"svg", "title", "g", "rect", "line", "polyline", "circle", "text"}
ATTRIBUTES = {
    "svg": {
        "class",
        "width",
        "height",
        "viewBox",
        "role",
        "aria-label",
        "font-family",
        "font-size",
    },
    "title": set(),
    "g": {"class"},
    "rect": {"class", "x", "y", "width", "height", "fill", "stroke", "stroke-width"},
    "line": {"class", "x1", "y1", "x2", "y2", "stroke", "stroke-width", "stroke-dasharray"},
    "polyline": {"class", "points", "fill", "stroke", "stroke-width", "stroke-dasharray"},
    "circle": {"class", "cx", "cy", "r", "fill"},
    "text": {
        "class",
        "x",
        "y",
        "text-anchor",
        "fill",
        "font-size",
        "font-weight",
        "transform",
    },
}
# Every attribute but aria-label is ours: numbers, colours, class names, a rotation.
OUR_VALUE = re.compile(r"[\w#.,() -]*")
TABLE_ELEMENTS = {"table", "caption", "thead", "tbody", "tr", "th", "td"}
DAYS = [(date(2026, 8, 28) + timedelta(days=i)).isoformat() for i in range(90)]


def parse(markup: Markup) -> ET.Element:
    assert isinstance(markup, Markup)
    return ET.fromstring(str(markup))


def local(element: ET.Element) -> str:
    return element.tag.removeprefix(SVG)


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in e.get("class", "").split()]


def own_title(element: ET.Element) -> str:
    title = element.find(f"{SVG}title")
    assert title is not None, ET.tostring(element)
    return title.text or ""


def visible_text(element: ET.Element) -> str:
    """A <text>'s shown words, without its tooltip."""
    return (element.text or "") + "".join(child.tail or "" for child in element)


def assert_only_expected_markup(root: ET.Element) -> None:
    assert root.tag == f"{SVG}svg"
    for element in root.iter():
        assert element.tag.startswith(SVG), element.tag
        name = local(element)
        assert name in ELEMENTS, name
        for attribute, value in element.attrib.items():
            assert attribute in ATTRIBUTES[name], (name, attribute)
            assert not attribute.lower().startswith("on")
            assert "href" not in attribute and attribute != "style"
            if attribute != "aria-label":
                assert OUR_VALUE.fullmatch(value), (name, attribute, value)


def all_charts(labels: list[str], series: list[Series], title: str) -> Iterator[Markup]:
    yield bar_chart(labels, series, title=title, x_label=title, y_label=title)
    yield bar_chart(labels, series, title=title, stacked=True)
    yield line_chart(labels, series, title=title, x_label=title, y_label=title)
    yield bar_chart(labels, [Series(s.name, [0] * len(labels)) for s in series], title=title)


# --- markup and escaping ------------------------------------------------------------


def test_a_chart_is_one_accessible_svg_image_titled_by_its_title() -> None:
    for chart in all_charts(["Mon", "Tue"], [Series("Open", [3, 1])], "Tickets this week"):
        root = parse(chart)
        assert_only_expected_markup(root)
        assert root.get("role") == "img"
        assert root.get("aria-label") == "Tickets this week"
        assert root[0].tag == f"{SVG}title" and root[0].text == "Tickets this week"
        assert "style" not in str(chart)  # neither an attribute nor an element: CSP style-src


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_comes_out_as_the_same_text_and_adds_no_markup(hostile: str) -> None:
    labels = [hostile, "Tue", f"x{hostile}"]
    series = [Series(hostile, [3, 1, 2]), Series(f"2 {hostile}", [1, 0, 4])]
    for chart in all_charts(labels, series, hostile):
        root = parse(chart)
        assert_only_expected_markup(root)
        assert root.get("aria-label") == hostile
        assert root[0].text == hostile
        assert "<script" not in str(chart) and "<a " not in str(chart)
    root = parse(bar_chart(labels, series, title=hostile))
    tooltips = [own_title(bar) for bar in by_class(root, "chart-bar")]
    assert f"{hostile} — {hostile}: 3" in tooltips
    legend = [visible_text(t) for t in by_class(root, "chart-legend")]
    assert hostile in legend


def test_characters_xml_forbids_are_dropped_rather_than_breaking_the_page() -> None:
    chart = bar_chart(["a\x00b\x1bc"], [Series("s\x08", [1])], title="t\x0c")
    root = parse(chart)
    assert root.get("aria-label") == "t"
    assert [own_title(bar) for bar in by_class(root, "chart-bar")] == ["abc: 1"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_the_table_escapes_the_same_text(hostile: str) -> None:
    table = ET.fromstring(
        str(chart_table([hostile], [Series(hostile, [1])], caption=hostile, label_header=hostile))
    )
    assert {element.tag for element in table.iter()} <= TABLE_ELEMENTS
    assert all(not attribute.startswith("on") for e in table.iter() for attribute in e.attrib)
    assert table.findtext("caption") == hostile
    assert [th.text for th in table.iter("th")] == [hostile, hostile, hostile]


# --- the y scale --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1, 2, 3]),
        (1, [0, 1, 2, 3]),
        (4, [0, 1, 2, 3, 4]),
        (7, [0, 2, 4, 6, 8]),
        (10, [0, 2, 4, 6, 8, 10]),
        (11, [0, 5, 10, 15]),
        (95, [0, 20, 40, 60, 80, 100]),
        (1234, [0, 500, 1000, 1500]),
        (1_000_000, [0, 200_000, 400_000, 600_000, 800_000, 1_000_000]),
    ],
)
def test_counts_get_whole_nice_ticks(maximum: int, ticks: list[int]) -> None:
    assert nice_ticks(maximum, integer=True) == ticks


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (1.0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.3, [0, 0.1, 0.2, 0.3]),
        (2.5, [0, 0.5, 1.0, 1.5, 2.0, 2.5]),
        (7.5, [0, 2, 4, 6, 8]),
        (0.01234, [0, 0.005, 0.01, 0.015]),
    ],
)
def test_fractions_get_fractional_nice_ticks(maximum: float, ticks: list[float]) -> None:
    assert nice_ticks(maximum) == ticks


def test_ticks_are_four_to_six_even_1_2_5_steps_reaching_just_past_the_maximum() -> None:
    rng = random.Random(5)
    maxima = [*range(1, 2000), *(rng.uniform(0.001, 1e7) for _ in range(2000))]
    for maximum in maxima:
        integer = isinstance(maximum, int)
        ticks = nice_ticks(maximum, integer=integer)
        step = ticks[1]
        assert 4 <= len(ticks) <= 6, (maximum, ticks)
        assert ticks[0] == 0 and ticks[-1] >= maximum
        assert all(math.isclose(b - a, step) for a, b in pairwise(ticks))
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(math.isclose(mantissa, m) for m in (1, 2, 5)), (maximum, ticks)
        # no wasted interval at the top, except the padding that keeps 4 ticks on a 0..3 count
        assert ticks[-2] < maximum or (integer and maximum <= 2), (maximum, ticks)


def test_the_y_axis_shows_those_ticks() -> None:
    root = parse(bar_chart(["a", "b"], [Series("n", [95, 3])], title="t"))
    assert [visible_text(t) for t in by_class(root, "chart-y-label")] == [
        "0",
        "20",
        "40",
        "60",
        "80",
        "100",
    ]


# --- bars ---------------------------------------------------------------------------


def bars(root: ET.Element) -> list[tuple[float, float, float, float]]:
    return [
        (
            float(r.get("x", "")),
            float(r.get("y", "")),
            float(r.get("width", "")),
            number(r, "height"),
        )
        for r in by_class(root, "chart-bar")
    ]


def number(element: ET.Element, attribute: str) -> float:
    return float(element.get(attribute, "nan"))


def pixels_per_unit(root: ET.Element) -> float:
    """From the axis line (value 0) and the top grid line (the top tick's value)."""
    axis = by_class(root, "chart-axis")[0]
    grid = by_class(root, "chart-grid")
    top_value = float(visible_text(by_class(root, "chart-y-label")[-1]))
    return (float(axis.get("y1", "")) - float(grid[-1].get("y1", ""))) / top_value


def test_stacked_bars_are_as_tall_as_the_sum_of_their_segments() -> None:
    labels = ["Mon", "Tue", "Wed", "Thu"]
    series = [
        Series("Open", [3, 5, 1, 0]),
        Series("Waiting", [2, 0, 4, 0]),
        Series("Done", [4, 1, 2, 6]),
    ]
    root = parse(bar_chart(labels, series, title="By state", stacked=True))
    scale = pixels_per_unit(root)
    axis = float(by_class(root, "chart-axis")[0].get("y1", ""))
    columns: dict[float, list[tuple[float, float]]] = {}
    for x, y, _, height in bars(root):
        columns.setdefault(x, []).append((y, height))
    assert len(columns) == 4
    for (_, segments), i in zip(sorted(columns.items()), range(4), strict=True):
        total = sum(s.values[i] for s in series)
        assert math.isclose(sum(h for _, h in segments), total * scale, abs_tol=0.3)
        bottom = axis
        for y, height in segments:  # drawn bottom up, each on the one before
            assert math.isclose(y + height, bottom, abs_tol=0.15)
            bottom = y
    tooltips = [own_title(bar) for bar in by_class(root, "chart-bar")]
    assert tooltips[:3] == [
        "Mon — Open: 3 (total 9)",
        "Mon — Waiting: 2 (total 9)",
        "Mon — Done: 4 (total 9)",
    ]
    assert visible_text(by_class(root, "chart-y-label")[-1]) == "10"  # the tallest stack is 9


def test_grouped_bars_stand_side_by_side_on_the_axis_with_a_colour_per_series() -> None:
    series = [Series(f"s{k}", [k + 1, 2]) for k in range(3)]
    root = parse(bar_chart(["a", "b"], series, title="t"))
    drawn = bars(root)
    axis = float(by_class(root, "chart-axis")[0].get("y1", ""))
    first_group = drawn[:3]
    assert all(math.isclose(y + h, axis, abs_tol=0.15) for _, y, _, h in drawn)
    assert [x for x, *_ in first_group] == sorted({x for x, *_ in first_group})
    heights = [h for *_, h in first_group]
    assert heights[0] < heights[1] < heights[2]
    fills = [r.get("fill") for r in by_class(root, "chart-bar")[:3]]
    assert fills == list(PALETTE[:3])


def test_a_legend_only_when_there_are_several_series_each_in_a_distinct_colour() -> None:
    one = parse(bar_chart(["a"], [Series("only", [1])], title="t"))
    assert by_class(one, "chart-legend-item") == []
    eight = [Series(f"s{k}", [1]) for k in range(8)]
    root = parse(line_chart(["a"], eight, title="t"))
    items = by_class(root, "chart-legend-item")
    assert [visible_text(by_class(i, "chart-legend")[0]) for i in items] == [s.name for s in eight]
    lines = by_class(root, "chart-line")
    assert len({line.get("stroke") for line in lines}) == 8
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}
    assert set(PALETTE) == okabe_ito | {"#000000"}


# --- days on the x axis -------------------------------------------------------------


def test_ninety_days_get_a_label_every_week_or_two_ending_on_the_last_day() -> None:
    series = [Series("Opened", [i % 7 for i in range(90)]), Series("Closed", [3] * 90)]
    root = parse(line_chart(DAYS, series, title="Last 90 days"))
    shown = [visible_text(t) for t in by_class(root, "chart-x-label")]
    assert 4 <= len(shown) <= 12
    assert shown[-1] == DAYS[-1]
    indices = [DAYS.index(day) for day in shown]
    steps = {b - a for a, b in pairwise(indices)}
    assert len(steps) == 1 and steps <= {7, 14}
    xs = [float(t.get("x", "")) for t in by_class(root, "chart-x-label")]
    assert min(b - a for a, b in pairwise(xs)) > len(DAYS[0]) * 6.5
    # every day still has its points, each telling its exact value
    points = by_class(root, "chart-point")
    assert len(points) == 180
    assert own_title(points[9]) == f"{DAYS[9]} — Opened: 2"


def test_a_week_labels_every_day() -> None:
    root = parse(line_chart(DAYS[:7], [Series("n", [1, 2, 3, 4, 5, 6, 7])], title="t"))
    assert [visible_text(t) for t in by_class(root, "chart-x-label")] == DAYS[:7]


@pytest.mark.parametrize(
    ("count", "room", "shown"),
    [
        (7, 10, [0, 1, 2, 3, 4, 5, 6]),
        (10, 5, [1, 3, 5, 7, 9]),
        (90, 9, [5, 19, 33, 47, 61, 75, 89]),
        (365, 8, [28, 84, 140, 196, 252, 308, 364]),
        (1, 0, [0]),
        (0, 5, []),
    ],
)
def test_label_indices(count: int, room: int, shown: list[int]) -> None:
    assert label_indices(count, room) == shown


def test_long_category_names_are_shortened_with_the_full_name_as_tooltip() -> None:
    long = "Facilities and building maintenance department"
    root = parse(bar_chart([long, "HR"], [Series("n", [1, 2])], title="t", width=300))
    label = by_class(root, "chart-x-label")[0]
    assert visible_text(label).endswith("…") and len(visible_text(label)) < len(long)
    assert own_title(label) == long
    assert visible_text(by_class(root, "chart-x-label")[1]) == "HR"


# --- nothing to draw ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "series"),
    [
        ([], []),
        (["a", "b"], []),
        ([], [Series("n", [])]),
        (["a", "b"], [Series("n", [0, 0]), Series("m", [0, 0])]),
        (["a", "b"], [Series("n", [0.0, -3])]),
        (["a"], [Series("n", [math.nan])]),
    ],
)
def test_no_data_draws_an_empty_state_not_a_division_by_zero(
    labels: list[str], series: list[Series]
) -> None:
    for chart in (
        bar_chart(labels, series, title="Nothing", empty_text="Nothing yet"),
        bar_chart(labels, series, title="Nothing", stacked=True, empty_text="Nothing yet"),
        line_chart(labels, series, title="Nothing", empty_text="Nothing yet"),
    ):
        root = parse(chart)
        assert_only_expected_markup(root)
        assert [visible_text(t) for t in by_class(root, "chart-empty")] == ["Nothing yet"]
        assert by_class(root, "chart-bar") == by_class(root, "chart-line") == []


def test_negative_values_are_drawn_at_zero_but_told_as_given() -> None:
    root = parse(bar_chart(["a", "b"], [Series("n", [-2, 4])], title="t"))
    (_, _, _, below), (_, _, _, above) = bars(root)
    assert below == 0 and above > 0
    assert own_title(by_class(root, "chart-bar")[0]) == "a: -2"


def test_series_must_have_a_value_per_label() -> None:
    with pytest.raises(ValueError, match="'n': 1 values, 2 labels"):
        bar_chart(["a", "b"], [Series("n", [1])], title="t")


# --- the table ----------------------------------------------------------------------


def test_the_table_has_the_numbers_the_chart_tells() -> None:
    labels = ["Mon", "Tue", "Wed"]
    series = [Series("Open", [3, 0, 12]), Series("Hours", [2.5, 0.1 + 0.2, 1e-3])]
    table = ET.fromstring(str(chart_table(labels, series, caption="This week", label_header="Day")))
    assert table.findtext("caption") == "This week"
    header = [th.text or "" for th in table.iter("th")][:3]
    assert header == ["Day", "Open", "Hours"]
    head, body = table.find("thead"), table.find("tbody")
    assert head is not None and body is not None
    assert all(th.get("scope") == "col" for th in head.iter("th"))
    rows = [[cell.text for cell in row] for row in body.iter("tr")]
    assert rows == [["Mon", "3", "2.5"], ["Tue", "0", "0.3"], ["Wed", "12", "0.001"]]
    assert all(row[0].get("scope") == "row" for row in body.iter("tr"))
    table_says = {
        f"{row[0]} — {name}: {value}"
        for row in rows
        for name, value in zip(["Open", "Hours"], row[1:], strict=True)
    }
    bar = parse(bar_chart(labels, series, title="t"))
    line = parse(line_chart(labels, series, title="t"))
    for told in (by_class(bar, "chart-bar"), by_class(line, "chart-point")):
        assert {own_title(e) for e in told} == table_says
