"""The session clock: six phases over 90 minutes, driven by start, pause and next."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from valuestream.web.agenda import PHASES, TOTAL_SECONDS, Agenda


def test_the_six_phases_cover_ninety_minutes_without_gaps() -> None:
    assert [(p.start, p.end) for p in PHASES] == [(0, 10), (10, 30), (30, 55), (55, 70), (70, 85), (85, 90)]
    assert TOTAL_SECONDS == 90 * 60


def test_start_pause_and_next_by_the_clock() -> None:
    a = Agenda().start(1000.0)
    assert a.running and a.elapsed(1000.0 + 599) == 599 and a.phase_index(1000.0 + 599) == 0
    assert a.phase_index(1000.0 + 600) == 1  # minute 10: outline flow
    paused = a.pause(1000.0 + 700)
    assert not paused.running and paused.elapsed(99_999) == 700  # the clock stands still
    d = paused.to_dict(5000.0)
    assert d["phase"] == 1 and d["phase_left"] == 30 * 60 - 700
    jumped = paused.next(5000.0)  # to minute 30, still paused
    assert jumped.elapsed(6000.0) == 30 * 60 and not jumped.running
    resumed = jumped.start(6000.0)
    assert resumed.elapsed(6060.0) == 31 * 60 and resumed.phase_index(6060.0) == 2


def test_the_clock_stops_at_ninety_minutes_and_next_from_the_last_phase_ends_it() -> None:
    a = Agenda(banked=89 * 60).start(0.0)
    assert a.elapsed(3600.0) == TOTAL_SECONDS
    assert a.to_dict(3600.0)["finished"] and not a.to_dict(3600.0)["running"]
    assert Agenda(banked=86 * 60).next(0.0).elapsed(0.0) == TOTAL_SECONDS
    assert Agenda(banked=TOTAL_SECONDS).start(0.0).running is False


def test_a_rehearsal_runs_faster_and_a_restart_keeps_the_minute() -> None:
    a = Agenda(speed=60).start(0.0)
    assert a.phase_index(10.0) == 1  # ten seconds of rehearsal are ten session minutes
    saved = a.to_saved(20.0)
    assert saved == {"banked": 1200.0, "running": True}
    back = Agenda.from_saved(saved, 500.0, speed=1)
    assert back.running and back.elapsed(500.0) == 1200.0
    assert Agenda.from_saved({"banked": -5}, 0.0).elapsed(0.0) == 0  # nonsense is ignored


@given(st.lists(st.tuples(st.sampled_from(["start", "pause", "next", "reset"]), st.floats(0, 3000)), max_size=30))
def test_the_clock_never_runs_backwards_except_on_reset(moves: list[tuple[str, float]]) -> None:
    a, now = Agenda(), 0.0
    for action, wait in moves:
        now += wait
        before = a.elapsed(now)
        a = a.reset() if action == "reset" else getattr(a, action)(now)
        after = a.elapsed(now)
        if action == "reset":
            assert after == 0
        else:
            assert after >= before
        assert 0 <= after <= TOTAL_SECONDS
        assert 0 <= a.phase_index(now) < len(PHASES)


@pytest.mark.parametrize("minute,title", [(0, "Align scope"), (29.9, "Outline flow"), (55, "Find the constraint"), (84, "Choose one experiment"), (89.99, "Set measures and cadence")])
def test_phase_by_minute(minute: float, title: str) -> None:
    assert PHASES[Agenda(banked=minute * 60).phase_index(0.0)].title == title
