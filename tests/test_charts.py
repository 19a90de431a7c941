"""accounts/charts.py: server-rendered SVG that the CSP allows, with its numbers as a table."""

import re
from decimal import Decimal

import pytest

from accounts import charts
from accounts.charts import Series

D = Decimal


def _bars(svg: str) -> str:
    return re.search(r'<g class="chart__bars">(.*)</g>', svg).group(1)


def _rect_titles(svg: str) -> list[str]:
    return re.findall(r"<rect [^>]*><title>([^<]*)</title></rect>", _bars(svg))


def test_bar_chart_draws_one_bar_per_nonzero_value_with_its_label_and_amount():
    chart = charts.bar_chart(
        title="Spend per day",
        labels=["Nov 1", "Nov 2", "Nov 3"],
        series=[Series("USD", (D("1.5"), D(0), D("3"))), Series("DIEM", (D("2"), D("4"), D(0)))],
    )
    for svg in (chart.wide, chart.narrow):
        assert _rect_titles(svg) == [
            "Nov 1 · USD: 1.50",
            "Nov 3 · USD: 3.00",
            "Nov 1 · DIEM: 2.00",
            "Nov 2 · DIEM: 4.00",
        ]


def test_chart_is_an_accessible_image_with_title_description_axes_and_legend():
    chart = charts.bar_chart(
        title="Spend per day",
        labels=["Nov 1", "Nov 2"],
        series=[Series("USD", (D(1), D(7)))],
    )
    svg = str(chart.wide)
    assert svg.startswith("<svg ")
    assert 'role="img"' in svg
    title_id, desc_id = re.search(r'aria-labelledby="([^ "]+) ([^"]+)"', svg).groups()
    assert f'<title id="{title_id}">Spend per day</title>' in svg
    assert f'<desc id="{desc_id}">Nov 1 to Nov 2. USD: total 8.00, highest 7.00 on Nov 2.' in svg
    assert 'class="chart__axis chart__axis--y"' in svg
    assert 'class="chart__axis chart__axis--x"' in svg
    assert 'class="chart__legend"' in svg
    assert ">USD</text>" in svg  # the legend names the series
    assert ">Nov 2</text>" in svg  # the x axis names the days


def test_the_wide_and_narrow_drawings_have_distinct_ids():
    chart = charts.bar_chart(title="t", labels=["a"], series=[Series("s", (D(1),))])
    ids = re.findall(r' id="([^"]+)"', chart.wide + chart.narrow)
    assert len(ids) == 4
    assert len(set(ids)) == 4


def test_charts_use_no_style_attribute_or_script():
    chart = charts.bar_chart(
        title="t",
        labels=["a", "b"],
        series=[Series("x", (D(1), D(2))), Series("y", (D(3), D(0)))],
        stacked=True,
    )
    hbars = charts.hbar_chart(title="t", labels=["m"], series=[Series("USD", (D(5),))])
    for svg in (chart.wide, chart.narrow, hbars.wide, hbars.narrow):
        assert "style=" not in svg
        assert "<script" not in svg
        assert "<style" not in svg
        assert 'fill="#' in svg  # colours are presentation attributes


def test_names_from_the_api_are_escaped():
    chart = charts.hbar_chart(
        title="Spend per key",
        labels=['<script>alert("x")</script>'],
        series=[Series("USD", (D(1),))],
    )
    assert "<script>" not in chart.wide
    assert "&lt;script&gt;" in chart.wide


def test_stacked_bars_pile_up_and_the_table_adds_a_total():
    chart = charts.bar_chart(
        title="By model",
        labels=["Nov 1"],
        series=[Series("GLM", (D(2),)), Series("Kimi", (D(3),))],
        stacked=True,
    )
    assert chart.columns == ("Date", "GLM", "Kimi", "Total")
    assert chart.rows == (("Nov 1", "2.00", "3.00", "5.00"),)
    glm, kimi = re.findall(
        r'<rect x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)"', _bars(chart.wide)
    )
    # Kimi's bar sits on top of GLM's: its bottom is GLM's top.
    assert float(kimi[0]) + float(kimi[1]) == pytest.approx(float(glm[0]), abs=0.02)


