"""Forecasts: Monte Carlo "when" and "how many", service level expectation, aging work in progress.

Known answers: constant throughput forecasts exactly; sums of independent days match closed forms
(Poisson days sum to a Poisson count, P(T <= d) = P(Poisson(d*lam) >= items); weekday-only days sum
to a binomial); service level percentiles of hand-made lists; CLI runs on a real workspace.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from valuestream import forecast
from valuestream.cli import app
from valuestream.errors import InputError
from valuestream.flow import Flow
from valuestream.model import load_stream
from valuestream.workspace import Workspace

START = dt.date(2026, 3, 2)


def dated(values: list[int] | np.ndarray, first: dt.date = dt.date(2026, 1, 1)) -> pd.Series:
    return pd.Series(list(values), index=[first + dt.timedelta(days=i) for i in range(len(values))])


# -- closed forms, written out so the tests need no statistics library ---------------------------


def poisson_cdf(k: int, mean: float) -> float:
    """P(X <= k) for X ~ Poisson(mean)."""
    if k < 0:
        return 0.0
    term = total = math.exp(-mean)
    for i in range(1, k + 1):
        term *= mean / i
        total += term
    return min(total, 1.0)


def binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(0, min(k, n) + 1))


def poisson_history(lam: float, days: int = 100_000) -> np.ndarray:
    """Days whose empirical distribution is Poisson(lam) to within 1/days per value."""
    counts = []
    k = 0
    while True:
        pmf = math.exp(-lam) * lam**k / math.factorial(k)
        n = round(pmf * days)
        if n == 0 and k > lam:
            break
        counts.append(n)
        k += 1
    return np.repeat(np.arange(len(counts)), counts)


def ecdf_gap(outcomes: np.ndarray, cdf, support: range) -> float:
    """The largest distance between the trials' empirical CDF and a closed-form CDF."""
    return max(abs(float(np.mean(outcomes <= x)) - cdf(x)) for x in support)


# -- known answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "items", "expected"), [(3, 30, 10), (3, 31, 11), (1, 1, 1), (5, 200, 40)]
)
def test_constant_throughput_forecasts_exactly(k: int, items: int, expected: int) -> None:
    f = forecast.when(np.full(30, k), items, seed=1, start=START)
    assert set(f.outcomes.tolist()) == {expected}
    assert f.table["days"].tolist() == [expected] * 4
    # Day 1 is the start day: finishing within `expected` days ends on start + expected - 1.
    assert f.table["date"].tolist() == [START + dt.timedelta(days=expected - 1)] * 4


def test_constant_throughput_how_many_exactly() -> None:
    f = forecast.how_many(np.full(20, 4), 7, seed=3)
    assert f.table["items"].tolist() == [28, 28, 28, 28]
    by = forecast.how_many(dated(np.full(20, 4)), dt.date(2026, 1, 31), seed=3)
    # The history ends 2026-01-20, so the forecast runs 2026-01-21..31: eleven days.
    assert by.start == dt.date(2026, 1, 21) and by.days == 11 and by.level(85) == 44


def test_how_many_matches_the_poisson_sum() -> None:
    lam, days = 1.5, 20
    f = forecast.how_many(poisson_history(lam), days, trials=20_000, seed=11, window_days=None)
    mean = lam * days
    assert ecdf_gap(f.outcomes, lambda x: poisson_cdf(x, mean), range(0, 80)) < 0.02
    for confidence, items in f.levels:
        # The closed form: the most items x with P(X >= x) >= confidence.
        exact = max(x for x in range(0, 100) if 1 - poisson_cdf(x - 1, mean) >= confidence / 100)
        assert abs(items - exact) <= 1, (confidence, items, exact)


def test_when_matches_the_poisson_first_passage() -> None:
    lam, items = 2.0, 40
    f = forecast.when(poisson_history(lam), items, trials=20_000, seed=5, window_days=None)

    def p_done_within(d: int) -> float:  # P(T <= d) = P(Poisson(d * lam) >= items)
        return 1 - poisson_cdf(items - 1, d * lam) if d > 0 else 0.0

    assert ecdf_gap(f.outcomes, p_done_within, range(1, 60)) < 0.02
    for confidence, days in f.levels:
        exact = min(d for d in range(1, 200) if p_done_within(d) >= confidence / 100)
        assert abs(days - exact) <= 1, (confidence, days, exact)


