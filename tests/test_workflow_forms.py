"""Workflow forms real trackers need: several finish states, discarded states, which finish of a
reopened item counts, and files of finish dates only. Answers worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from valuestream.errors import StreamFileError
from valuestream.model import parse_stream

D = "2026-03-{:02d}T00:00:00Z".format
FORMS = """
workflow:
  start: Open
  finish: [Resolved, Closed]
  discarded: [Rejected, Abandoned]
  touch: [Dev]
  reopened: {reopened}
"""
# A: Open 1, Dev 2, Resolved 5, Closed 6: finished at Resolved (the first finish state entered).
# B: Open 1, Dev 3, Closed 4: finished straight into the other finish state.
# C: Open 2, Dev 3, Rejected 6: discarded; no lead time, not throughput, out of WIP from day 6.
# R: Open 1, Dev 2, Resolved 4, Reopened 7 (unmapped), Dev 8, Resolved 10, Closed 11.
#    first: lead 3 (1 -> 4), reopened; last: lead 9 (1 -> 10), still flagged reopened.
# S: Open 1, Dev 2, Resolved 3, Reopened 9, Dev 10 (as-of 11): first: finished at 3;
#    last: back in progress, age 11 - 1 = 10.
LOG = [
    ("A", "Open", D(1)), ("A", "Dev", D(2)), ("A", "Resolved", D(5)), ("A", "Closed", D(6)),
    ("B", "Open", D(1)), ("B", "Dev", D(3)), ("B", "Closed", D(4)),
    ("C", "Open", D(2)), ("C", "Dev", D(3)), ("C", "Rejected", D(6)),
    ("R", "Open", D(1)), ("R", "Dev", D(2)), ("R", "Resolved", D(4)), ("R", "Reopened", D(7)),
    ("R", "Dev", D(8)), ("R", "Resolved", D(10)), ("R", "Closed", D(11)),
    ("S", "Open", D(1)), ("S", "Dev", D(2)), ("S", "Resolved", D(3)), ("S", "Reopened", D(9)),
    ("S", "Dev", D(10)),
]


def test_several_finish_states_and_discarded(make_flow):
    flow = make_flow(LOG, parse_stream(FORMS.format(reopened="first")))
    items = flow.items().set_index("item")
    assert items.loc["A", "lead_time_days"] == 4 and items.loc["B", "lead_time_days"] == 3
    c = items.loc["C"]
    assert pd_isna(c.finished) and pd_isna(c.lead_time_days) and pd_isna(c.age_days)
    assert c.discarded.date() == dt.date(2026, 3, 6)
    assert (items.loc["R", "lead_time_days"], bool(items.loc["R", "reopened"])) == (3, True)
    assert items.loc["S", "lead_time_days"] == 2
    w = flow.window(dt.date(2026, 3, 1), dt.date(2026, 3, 11))
    s = flow.summary(w)
    # Finished: A, B, R, S (4); C is discarded, not throughput; nothing left in progress.
    assert (s["throughput"], s["discarded"], s["in_progress"]) == (4, 1, 0)
    listed = flow.discarded(w)
    assert listed["item"].tolist() == ["C"] and listed["state"].tolist() == ["Rejected"]
    wip = flow.wip(w).set_index("day")["wip"]
    # End of day 5: A (5), B (4), R (4) and S (3) have finished, C is still in: 1; C leaves on 6.
    assert wip[pd_ts("2026-03-05")] == 1 and wip[pd_ts("2026-03-06")] == 0


def test_reopened_last_counts_the_last_finish(make_flow):
    flow = make_flow(LOG, parse_stream(FORMS.format(reopened="last")))
    items = flow.items().set_index("item")
    assert (items.loc["R", "lead_time_days"], bool(items.loc["R", "reopened"])) == (9, True)
    # R's time in states sums to its lead: Open 1, Dev 2 + 2, Resolved 3 (4 -> 7, a wait),
    # Reopened 1 = 9.
    states = flow.time_in("state").query("item == 'R'").set_index("state")["days"]
    assert states.to_dict() == {"Open": 1, "Dev": 4, "Resolved": 3, "Reopened": 1}
    s = items.loc["S"]
    assert pd_isna(s.finished) and s.age_days == 10
    assert items.loc["A", "lead_time_days"] == 4  # never reopened: the same under both


def test_a_file_of_finish_dates_only_gives_throughput(make_flow):
    stream = parse_stream("workflow: {start: Done, finish: Done}")
    assert stream.workflow is not None and stream.workflow.throughput_only
    flow = make_flow([("X", "Done", D(2)), ("Y", "Done", D(2)), ("Z", "Done", D(9))], stream)
    rates = flow.rates(flow.window(dt.date(2026, 3, 1), dt.date(2026, 3, 10)), "day")
    assert rates["throughput"].tolist() == [0, 2, 0, 0, 0, 0, 0, 0, 1, 0]
    assert flow.items()["lead_time_days"].tolist() == [0, 0, 0]


def test_one_finish_state_is_still_written_as_a_name():
    stream = parse_stream("workflow: {start: A, finish: Done}")
    assert stream.workflow is not None and stream.workflow.finish == ("Done",)
    assert "finish: Done" in stream.to_yaml()


@pytest.mark.parametrize(
    ("workflow", "expected"),
    [
        ("{start: A, finish: [Done, A2], touch: [A2]}", "the finish state 'A2' cannot also be touch"),
        ("{start: A, finish: Done, discarded: [A]}", "the start state 'A' cannot be discarded"),
        ("{start: A, finish: Done, reopened: sometimes}", "workflow.reopened"),
        ("{start: A, finish: []}", "workflow.finish"),
    ],
)
def test_workflow_mistakes(workflow, expected):
    with pytest.raises(StreamFileError) as err:
        parse_stream(f"workflow: {workflow}")
    assert expected in str(err.value)


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def pd_ts(text: str):
    import pandas as pd

    return pd.Timestamp(text)
