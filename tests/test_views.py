"""Results are data; views draw them: one draw(result), one escaping HTML renderer."""

from __future__ import annotations

import pytest

import valuestream as vs
from valuestream.constraint import find_constraint
from valuestream.economics import cd3
from valuestream.model import parse_stream
from valuestream.streammap import map_figures
from valuestream.views.charts import spec

HOSTILE = "<script>alert(1)</script>"
STREAM = f"""\
name: "{HOSTILE} stream"
steps:
  - {{name: "{HOSTILE}", touch_days: 1, wait_days: 9}}
  - {{name: Build, touch_days: 3, wait_days: 1}}
"""


def test_draw_dispatches_on_the_result_type() -> None:
    stream = parse_stream(STREAM)
    report = find_constraint(stream)
    assert report.constraint == HOSTILE  # 9 days of wait against 1
    chart = spec(vs.draw(report))
    assert chart["mark"]["type"] == "bar"
    assert chart["encoding"]["x"]["field"] == "wait_per_item"
    # .chart() on the result is the same dispatch
    assert spec(report.chart()) == chart
    figures = spec(map_figures(stream).chart())
    assert figures["encoding"]["x"]["title"] == "Expected days per item"


def test_a_result_without_a_chart_says_so() -> None:
    with pytest.raises(TypeError, match="has no chart"):
        vs.draw(object())


@pytest.mark.parametrize("make", [find_constraint, map_figures])
def test_notebook_html_escapes_every_text(make) -> None:  # type: ignore[no-untyped-def]
    html = make(parse_stream(STREAM))._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.startswith('<div class="valuestream-result">')


def test_notebook_html_shows_the_explanation_and_the_table() -> None:
    import pandas as pd

    ranking = cd3(
        pd.DataFrame(
            {"item": ["A", "=B"], "cost_of_delay": [1000.0, 3000.0], "duration_weeks": [1.0, 2.0]}
        )
    )
    html = ranking._repr_html_()
    # CD3 = 3000 / 2 = 1500 for =B, 1000 / 1 = 1000 for A: =B first
    assert "Do &#x27;=B&#x27; first" in html
    assert "1,500.00" in html and "1,000.00" in html
    assert html.index("1,500.00") < html.index("1,000.00")