def test_the_table_rows_carry_every_value_including_zeros():
    chart = charts.bar_chart(
        title="t",
        labels=["Nov 1", "Nov 2"],
        series=[Series("USD", (D("0.004"), D(0))), Series("DIEM", (D("1234.5"), D(1)))],
    )
    assert chart.columns == ("Date", "USD", "DIEM")
    assert chart.rows == (("Nov 1", "0.004", "1,234.50"), ("Nov 2", "0.00", "1.00"))


def test_a_chart_of_zeros_or_of_nothing_is_marked_empty():
    assert charts.bar_chart(title="t", labels=["a"], series=[Series("s", (D(0),))]).empty
    assert charts.bar_chart(title="t", labels=[], series=[Series("s", ())]).empty
    assert charts.hbar_chart(title="t", labels=[], series=[Series("s", ())]).empty
    assert not charts.bar_chart(title="t", labels=["a"], series=[Series("s", (D(1),))]).empty


def test_a_series_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="has 1 values for 2"):
        charts.bar_chart(title="t", labels=["a", "b"], series=[Series("s", (D(1),))])


def test_x_labels_are_thinned_to_fit_but_keep_the_first_and_last_day():
    labels = [f"Day {i}" for i in range(90)]
    chart = charts.bar_chart(
        title="t", labels=labels, series=[Series("s", tuple(D(i) for i in range(90)))]
    )
    axis = re.search(r'chart__axis--x">(.*?)</g>', chart.narrow).group(1)
    shown = re.findall(r">([^<]+)</text>", axis)
    assert shown[0] == "Day 0"
    assert shown[-1] == "Day 89"
    assert 3 <= len(shown) <= 10


def test_hbar_chart_has_one_row_per_label_and_a_bar_per_series():
    chart = charts.hbar_chart(
        title="Spend per model",
        labels=["GLM 5.1", "Kimi K2.6"],
        series=[Series("USD", (D(10), D(5))), Series("DIEM", (D(1), D(2)))],
        label_header="Model",
    )
    assert _rect_titles(chart.wide) == [
        "GLM 5.1 · USD: 10.00",
        "GLM 5.1 · DIEM: 1.00",
        "Kimi K2.6 · USD: 5.00",
        "Kimi K2.6 · DIEM: 2.00",
    ]
    assert chart.columns == ("Model", "USD", "DIEM")
    assert chart.rows == (("GLM 5.1", "10.00", "1.00"), ("Kimi K2.6", "5.00", "2.00"))
    # The longest bar is the largest value; the others scale from it.
    widths = [
        float(w)
        for w in re.findall(r'<rect x="8" y="[^"]+" width="([^"]+)" height', _bars(chart.wide))
    ]
    assert widths[0] == max(widths)
    assert widths[2] == pytest.approx(widths[0] / 2, rel=0.01)


@pytest.mark.parametrize(
    ("maximum", "expected"),
    [
        (D("7"), [0, 2, 4, 6, 8]),
        (D("100"), [0, 25, 50, 75, 100]),
        (D("0.3"), [0, D("0.1"), D("0.2"), D("0.3")]),
        (D("0"), [0, 1]),
    ],
)
def test_ticks_are_round_numbers_covering_the_maximum(maximum, expected):
    assert charts.nice_ticks(maximum) == [D(str(v)) for v in expected]


def test_amounts_keep_small_values_visible():
    assert charts.format_amount(D("0.00012")) == "0.0001"
    assert charts.format_amount(D("1234.567")) == "1,234.57"
    assert charts.format_amount(D(0)) == "0.00"


def test_grouped_bars_too_thin_for_a_phone_are_stacked_there_only():
    days = [f"Day {i}" for i in range(90)]
    chart = charts.bar_chart(
        title="t",
        labels=days,
        series=[
            Series("USD", tuple(D(1) for _ in days)),
            Series("DIEM", tuple(D(2) for _ in days)),
        ],
    )

    def first_bars(svg):
        return re.findall(
            r'<rect x="([^"]+)" y="([^"]+)" width="[^"]+" height="([^"]+)"', _bars(svg)
        )

    usd, diem = first_bars(chart.narrow)[0], first_bars(chart.narrow)[90]
    assert usd[0] == diem[0]  # narrow: the same slot, DIEM piled on USD
    assert float(diem[1]) + float(diem[2]) == pytest.approx(float(usd[1]), abs=0.02)
    usd, diem = first_bars(chart.wide)[0], first_bars(chart.wide)[90]
    assert usd[0] != diem[0]  # wide: side by side