def test_weekends_are_sampled_as_the_zeros_they_were() -> None:
    # Two items every weekday, none at weekends: a week of sampled days finishes 2 x Binomial(7, 5/7).
    history = dated(
        [2 if (dt.date(2026, 1, 5) + dt.timedelta(days=i)).weekday() < 5 else 0 for i in range(70)],
        dt.date(2026, 1, 5),
    )
    f = forecast.how_many(history, 7, trials=20_000, seed=2)
    assert f.zero_days == 20
    halves = f.outcomes // 2
    assert (f.outcomes % 2 == 0).all()
    assert ecdf_gap(halves, lambda x: binomial_cdf(x, 7, 5 / 7), range(0, 8)) < 0.02


def test_when_and_how_many_read_the_same_futures() -> None:
    # Trial i finishes n items within d days under "when" exactly if it reaches n in d days under "how many".
    history = poisson_history(1.2, 5_000)
    for items, days in [(10, 8), (25, 20), (3, 1)]:
        w = forecast.when(history, items, trials=4_000, seed=99, window_days=None)
        h = forecast.how_many(history, days, trials=4_000, seed=99, window_days=None)
        assert ((w.outcomes <= days) == (h.outcomes >= items)).all()


# -- the window ---------------------------------------------------------------------------------


def test_a_window_over_a_faster_period_forecasts_sooner() -> None:
    slow = [1, 0, 2, 1, 0, 1, 1] * 9  # 63 days at 6 a week
    fast = [4, 3, 5, 4, 4, 3, 5] * 4  # the last 28 days at 28 a week
    history = dated(slow + fast)
    recent = forecast.when(history, 50, seed=4, window_days=28)
    whole = forecast.when(history, 50, seed=4, window_days=91)
    assert recent.history_days == 28 and recent.history_items == 112
    assert whole.history_days == 91 and whole.history_items == 54 + 112
    for (_, soon), (_, later) in zip(recent.levels, whole.levels, strict=True):
        assert soon < later
    # 28 items a week is 4 a day: the recent window puts 50 items at about 13 days.
    assert 11 <= recent.level(50) <= 14
    assert recent.window == (dt.date(2026, 3, 5), dt.date(2026, 4, 1))


def test_default_window_is_the_last_90_days() -> None:
    history = dated([0] * 100 + [2] * 90)  # nothing for 100 days, then 2 a day
    f = forecast.when(history, 20, seed=1)
    assert f.history_days == 90 and f.zero_days == 0 and f.level(95) == 10


# -- too little history ----------------------------------------------------------------------------


def test_too_little_history_still_forecasts_and_says_what_is_missing() -> None:
    short = forecast.when(dated([2] * 13), 10, seed=1)
    # Two a day, every day: 10 items take 5 days whatever the draw.
    assert short.level(50) == short.level(95) == 5
    assert "only 13 days of history" in short.shortfall and "at least 14" in short.shortfall
    assert short.explain().startswith("Provisional: only 13 days of history")
    firm = forecast.when(dated([2] * 14), 10, seed=1)
    assert firm.level(50) == 5 and firm.shortfall == ""


def test_zero_throughput_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="no item finished in the 30 days"):
        forecast.how_many(np.zeros(30, dtype=int), 10, seed=1)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(InputError, match="whole, non-negative"):
        forecast.when([1, -1] * 10, 5, seed=1)
    with pytest.raises(InputError, match="at least 1"):
        forecast.when([1] * 20, 0, seed=1)
    with pytest.raises(InputError, match="trials must be at least"):
        forecast.when([1] * 20, 5, trials=100, seed=1)
    with pytest.raises(InputError, match="before the forecast starts"):
        forecast.how_many(dated([1] * 20), dt.date(2025, 12, 1), seed=1)
    with pytest.raises(InputError, match="per calendar day"):
        forecast.when(
            pd.Series(
                [3] * 20, index=[dt.date(2026, 1, 1) + dt.timedelta(weeks=i) for i in range(20)]
            ),
            5,
            seed=1,
        )


