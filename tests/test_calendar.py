"""Calendars: working days, holidays and inclusive counting, followed by every duration.

The log's answers are worked out by hand below; January 2026 starts on a Thursday, and the
holiday named is Tuesday 6 January (Epiphany).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from valuestream.errors import StreamFileError
from valuestream.flow import Flow
from valuestream.model import Calendar, parse_stream

STREAM = """
workflow: {{start: Backlog, finish: Done, touch: [Dev, Test], blocked: [Blocked]}}
calendar: {calendar}
"""

# A: Backlog Fri 2 09:00, Dev Mon 5 12:00, Test Wed 7 06:00, Done Mon 12 18:00.
# B: Backlog Thu 8 10:00, Dev Fri 9 10:00, unfinished; as-of = the last event, Mon 12 18:00.
# C: Backlog, Dev and Done on Wed 7 (09:00, 10:00, 15:00): the same day.
LOG = [
    ("A", "Backlog", "2026-01-02T09:00:00Z"), ("A", "Dev", "2026-01-05T12:00:00Z"),
    ("A", "Test", "2026-01-07T06:00:00Z"), ("A", "Done", "2026-01-12T18:00:00Z"),
    ("B", "Backlog", "2026-01-08T10:00:00Z"), ("B", "Dev", "2026-01-09T10:00:00Z"),
    ("C", "Backlog", "2026-01-07T09:00:00Z"), ("C", "Dev", "2026-01-07T10:00:00Z"),
    ("C", "Done", "2026-01-07T15:00:00Z"),
]
WORKING = "{days: working, holidays: [2026-01-06]}"
WORKING_INCLUSIVE = "{days: working, holidays: [2026-01-06], counting: inclusive}"
INCLUSIVE = "{counting: inclusive}"


def flow_under(make_flow, calendar: str) -> Flow:
    return make_flow(LOG, parse_stream(STREAM.format(calendar=calendar)))


def test_elapsed_calendar_days_are_the_default(make_flow):
    items = flow_under(make_flow, "{}").items().set_index("item")
    # A: Jan 2 09:00 to Jan 12 18:00 = 10 days 9 hours; C: 6 hours.
    assert items.loc["A", "lead_time_days"] == pytest.approx(10 + 9 / 24)
    assert items.loc["C", "lead_time_days"] == pytest.approx(6 / 24)
    # The worked example of docs/concepts.md: 3 days 3 h, 1 day 18 h, 5 days 12 h.
    steps = flow_under(make_flow, "{}").time_in("state").query("item == 'A'").set_index("state")["days"]
    assert steps.to_dict() == pytest.approx({"Backlog": 3.125, "Dev": 1.75, "Test": 5.5})


def test_working_days_elapsed_skip_weekends_and_holidays(make_flow):
    flow = flow_under(make_flow, WORKING)
    items = flow.items().set_index("item")
    a = items.loc["A"]
    # Backlog: Fri 15 h (0.625) + weekend 0 + Mon 12 h (0.5) = 1.125
    # Dev:     Mon 12 h (0.5) + Tue holiday 0 + Wed 6 h (0.25) = 0.75
    # Test:    Wed 18 h (0.75) + Thu 1 + Fri 1 + weekend 0 + Mon 18 h (0.75) = 3.5
    assert a.lead_time_days == pytest.approx(1.125 + 0.75 + 3.5)
    assert a.cycle_time_days == pytest.approx(0.75 + 3.5)
    assert (a.touch_days, a.wait_days) == (pytest.approx(4.25), pytest.approx(1.125))
    steps = flow.time_in("state").query("item == 'A'").set_index("state")["days"]
    assert steps.to_dict() == pytest.approx({"Backlog": 1.125, "Dev": 0.75, "Test": 3.5})
    # B's age: Thu 14 h + Fri 1 + weekend 0 + Mon 18 h = 14/24 + 1 + 0.75
    assert items.loc["B", "age_days"] == pytest.approx(14 / 24 + 1 + 0.75)


def test_inclusive_counting_counts_start_and_end_day(make_flow):
    flow = flow_under(make_flow, INCLUSIVE)
    items = flow.items().set_index("item")
    # A: Jan 12 - Jan 2 + 1 = 11; cycle from Dev (Jan 5): 12 - 5 + 1 = 8; C on one day: 1.
    assert (items.loc["A", "lead_time_days"], items.loc["A", "cycle_time_days"]) == (11, 8)
    assert (items.loc["C", "lead_time_days"], items.loc["C", "cycle_time_days"]) == (1, 1)
    # Each day belongs to the state the item is in at its end; the finish day to the state it
    # finished from: Backlog Jan 2-4 (3), Dev Jan 5-6 (2), Test Jan 7-12 (6) = 11.
    steps = flow.time_in("state").query("item == 'A'").set_index("state")["days"]
    assert steps.to_dict() == {"Backlog": 3, "Dev": 2, "Test": 6}
    # B: Jan 8 to the as-of day Jan 12, both counted: 5.
    assert items.loc["B", "age_days"] == 5


def test_working_days_inclusive_is_networkdays(make_flow):
    flow = flow_under(make_flow, WORKING_INCLUSIVE)
    items = flow.items().set_index("item")
    # Working days Jan 2-12 without Tue 6: Fri 2, Mon 5, Wed 7, Thu 8, Fri 9, Mon 12 = 6.
    assert items.loc["A", "lead_time_days"] == 6
    # From Mon 5: 5, 7, 8, 9, 12 = 5 (a spreadsheet's NETWORKDAYS(5 Jan, 12 Jan, {6 Jan})).
    assert items.loc["A", "cycle_time_days"] == 5
    steps = flow.time_in("state").query("item == 'A'").set_index("state")["days"]
    assert steps.to_dict() == {"Backlog": 1, "Dev": 1, "Test": 4}
    # B: Thu 8, Fri 9, Mon 12 = 3 working days of age; since first touch (Fri 9): 2.
    assert items.loc["B", "age_days"] == 3 and items.loc["B", "touch_age_days"] == 2
    summary = flow.summary()
    assert summary["lead_p50"] == pytest.approx(3.5)  # the median of 6 and 1
    assert "working days" in flow.conventions() and "inclusive" in flow.conventions()


@pytest.mark.parametrize("weekend", ["[fri, sat]", "[5, 6]", "[Friday, Saturday]"])
def test_a_friday_saturday_weekend(make_flow, weekend):
    flow = flow_under(make_flow, f"{{days: working, holidays: [2026-01-06], weekend: {weekend}}}")
    steps = flow.time_in("state").query("item == 'A'").set_index("state")["days"]
    # Backlog: Fri 2 and Sat 3 off, Sun 4 (1) + Mon 12 h (0.5) = 1.5
    # Dev:     Mon 12 h (0.5) + Tue holiday 0 + Wed 6 h (0.25) = 0.75
    # Test:    Wed 18 h (0.75) + Thu 1 + Fri 9, Sat 10 off + Sun 1 + Mon 18 h (0.75) = 3.5
    assert steps.to_dict() == pytest.approx({"Backlog": 1.5, "Dev": 0.75, "Test": 3.5})
    assert flow.items().set_index("item").loc["A", "lead_time_days"] == pytest.approx(5.75)
    assert "weekend Fri, Sat and holidays skipped" in flow.conventions()
    cal = flow.calendar
    week = [dt.date(2026, 1, 5) + dt.timedelta(days=k) for k in range(7)]  # Mon 5 to Sun 11
    assert cal.counted(week).tolist() == [True, False, True, True, False, False, True]
    assert cal.nth_day(dt.date(2026, 1, 8), 3) == dt.date(2026, 1, 12)  # Thu 8, Sun 11, Mon 12
    assert "weekend:\n  - fri\n  - sat" in parse_stream(f"calendar: {{days: working, weekend: {weekend}}}").to_yaml()


def test_a_holiday_code_reads_the_holidays_package(make_flow):
    # England and Wales 2012: Good Friday 6 April and Easter Monday 9 April are bank holidays.
    log = [("E", "Backlog", "2012-04-05T09:00:00Z"), ("E", "Dev", "2012-04-05T10:00:00Z"),
           ("E", "Done", "2012-04-10T17:00:00Z")]
    stream = parse_stream(STREAM.format(calendar="{days: working, holidays: GB-ENG, counting: inclusive}"))
    items = make_flow(log, stream).items().set_index("item")
    # Thu 5 and Tue 10 count; Fri 6 and Mon 9 are holidays, 7-8 the weekend: 2 working days.
    assert items.loc["E", "lead_time_days"] == 2


def test_holidays_from_a_file_beside_the_stream_file(tmp_path):
    (tmp_path / "holidays.txt").write_text("# our closures\n2026-01-06\n2026-12-24, Christmas Eve\n")
    (tmp_path / "stream.yaml").write_text(STREAM.format(calendar="{days: working, holidays: holidays.txt}"))
    from valuestream.model import load_stream

    cal = load_stream(tmp_path / "stream.yaml").calendar
    assert cal.holidays == (dt.date(2026, 1, 6), dt.date(2026, 12, 24))


@pytest.mark.parametrize(
    ("calendar", "expected"),
    [
        ("{holidays: [2026-01-06]}", "only when counting working days"),
        ("{days: working, holidays: [XX]}", "no holiday table for the country 'XX'"),
        ("{days: working, holidays: [missing.txt]}", "cannot read the file"),
        ("{counting: whole}", "calendar.counting"),
        ("{days: working, weekend: [fri, caturday]}", "'caturday' is not a day of the week: expected names (fri, sat) or numbers 1 (Monday) to 7 (Sunday)"),
        ("{days: working, weekend: [0, 6]}", "'0' is not a day of the week"),
        ("{weekend: [fri, sat]}", "the weekend is skipped only when counting working days"),
        ("{days: working, weekend: [1, 2, 3, 4, 5, 6, 7]}", "leaves no working day"),
    ],
)
def test_calendar_mistakes_name_the_line(calendar, expected):
    with pytest.raises(StreamFileError, match="line 3") as err:
        parse_stream(STREAM.format(calendar=calendar))
    assert expected in str(err.value)


def test_touch_wait_split_holds_under_flags(tmp_path):
    # A flag from Tue 6 12:00 to Thu 8 12:00 during Dev (Mon 5 to Fri 9, Done Fri 9 12:00).
    flow = analyse(
        [("F", "Backlog", dt.datetime(2026, 1, 5, 9)), ("F", "Dev", dt.datetime(2026, 1, 5, 9)),
         ("F", "Done", dt.datetime(2026, 1, 9, 12))],
        [("F", dt.datetime(2026, 1, 6, 12), dt.datetime(2026, 1, 8, 12))],
        Calendar(days="working", counting="inclusive"),
    )
    f = flow.items().set_index("item").loc["F"]
    # Mon 5 to Fri 9: 5 working days. Flagged days are those whose end finds the flag raised:
    # Tue 6 and Wed 7 (by Thu 8's end it was cleared) = 2 blocked; touch 3.
    assert (f.lead_time_days, f.touch_days, f.wait_days, f.blocked_days) == (5, 3, 2, 2)


def analyse(rows, flags=(), calendar=None) -> Flow:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    utc = pa.timestamp("us", tz="UTC")
    con.register("t_in", pa.table({
        "item": [r[0] for r in rows], "state": [r[1] for r in rows],
        "entered_at": pa.array([r[2].replace(tzinfo=dt.UTC) for r in rows], utc),
    }))
    con.execute("CREATE TABLE transitions AS SELECT 'log' AS source, item, state, entered_at, row_number() OVER () AS seq FROM t_in")
    con.register("f_in", pa.table({
        "item": pa.array([f[0] for f in flags], pa.string()),
        "raised_at": pa.array([f[1].replace(tzinfo=dt.UTC) for f in flags], utc),
        "cleared_at": pa.array([f[2].replace(tzinfo=dt.UTC) for f in flags], utc),
    }))
    con.execute("CREATE TABLE flags AS SELECT 'log' AS source, * FROM f_in")
    con.execute("CREATE TABLE items (source VARCHAR, item VARCHAR, title VARCHAR, type VARCHAR, attributes JSON)")
    con.execute("CREATE TABLE state_roles (source VARCHAR, state VARCHAR, role VARCHAR)")
    stream = parse_stream("workflow: {start: Backlog, finish: Done, touch: [Dev, Test], wait: [Queue], blocked: [Blocked]}")
    return Flow(con, stream=stream, calendar=calendar)


CALENDARS = [
    Calendar(),
    Calendar(days="working", holidays=(dt.date(2026, 1, 6),)),
    Calendar(counting="inclusive"),
    Calendar(days="working", counting="inclusive", holidays=(dt.date(2026, 1, 6),)),
]
STATES = ["Backlog", "Queue", "Dev", "Blocked", "Test", "Done", "Other"]
T0 = dt.datetime(2026, 1, 1)
history = st.lists(
    st.tuples(st.sampled_from(STATES), st.integers(min_value=0, max_value=60 * 24 * 20)), min_size=1, max_size=10
)
flag = st.tuples(st.integers(min_value=0, max_value=60 * 24 * 20), st.integers(min_value=0, max_value=60 * 24 * 5))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(history, min_size=1, max_size=4), st.lists(flag, max_size=3), st.sampled_from(CALENDARS))
def test_touch_plus_wait_is_lead_under_every_convention(histories, flags, calendar):
    rows = [(f"I{i}", s, T0 + dt.timedelta(minutes=m)) for i, h in enumerate(histories) for s, m in h]
    flagged = [("I0", T0 + dt.timedelta(minutes=a), T0 + dt.timedelta(minutes=a + b)) for a, b in flags]
    flow = analyse(rows, flagged, calendar)
    items = flow.items()
    done = items[items.finished.notna()]
    assert ((done.touch_days + done.wait_days - done.lead_time_days).abs() < 1e-6).all()
    assert (items.blocked_days <= items.wait_days + 1e-6).all() and (items.touch_days >= -1e-6).all()
    has_cycle = done[done.cycle_time_days.notna()]
    assert (has_cycle.lead_time_days >= has_cycle.cycle_time_days - 1e-6).all()
    per_item = flow.time_in("state").groupby("item")["days"].sum()
    for row in done.itertuples():
        assert abs(per_item.get(row.item, 0.0) - row.lead_time_days) < 1e-6
        if calendar.counting == "inclusive":
            assert row.lead_time_days == round(row.lead_time_days)


def test_forecasts_under_working_days_sample_and_count_working_days(make_flow):
    from valuestream import forecast

    # One item finished every working day from Mon 5 to Fri 30 January 2026 (20 days, holiday
    # Tue 6 skipped: 19 finishes), none at weekends.
    days = [dt.date(2026, 1, 5) + dt.timedelta(days=k) for k in range(26)]
    working = [d for d in days if d.weekday() < 5 and d != dt.date(2026, 1, 6)]
    log = [(f"I{i}", s, f"{d}T{h}:00:00Z") for i, d in enumerate(working) for s, h in (("Backlog", "09"), ("Done", "15"))]
    flow = make_flow(log, parse_stream(STREAM.format(calendar="{days: working, holidays: [2026-01-06, 2026-02-02]}")))
    history = forecast.History.from_flow(flow, window_days=None)
    # Only working days are history: 19 of them, one finish each (no weekend zeros).
    assert len(history.throughput) == 19 and set(history.throughput) == {1}
    f = forecast.when(history, 3, seed=1)
    # One a working day: 3 items take 3 working days from Mon 2 Feb, a holiday here, so Tue 3,
    # Wed 4, Thu 5 February.
    assert f.level(95) == 3 and f.start == dt.date(2026, 2, 3) and f.date_of(3) == dt.date(2026, 2, 5)
    # To Mon 9 February: Tue 3 to Fri 6 and Mon 9 = 5 working days, so 5 items.
    assert forecast.how_many(history, dt.date(2026, 2, 9), seed=1).level(50) == 5
