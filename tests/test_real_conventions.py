"""Known answers from a real log under real teams' conventions: several finish states, working
days with a country's public holidays, inclusive counting.

The log is the help desk of an Italian software company (tests/data/README.md): tickets are
resolved ("Resolve ticket") and later closed ("Closed"), two finish states, and the company works
Monday to Friday under the Italian public holidays (the holidays package's code IT). Every
expected figure below is read off the raw events of the file (quoted in the comments) and worked
out by hand; none comes from the code under test.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from valuestream.flow import Flow
from valuestream.model import parse_stream
from valuestream.workspace import Workspace

DATA = Path(__file__).parent / "data"
HELPDESK = DATA / "helpdesk-500.xes.gz"
WORKFLOW = """
workflow:
  start: Assign seriousness
  finish: {finish}
  touch: [Take in charge ticket]
  wait: [Wait, Require upgrade]
"""
DAY = 86400.0


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("helpdesk") / "ws.duckdb")
    ws.import_file(HELPDESK)
    return ws


def flow(ws: Workspace, finish: str, calendar: str = "") -> Flow:
    text = WORKFLOW.format(finish=finish) + (f"calendar: {calendar}\n" if calendar else "")
    return Flow.of(ws, parse_stream(text), timezone="Europe/Rome")


def activities_per_case() -> dict[str, set[str]]:
    """The raw file read with the standard library: case -> the activities it holds."""
    ns = "{http://www.xes-standard.org/}"
    with gzip.open(HELPDESK) as fh:
        root = ET.parse(fh).getroot()
    cases = {}
    for trace in root.iter(f"{ns}trace"):
        name = next(s.get("value") for s in trace.findall(f"{ns}string") if s.get("key") == "concept:name")
        cases[name] = {
            a.get("value") for e in trace.iter(f"{ns}event") for a in e if a.get("key") == "concept:name"
        }
    return cases


def test_several_finish_states_finish_at_the_first_one_reached(workspace):
    both = flow(workspace, "[Resolve ticket, Closed]").items().set_index("item")
    closed = flow(workspace, "Closed").items().set_index("item")
    # Case 1: Assign seriousness 2012-10-09T14:50:17Z, Resolve ticket 2012-10-25T11:54:26Z,
    # Closed 2012-11-09T12:54:39Z. Resolved: 15 days 21:04:09 later; closed: 31 days less
    # 1:55:38 (14:50:17 -> 12:54:39) = 30 days 22:04:22 (the clocks went back an hour in Rome on
    # 28 October; times are UTC, so elapsed time is exact).
    assert both.loc["Case 1", "lead_time_days"] == pytest.approx(15 + (21 * 3600 + 4 * 60 + 9) / DAY)
    assert closed.loc["Case 1", "lead_time_days"] == pytest.approx(30 + (22 * 3600 + 4 * 60 + 22) / DAY)
    # Finished: every case that reached either state, counted on the raw file.
    cases = activities_per_case()
    reached = {c for c, acts in cases.items() if acts & {"Resolve ticket", "Closed"}}
    assert set(both.index[both["finished"].notna()]) == reached
    assert len(reached) == 498  # of 500: Cases 1249 and 1359 hold only Insert ticket and Wait


def test_working_days_with_italian_holidays_counted_inclusively(workspace):
    items = flow(workspace, "[Resolve ticket, Closed]", "{days: working, holidays: IT, counting: inclusive}").items()
    lead = items.set_index("item")["lead_time_days"]
    cycle = items.set_index("item")["cycle_time_days"]
    # Case 1003: Assign seriousness Thu 2010-12-23, Take in charge Tue 2011-01-11, Resolve ticket
    # Thu 2011-01-20. Weekdays 23-24 Dec (2), 27-31 Dec (5), 3-7 Jan (5), 10-14 Jan (5), 17-20 Jan
    # (4) = 21, less Epiphany (Thu 6 Jan; Christmas, St Stephen's Day and New Year's Day fell on a
    # weekend) = 20. Calendar days, both ends counted: 29. Cycle: 11-14 Jan (4) + 17-20 Jan (4) = 8.
    assert (lead["Case 1003"], cycle["Case 1003"]) == (20, 8)
    # Case 1005: Wed 2010-12-22 to Thu 2011-01-13: 22-24 Dec (3), 27-31 Dec (5), 3-7 Jan (5),
    # 10-13 Jan (4) = 17, less Epiphany = 16.
    assert lead["Case 1005"] == 16
    # Case 100: Fri 2013-04-12 to Wed 2013-05-15: 12 Apr (1), then four whole weeks (20), then
    # 13-15 May (3) = 24, less Liberation Day (Thu 25 April) and Labour Day (Wed 1 May) = 22.
    assert lead["Case 100"] == 22
    # Case 1001: Fri 2013-03-08 to Thu 2013-03-28, no holiday: 1 + 5 + 5 + 4 = 15.
    assert lead["Case 1001"] == 15
    calendar_days = flow(workspace, "[Resolve ticket, Closed]", "{counting: inclusive}").items()
    assert calendar_days.set_index("item").loc["Case 1003", "lead_time_days"] == 29


def test_working_days_elapsed_count_only_working_hours_of_the_day(workspace):
    items = flow(workspace, "[Resolve ticket, Closed]", "{days: working, holidays: IT}").items()
    lead = items.set_index("item")["lead_time_days"]
    # Case 1001: Fri 2013-03-08T17:01:24Z (18:01:24 in Rome, CET) to Thu 2013-03-28T10:31:21Z
    # (11:31:21 CET): the rest of Friday (5:58:36), the working days 11-15, 18-22 and 25-27 March
    # (13), and Thursday until 11:31:21.
    expected = 13 + (5 * 3600 + 58 * 60 + 36) / DAY + (11 * 3600 + 31 * 60 + 21) / DAY
    assert lead["Case 1001"] == pytest.approx(expected)
    # Touch + wait = lead, item by item, on the real log.
    done = items[items["finished"].notna()]
    assert (done["touch_days"] + done["wait_days"] - done["lead_time_days"]).abs().max() < 1e-9


def test_bpi_challenge_2012_has_the_published_number_of_cases_and_events():
    """The BPIC'12 call publishes the log's size: "some 262.200 events in 13.087 cases" (Business
    Process Intelligence Challenge 2012, https://www.win.tue.nl/bpi/doku.php?id=2012:challenge).
    tests/data/bpic2012.xes.gz is that log, whole; every lifecycle event counts as an event."""
    from valuestream.sources.xes import read_xes

    log = read_xes(DATA / "bpic2012.xes.gz")
    assert (log.cases, log.events) == (13_087, 262_200)
    assert log.items.num_rows == 13_087