# -- reproducibility and properties --------------------------------------------------------------


def test_seeded_runs_reproduce() -> None:
    history = poisson_history(0.8, 2_000)
    a = forecast.when(history, 30, seed=7, window_days=None)
    b = forecast.when(history, 30, seed=7, window_days=None)
    c = forecast.when(history, 30, seed=8, window_days=None)
    assert np.array_equal(a.outcomes, b.outcomes) and a.levels == b.levels
    assert not np.array_equal(a.outcomes, c.outcomes)
    unseeded = forecast.when(history, 30, window_days=None)
    again = forecast.when(history, 30, seed=unseeded.seed, window_days=None)
    assert np.array_equal(unseeded.outcomes, again.outcomes)


histories = st.lists(st.integers(0, 6), min_size=14, max_size=40).filter(lambda v: sum(v) > 0)


@settings(max_examples=30, deadline=None)
@given(
    history=histories,
    items=st.integers(1, 60),
    more=st.integers(0, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_more_items_never_forecast_sooner(
    history: list[int], items: int, more: int, seed: int
) -> None:
    small = forecast.when(history, items, trials=1_000, seed=seed)
    big = forecast.when(history, items + more, trials=1_000, seed=seed)
    assert (small.outcomes <= big.outcomes).all()
    days = [d for _, d in small.levels]
    assert days == sorted(days)  # 50% <= 70% <= 85% <= 95%


@settings(max_examples=30, deadline=None)
@given(history=histories, days=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_higher_confidence_promises_fewer_items(history: list[int], days: int, seed: int) -> None:
    f = forecast.how_many(history, days, trials=1_000, seed=seed)
    counts = [n for _, n in f.levels]
    assert counts == sorted(counts, reverse=True)
    for confidence, n in f.levels:
        assert np.mean(f.outcomes >= n) >= confidence / 100
        assert np.mean(f.outcomes >= n + 1) < confidence / 100  # and it is the most such count


# -- predictability -----------------------------------------------------------------------------


def test_forecast_reports_predictability_of_its_weekly_throughput() -> None:
    from valuestream.xmr import predictability

    # Eight quiet weeks, then four very busy ones: the throughput the forecast samples shifted.
    days = [1, 0, 1, 1, 2, 0, 1] * 8 + [5, 6, 4, 5, 6, 5, 4] * 4
    f = forecast.when(dated(days), 40, seed=1, window_days=None)
    weekly = np.asarray(days, dtype=float).reshape(12, 7).sum(axis=1)
    expected = predictability(weekly)
    assert f.predictability is not None
    assert f.predictability.predictable is expected.predictable is False
    assert f.predictability.signals == expected.signals
    assert "weekly throughput over 12 weeks" in f.predictability_basis
    assert "not predictable" in f.explain() and "treat this forecast with care" in f.explain()
    data = f.to_dict()["predictability"]
    assert data["assessed"] and data["predictable"] is False and data["signals"] == expected.signals


# -- service level expectation ------------------------------------------------------------------


def test_service_level_of_a_hand_made_list() -> None:
    s = forecast.sle(list(range(20, 0, -1)), percentile=85)
    # 1..20 days: the smallest value with at least 85% of items at or under it is the 17th, 17 days.
    assert s.days == 17 and s.whole_days == 17
    assert dict(s.levels) == {50: 10, 70: 14, 85: 17, 95: 19}
    assert s.explain().startswith("85% of items finish within 17 days")
    assert forecast.sle([0.5, 1.2, 2.01, 3, 4, 10], percentile=50).whole_days == 3


@settings(max_examples=40, deadline=None)
@given(durations=st.lists(st.floats(0, 90), min_size=5, max_size=60), percentile=st.integers(1, 99))
def test_service_level_statement_holds_on_its_history(
    durations: list[float], percentile: int
) -> None:
    s = forecast.sle(durations, percentile=percentile)
    values = np.asarray(durations)
    assert np.mean(values <= s.days) >= percentile / 100 - 1e-12
    assert np.mean(values < s.days) < percentile / 100


def test_service_level_from_few_items_is_provisional() -> None:
    few = forecast.sle([1, 2, 3, 4])
    # 85% of 4 items: the ceil(3.4) = 4th smallest, 4 days.
    assert few.days == 4 and "only 4 finished items" in few.shortfall
    assert "Provisional" in few.explain() and few.to_dict()["missing"] == few.shortfall
    assert forecast.sle([1, 2, 3, 4, 5]).shortfall == ""
    with pytest.raises(InputError, match="no finished items"):
        forecast.sle([])
    with pytest.raises(InputError, match="between 1 and 99"):
        forecast.sle([1, 2, 3, 4, 5], percentile=100)


# -- aging work in progress ----------------------------------------------------------------------


def test_aging_places_each_item_against_the_bands() -> None:
    s = forecast.sle(list(range(1, 21)), percentile=85)  # lines at 10, 14, 17, 19 days
    wip = pd.DataFrame(
        {
            "item": ["A", "B", "C", "D", "E"],
            "step": ["Build", "Review", "Build", "Test", "Build"],
            "age_days": [10.0, 12.0, 17.5, 25.0, 3.0],
        }
    )
    a = forecast.aging(wip, s, steps=["Analysis", "Build", "Review"])
    assert a.table["item"].tolist() == ["D", "C", "B", "A", "E"]  # oldest first
    assert a.table["band"].tolist() == ["over 95%", "85-95%", "50-70%", "under 50%", "under 50%"]
    assert a.table["over_sle"].tolist() == [True, True, False, False, False]
    assert a.steps == ("Analysis", "Build", "Review", "Test")  # a step off the map goes last
    assert a.at_risk["item"].tolist() == ["D", "C"]
    assert "2 are already older than the service level expectation of 17 days" in a.explain()
    spec = a.chart().to_dict()
    assert len(spec["layer"]) == 4


# -- on a real workspace ------------------------------------------------------------------------

STREAM = """\
name: Test stream
steps:
  - name: Backlog
    kind: queue
    states: [Backlog]
  - name: Analysis
    states: [Analysis]
  - name: Build
    states: [Doing]
  - name: Review
    kind: approval
    states: [Review]
  - name: Done
    states: [Done]
workflow:
  start: Backlog
  finish: Done
  touch: [Analysis, Doing]
  wait: [Backlog, Review]
"""


def write_log(path: Path, *, items: int = 90, seed: int = 7) -> None:
    """A generated event log: an item enters every 0.9 days and walks the board; late ones are still open."""
    rnd = random.Random(seed)
    start = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    last = start + dt.timedelta(days=items * 0.9)
    rows = []
    for i in range(items):
        t = start + dt.timedelta(days=i * 0.9, hours=rnd.randint(0, 6))
        for state, mean in (
            ("Backlog", 4),
            ("Analysis", 2),
            ("Doing", 5),
            ("Review", 2),
            ("Done", 0),
        ):
            if t <= last:
                rows.append((f"VS-{i + 1}", state, t.isoformat(), f"Item {i + 1}"))
            t += dt.timedelta(days=rnd.expovariate(1 / mean) if mean else 0)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["item", "state", "entered_at", "title"])
        out.writerows(rows)


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("forecast")
    write_log(root / "log.csv")
    (root / "stream.yaml").write_text(STREAM, encoding="utf-8")
    Workspace(root / "ws.duckdb").import_file(root / "log.csv")
    return root


@pytest.fixture(scope="module")
def flow(place: Path) -> Flow:
    return Flow.of(Workspace(place / "ws.duckdb"), load_stream(place / "stream.yaml"))


def test_history_from_flow_counts_each_finish_once(flow: Flow) -> None:
    items = flow.items()
    history = forecast.History.from_flow(flow, window_days=30)
    first, last = history.dates
    assert last == flow.as_of.date() and (last - first).days == 29
    day = pd.to_datetime(items["finished"], utc=True).dt.date
    in_window = items[(day >= first) & (day <= last)]
    assert history.throughput.sum() == len(in_window) == len(history.durations)
    assert np.allclose(sorted(history.durations), sorted(in_window["lead_time_days"]))
    # A window longer than the data starts when the first item entered, not before.
    whole = forecast.History.from_flow(flow, window_days=1000)
    assert whole.dates[0] == pd.to_datetime(items["entered"], utc=True).min().date()


def test_aging_from_flow_finds_each_open_item_in_its_current_step(flow: Flow, place: Path) -> None:
    a = forecast.aging(flow)
    items = flow.items()
    open_items = items[items["finished"].isna()]
    assert sorted(a.table["item"]) == sorted(open_items["item"])
    log = pd.read_csv(place / "log.csv")
    last_state = log.groupby("item")["state"].last()
    step_of = {"Backlog": "Backlog", "Analysis": "Analysis", "Doing": "Build", "Review": "Review"}
    for row in a.table.itertuples():
        assert row.step == step_of[last_state[row.item]]
    assert a.steps == ("Backlog", "Analysis", "Build", "Review")


def run(place: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "-w", str(place / "ws.duckdb"), "-s", str(place / "stream.yaml")]
    )
    return result.exit_code, result.output


def test_cli_forecast_when_json_and_chart(place: Path, flow: Flow) -> None:
    out = place / "when.png"
    code, text = run(
        place,
        "forecast",
        "when",
        "--items",
        "30",
        "--seed",
        "3",
        "--format",
        "json",
        "--out",
        str(out),
    )
    assert code == 0, text
    data = json.loads(text)
    start = flow.as_of.date() + dt.timedelta(days=1)
    assert data["start"] == start.isoformat() and data["seed"] == 3 and data["trials"] == 10_000
    assert [row["confidence"] for row in data["forecast"]] == [50, 70, 85, 95]
    for row in data["forecast"]:
        assert row["date"] == (start + dt.timedelta(days=row["days"] - 1)).isoformat()
    days = [row["days"] for row in data["forecast"]]
    assert days == sorted(days)
    # The log covers fewer than the default 90 days: the window starts at the first entry.
    first = pd.to_datetime(flow.items()["entered"], utc=True).min().date()
    assert data["history"]["days"] == (flow.as_of.date() - first).days + 1 < 90
    assert data["history"]["start"] == first.isoformat()
    assert data["predictability"]["assessed"] and "lead time" in data["predictability"]["basis"]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The same seed through the library gives the same answer.
    again = forecast.when(flow, 30, seed=3)
    assert [row["days"] for row in data["forecast"]] == [d for _, d in again.levels]


def test_cli_forecast_how_many_by_date(place: Path, flow: Flow) -> None:
    by = flow.as_of.date() + dt.timedelta(days=28)
    code, text = run(
        place, "forecast", "how-many", "--by", by.isoformat(), "--seed", "1", "-f", "json"
    )
    assert code == 0, text
    data = json.loads(text)
    assert data["by"] == by.isoformat() and data["days"] == 28
    counts = [row["items"] for row in data["forecast"]]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    code, text = run(place, "forecast", "how-many", "--days", "14", "--seed", "1")
    assert code == 0 and "85% confidence" in text


def test_cli_sle_and_aging(place: Path, flow: Flow) -> None:
    code, text = run(place, "sle", "--percentile", "70", "--cycle", "-f", "json")
    assert code == 0, text
    data = json.loads(text)
    expected = forecast.sle(flow, percentile=70, measure="cycle")
    assert data["measure"] == "cycle" and data["days"] == pytest.approx(expected.days)
    code, text = run(place, "aging", "-f", "csv")
    assert code == 0, text
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == len(forecast.aging(flow).table) > 0
    assert {"item", "step", "age_days", "band", "over_sle"} <= set(rows[0])


def test_cli_too_little_history_says_so(place: Path) -> None:
    code, text = run(place, "forecast", "when", "--items", "5", "--window-days", "10")
    assert code == 0
    assert "Provisional: only 10 days of history" in text
    code, text = run(place, "forecast", "how-many")
    assert code == 2 and "--by DATE or --days N" in text
