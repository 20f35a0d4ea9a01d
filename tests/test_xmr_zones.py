"""XmR charts of dated values with time zones: zoned and plain times compare as the same clock.

A baseline range or a split given as a time with a zone, against values dated in a zone (the
lead times of a flow counted in Europe/Berlin) or without one, raised "Cannot compare tz-naive
and tz-aware datetime-like objects". Each bound is now read as a wall time in the values' zone.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from valuestream.xmr import xmr

# 30 daily values at midnight in Berlin (CET, UTC+1, before the March change): 0, 1, ..., 6, 0, ...
VALUES = np.arange(30, dtype=float) % 7
BERLIN = pd.date_range("2026-03-01", periods=30, freq="D", tz="Europe/Berlin")


def test_a_zoned_baseline_range_against_zoned_values():
    # 2 March 00:00 UTC is 01:00 in Berlin: the value of 2 March (00:00 Berlin) is before it,
    # so the baseline starts on 3 March (index 2); the range's last day, 20 March UTC, counts
    # whole, to 21 March 01:00 Berlin: the value of 21 March (index 20) is in. Indexes 2..20:
    # 2+3+4+5+6+0+1 twice (42) and 2+3+4+5+6 (20) = 62 over 19 values.
    lo, hi = pd.Timestamp("2026-03-02", tz="UTC"), pd.Timestamp("2026-03-20", tz="UTC")
    chart = xmr(VALUES, dates=BERLIN, baseline_range=(lo, hi))
    p = chart.current
    assert p is not None and p.baseline_n == 19
    assert p.centre == pytest.approx(62 / 19)
    # the 18 moving ranges inside the baseline: 1 at each step up (4, then 6, then 6 of them) and 6
    # at each of the 2 wraps from 6 to 0: (16 + 12) / 18
    assert p.mr_bar == pytest.approx(28 / 18)
    # the same bounds as Python datetimes with a zone give the same chart
    aware = (dt.datetime(2026, 3, 2, tzinfo=dt.UTC), dt.datetime(2026, 3, 20, tzinfo=dt.UTC))
    same = xmr(VALUES, dates=list(BERLIN.to_pydatetime()), baseline_range=aware).current
    assert same is not None and (same.centre, same.mr_bar) == (p.centre, p.mr_bar)


def test_a_zoned_bound_against_plain_values_reads_its_own_wall_time():
    plain = BERLIN.tz_localize(None)
    lo, hi = pd.Timestamp("2026-03-02", tz="UTC"), pd.Timestamp("2026-03-20", tz="UTC")
    p = xmr(VALUES, dates=plain, baseline_range=(lo, hi)).current
    # 2 March to 20 March as written: indexes 1..19, 1+2+...+6+0 twice (42) and 1+2+3+4+5 (15)
    assert p is not None and p.baseline_n == 19 and p.centre == pytest.approx(57 / 19)


def test_a_zoned_split_is_placed_in_the_values_zone():
    # 10 March 12:00 in New York (EDT from 8 March, UTC-4) is 17:00 in Berlin: the new period
    # starts with the value of 11 March (index 10)
    split = pd.Timestamp("2026-03-10T12:00", tz="America/New_York")
    chart = xmr(VALUES, dates=BERLIN, splits=[(split, "WIP limit")])
    assert [(q.start, q.end) for q in chart.periods] == [(0, 10), (10, 30)]
    # 10 March 23:30 UTC is already 11 March 00:30 in Berlin: the value of 11 March is before it
    late = pd.Timestamp("2026-03-10T23:30", tz="UTC")
    assert [q.start for q in xmr(VALUES, dates=BERLIN, splits=[late]).periods] == [0, 11]
