"""The simulation engine against queueing theory, SimPy, and the stream's own words.

Closed forms (e.g. Kleinrock, *Queueing Systems* Vol. 1, or any OR text):
- M/M/1 mean time in system W = 1 / (mu - lambda);
- M/M/c: W = C(c, a) / (c mu - lambda) + 1 / mu, with C the Erlang C probability of waiting;
- a tandem of M/M/1 stations (Jackson / Burke): W = sum of 1 / (mu_i - lambda);
- Little's law L = lambda W; a fixed delay adds its length; a gate releasing every T days adds T/2
  on average to arrivals that do not know its schedule.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.errors import InputError
from valuestream.model import parse_stream
from valuestream.simulate import (
    Dist,
    Loop,
    Network,
    Station,
    UnstableError,
    compare,
    experiments,
    from_flow,
    from_stream,
    parse_change,
    parse_changes,
    simulate,
    visits,
)
from valuestream.simulate.engine import replicate
from valuestream.views.charts import spec


def mm(servers: int | None, mean: float) -> Station:
    return Station("S", touch=Dist.exponential(mean), servers=servers)


def erlang_c_w(lam: float, mu: float, c: int) -> float:
    a = lam / mu
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam) + 1 / mu


# -- theory ------------------------------------------------------------------------------------


def test_mm1_mean_time_in_system() -> None:
    net = Network((mm(1, 1.0),), arrival_rate=0.8)
    result = simulate(net, items=100_000, replications=4, seed=11)
    assert result.ci("lead_mean")[0] == pytest.approx(1 / (1.0 - 0.8), rel=0.04)
    # the sojourn time of M/M/1 is exponential with rate mu - lambda: p85 = ln(1/0.15) / 0.2
    assert result.ci("lead_p85")[0] == pytest.approx(math.log(1 / 0.15) / 0.2, rel=0.05)
    assert spec(result.chart())["layer"][0]["mark"]["type"] == "bar"
    assert result.steps["utilisation"].iloc[0] == pytest.approx(0.8, abs=0.01)


def test_mmc_mean_time_in_system_matches_erlang_c() -> None:
    net = Network((mm(3, 1.0),), arrival_rate=2.4)
    result = simulate(net, items=100_000, replications=4, seed=12)
    # by hand: a = 2.4, sum a^k/k! (k<3) = 6.28, a^3/3!/(1 - 0.8) = 11.52, C = 11.52/17.8 = 0.6472,
    # W = 0.6472 / (3 - 2.4) + 1 = 2.0787
    assert erlang_c_w(2.4, 1.0, 3) == pytest.approx(2.0787, abs=1e-4)
    assert result.ci("lead_mean")[0] == pytest.approx(erlang_c_w(2.4, 1.0, 3), rel=0.04)


def test_tandem_of_mm1_stations_adds_up() -> None:
    net = Network(
        (
            Station("A", touch=Dist.exponential(1.0), servers=1),
            Station("B", touch=Dist.exponential(1 / 0.8), servers=1),
        ),
        arrival_rate=0.5,
    )
    result = simulate(net, items=100_000, replications=4, seed=13)
    expected = 1 / (1.0 - 0.5) + 1 / (0.8 - 0.5)
    assert result.ci("lead_mean")[0] == pytest.approx(expected, rel=0.04)


def rich_network(**changes: object) -> Network:
    net = Network(
        (
            Station("Intake", touch=Dist.uniform(0.2, 0.8), servers=2),
            Station("Legal", wait=Dist.uniform(3, 9), kind="approval"),
            Station(
                "Build",
                touch=Dist.exponential(1.0),
                servers=2,
                blocked_share=0.2,
                blocked=Dist.fixed(2.0),
            ),
            Station("Test", touch=Dist.empirical([0.2, 0.5, 0.9]), servers=1),
            Station("Release", batch_every=7.0),
        ),
        rework=(Loop("Test", "Build", 0.25),),
        arrival_rate=0.6,
    )
    return replace(net, **changes)  # type: ignore[arg-type]


def test_littles_law_holds_on_the_engines_own_output() -> None:
    result = simulate(rich_network(), items=60_000, replications=3, seed=14)
    for row in result.runs.itertuples():
        assert row.wip_mean == pytest.approx(row.throughput_per_week / 7 * row.lead_mean, rel=0.03)


def test_a_pure_delay_adds_exactly_its_delay_to_every_item() -> None:
    base = Network((mm(1, 1.0),), arrival_rate=0.7)
    for where in ("before", "after"):
        delay = Station("Approval", wait=Dist.fixed(3.0))
        stations = (delay, *base.stations) if where == "before" else (*base.stations, delay)
        with_delay = replicate(Network(stations, arrival_rate=0.7), 5_000, seed=3)
        without = replicate(base, 5_000, seed=3)
        np.testing.assert_allclose(
            with_delay.exit - with_delay.entry, without.exit - without.entry + 3.0, atol=1e-9
        )


def test_a_release_gate_adds_half_its_cadence_on_average() -> None:
    steady = tuple(
        float(x) for x in np.arange(20_000) * 0.37
    )  # a steady stream, blind to the schedule
    net = Network((Station("Release", batch_every=7.0),), arrivals=steady)
    result = simulate(net, replications=1)
    assert result.ci("lead_mean")[0] == pytest.approx(3.5, rel=0.01)
    assert result.steps["waiting_days"].iloc[0] == pytest.approx(3.5, rel=0.01)
    # items released together leave at multiples of the cadence
    run = replicate(net, 0, seed=1)
    np.testing.assert_allclose(run.exit, np.ceil(run.arrive / 7.0) * 7.0)


def test_stream_wip_limit_caps_items_in_the_stream() -> None:
    net = rich_network(wip_limit=4)
    run = replicate(net, 20_000, seed=5)
    times = np.concatenate([run.entry, run.exit])
    steps = np.concatenate([np.ones(len(run.entry)), -np.ones(len(run.exit))])
    order = np.lexsort((steps, times))  # at equal times, leaving comes before entering
    assert np.cumsum(steps[order]).max() <= 4
    assert np.all(run.entry >= run.arrive)
    result = simulate(net, items=20_000, replications=2, seed=5)
    assert result.ci("backlog_wait_mean")[0] > 0


def test_rework_visits_follow_the_traffic_equations() -> None:
    net = rich_network()
    # Build and Test are visited 1 / (1 - 0.25) times each
    np.testing.assert_allclose(visits(net), [1, 1, 4 / 3, 4 / 3, 1])
    result = simulate(net, items=40_000, replications=2, seed=6)
    assert result.steps.set_index("step")["visits"]["Build"] == pytest.approx(4 / 3, rel=0.02)
    assert result.ci("rework_share")[0] == pytest.approx(0.25, abs=0.01)


# -- against SimPy -----------------------------------------------------------------------------


def simpy_mean_lead(items: int, seed: int) -> float:
    """The same small network in SimPy: M/M/2, a 1-day approval, M/M/1 with 20% rework to the start."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    first, last = simpy.Resource(env, capacity=2), simpy.Resource(env, capacity=1)
    leads: list[float] = []

    def item(env: simpy.Environment) -> object:
        start = env.now
        while True:
            with first.request() as req:
                yield req
                yield env.timeout(rng.exponential(1.0))
            yield env.timeout(1.0)
            with last.request() as req:
                yield req
                yield env.timeout(rng.exponential(0.5))
            if rng.random() >= 0.2:
                break
        leads.append(env.now - start)

    def source(env: simpy.Environment) -> object:
        for _ in range(items):
            yield env.timeout(rng.exponential(1 / 1.2))
            env.process(item(env))

    env.process(source(env))
    env.run()
    return float(np.mean(leads[items // 10 :]))


def test_agrees_with_a_simpy_model_of_the_same_network() -> None:
    net = Network(
        (
            Station("First", touch=Dist.exponential(1.0), servers=2),
            Station("Approval", wait=Dist.fixed(1.0)),
            Station("Last", touch=Dist.exponential(0.5), servers=1),
        ),
        rework=(Loop("Last", "First", 0.2),),
        arrival_rate=1.2,
    )
    ours = simulate(net, items=40_000, replications=4, seed=21).ci("lead_mean")[0]
    theirs = np.mean([simpy_mean_lead(40_000, seed) for seed in (1, 2)])
    assert ours == pytest.approx(theirs, rel=0.05)


# -- impossible models -------------------------------------------------------------------------


def test_zero_capacity_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="zero capacity at 'S'"):
        simulate(Network((mm(0, 1.0),), arrival_rate=0.5))


def test_overload_without_wip_limit_is_named_unstable() -> None:
    net = Network(
        (
            Station("Intake", touch=Dist.fixed(0.1)),
            Station("Design", touch=Dist.exponential(2.0), servers=1),
        ),
        arrival_rate=0.6,
    )
    with pytest.raises(
        UnstableError,
        match=r"unstable: the queue at 'Design' grows without bound \(utilisation 1.20",
    ):
        simulate(net)


def test_overload_with_a_wip_limit_runs_and_says_the_backlog_grows() -> None:
    net = Network(
        (Station("Design", touch=Dist.exponential(2.0), servers=1),), arrival_rate=0.6, wip_limit=3
    )
    result = simulate(net, items=3_000, replications=1)
    assert result.unstable and "backlog before the stream grows without bound" in result.unstable
    assert result.ci("throughput_per_week")[0] == pytest.approx(
        3.5, rel=0.1
    )  # capped at 7 / 2 per week


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_shares_outside_zero_to_one_are_rejected(share: float) -> None:
    net = rich_network(rework=(Loop("Test", "Build", share),))
    with pytest.raises(InputError, match="between 0 and 1"):
        simulate(net)


def test_a_loop_with_no_exit_is_rejected() -> None:
    net = rich_network(rework=(Loop("Test", "Build", 0.6), Loop("Test", "Intake", 0.4)))
    with pytest.raises(InputError, match="a loop with no exit"):
        simulate(net)


# -- policy changes ----------------------------------------------------------------------------


def test_policy_changes_rewrite_the_network() -> None:
    net = rich_network()
    assert parse_change("release: every 3 days").apply(net).stations[4].batch_every == 3
    assert parse_change("release: continuous").apply(net).stations[4].batch_every is None
    assert parse_change("legal: wait -50%").apply(net).stations[1].wait_mean == pytest.approx(3.0)
    assert parse_change("Legal: wait -2d").apply(net).stations[1].wait_mean == pytest.approx(4.0)
    assert parse_change("Test: touch -0.1d").apply(net).stations[3].touch_mean == pytest.approx(
        (0.1 + 0.4 + 0.8) / 3
    )
    assert parse_change("Build: +1 capacity").apply(net).stations[2].servers == 3
    assert parse_change("Build: +1 capacity for 1h/day").apply(net).stations[
        2
    ].extra_capacity == pytest.approx(1 / 8)
    assert parse_change("wip: 12").apply(net).wip_limit == 12
    assert parse_change("Build: wip 3").apply(net).stations[2].wip_limit == 3
    assert parse_change("Build: blocked -50%").apply(net).stations[
        2
    ].blocked_share == pytest.approx(0.1)
    assert parse_change("Test: rework -40%").apply(net).rework[0].share == pytest.approx(0.15)
    assert parse_change("arrivals: 7/week").apply(net).arrival_rate == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("faster please", "TARGET: CHANGE"),
        ("Nowhere: wait -50%", "no step named 'Nowhere'"),
        ("Build: wait -50%", "its wait comes from its capacity queue"),
        ("release: sometimes", "unknown release cadence"),
        ("wip: 0", "at least 1"),
        ("Legal: +1 capacity", "no capacity queue"),
    ],
)
def test_unreadable_or_impossible_changes_say_why(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_change(text).apply(rich_network())


def test_release_daily_saves_half_the_cadence_difference() -> None:
    net = Network(
        (Station("Work", wait=Dist.exponential(2.0)), Station("Release", batch_every=14.0)),
        arrival_rate=1.0,
    )
    result = compare(
        net, parse_changes(["release: daily"]), cod_per_week=1000, items=20_000, replications=3
    )
    saved = result.days_saved
    assert saved[0] == pytest.approx(6.5, abs=0.15)  # 14/2 - 1/2
    value = result.value_per_week
    assert value is not None
    assert value[0] == pytest.approx(
        saved[0] / 7 * 1000 * 7.0, rel=0.03
    )  # d/7 x CoD x 7 items a week


def test_the_constraints_change_comes_out_on_top_when_it_is_the_constraint() -> None:
    net = Network(
        (
            Station("Discovery", touch=Dist.uniform(0.5, 1.5), servers=3),
            Station("Design", touch=Dist.exponential(1.0), servers=1),
            Station("Handoff", wait=Dist.fixed(0.5)),
            Station("Build", touch=Dist.exponential(1.5), servers=4),
        ),
        arrival_rate=0.9,
    )
    result = experiments(net, cod_per_week=1000, items=20_000, replications=3)
    assert result.constraint == "Design"
    assert result.top["change"] == "Design: +1 capacity for 1h/day"
    assert "It is the constraint's change" in result.explain()
    chart = spec(result.chart())
    assert chart["layer"][0]["encoding"]["y"]["sort"] == list(
        result.table["change"]
    )  # ranked top down


def test_from_stream_follows_the_documented_rules() -> None:
    stream = parse_stream(
        """
steps:
  - {name: Legal, kind: approval, wait_days: [7, 14]}
  - {name: Build, touch_days: {observed: [1, 2, 3]}, wait_days: 3, capacity: 2}
  - {name: Release, kind: release_gate, batch_every_days: 14, wait_days: 7}
rework:
  - {from: Release, to: Build, share: 0.1}
"""
    )
    net = from_stream(stream, arrivals_per_week=3.5)
    legal, build, release = net.stations
    assert (legal.wait.kind, legal.wait.a, legal.wait.b, legal.servers) == ("uniform", 7, 14, None)
    assert build.touch.values == (1, 2, 3) and build.servers == 2 and build.wait.kind == "none"
    assert release.batch_every == 14 and release.wait.kind == "none"
    assert net.arrival_rate == pytest.approx(0.5)
    assert len(net.notes) == 2
    with pytest.raises(InputError, match="Nowhere"):
        from_stream(stream, arrivals_per_week=3.5, capacity={"Nowhere": 2})


STREAM_WITH_STATES = """
name: Tiny
workflow:
  start: Ready
  finish: Done
  touch: [Dev]
  wait: [Ready, Review]
steps:
  - {name: Dev, states: [Ready, Dev], capacity: 2}
  - {name: Review, kind: approval, states: [Review]}
"""


def test_from_flow_measures_touch_waits_and_arrivals(make_flow) -> None:  # noqa: ANN001
    stream = parse_stream(STREAM_WITH_STATES)
    rows = [
        ("A", "Ready", "2026-01-05T00:00:00Z"),
        ("A", "Dev", "2026-01-06T00:00:00Z"),
        ("A", "Review", "2026-01-08T00:00:00Z"),
        ("A", "Done", "2026-01-11T00:00:00Z"),
        ("B", "Ready", "2026-01-07T00:00:00Z"),
        ("B", "Dev", "2026-01-07T12:00:00Z"),
        ("B", "Done", "2026-01-08T12:00:00Z"),
    ]
    flow = make_flow(rows, stream)
    net = from_flow(flow, stream)
    dev, review = net.stations
    assert sorted(dev.touch.values) == [1.0, 2.0]  # B touched 1 day, A 2 days
    assert dev.servers == 2 and dev.wait.kind == "none"  # the Ready wait is the capacity queue's
    assert sorted(review.wait.values) == [0.0, 3.0]  # B skipped review: a zero, A waited 3 days
    assert net.arrival_rate == pytest.approx(2 / flow.window().days)
    replayed = from_flow(flow, stream, replay=True)
    assert replayed.arrivals == (0.0, 2.0)


# -- the command line --------------------------------------------------------------------------

runner = CliRunner()

CLI_STREAM = """
name: CLI stream
steps:
  - {name: Design, touch_days: [1, 2], capacity: 2}
  - {name: Legal language, kind: approval, wait_days: [7, 14]}
  - {name: Release, kind: release_gate, batch_every_days: 14}
cost_of_delay: {currency: EUR, per_week: 1000}
"""


def test_cli_simulate_prints_before_after_and_money_as_json(tmp_path: Path) -> None:
    path = tmp_path / "stream.yaml"
    path.write_text(CLI_STREAM)
    args = [
        "simulate",
        "-s",
        str(path),
        "-w",
        str(tmp_path / "none.duckdb"),
        "--arrivals",
        "5",
        "--items",
        "3000",
        "-r",
        "3",
        "--change",
        "release: daily",
        "--change",
        "Legal language: wait -50%",
        "--format",
        "json",
    ]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["changes"] == ["release: daily", "Legal language: wait -50%"]
    # 6.5 days from the gate (14/2 - 1/2) plus half of the 7-14 day wait's mean of 10.5 days
    assert data["days_saved"]["mean"] == pytest.approx(6.5 + 5.25, abs=0.4)
    assert data["value_per_week"]["mean"] == pytest.approx(
        data["days_saved"]["mean"] / 7 * 1000 * 5, rel=0.1
    )


def test_cli_experiments_and_bad_changes(tmp_path: Path) -> None:
    path = tmp_path / "stream.yaml"
    path.write_text(CLI_STREAM)
    base = [
        "-s",
        str(path),
        "-w",
        str(tmp_path / "none.duckdb"),
        "--arrivals",
        "5",
        "--items",
        "2000",
        "-r",
        "2",
    ]
    out = runner.invoke(app, ["experiments", *base, "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["constraint"] == "Legal language"
    assert [c["change"] for c in data["candidates"]][:2] == [
        "release: daily",
        "Legal language: wait -50%",
    ]
    bad = runner.invoke(app, ["simulate", *base, "--change", "Legal language: faster"])
    assert bad.exit_code == 2 and "cannot read the change" in bad.output
    unstable = runner.invoke(app, ["simulate", *base[:4], "--arrivals", "60"])
    assert unstable.exit_code == 2 and "grows without bound" in unstable.output


# -- properties --------------------------------------------------------------------------------

station_st = st.builds(
    Station,
    name=st.just("x"),
    touch=st.sampled_from([Dist(), Dist.fixed(0.5), Dist.uniform(0.1, 2.0), Dist.exponential(0.7)]),
    wait=st.sampled_from([Dist(), Dist.fixed(1.0), Dist.exponential(2.0)]),
    servers=st.sampled_from([None, 1, 2, 3]),
    batch_every=st.sampled_from([None, None, 3.0]),
    blocked_share=st.sampled_from([0.0, 0.3]),
    blocked=st.just(Dist.fixed(0.5)),
    wip_limit=st.sampled_from([None, None, 1, 2]),
)


@settings(max_examples=40, deadline=None)
@given(
    stations=st.lists(station_st, min_size=1, max_size=5),
    share=st.sampled_from([0.0, 0.3, 0.6]),
    wip=st.sampled_from([None, 1, 3]),
    seed=st.integers(0, 1000),
)
def test_every_item_leaves_and_time_adds_up(
    stations: list[Station], share: float, wip: int | None, seed: int
) -> None:
    stations = [replace(s, name=f"S{i}") for i, s in enumerate(stations)]
    rework = (Loop(stations[-1].name, stations[0].name, share),) if share else ()
    net = Network(tuple(stations), rework=rework, arrival_rate=0.05, wip_limit=wip)
    run = replicate(net, 300, seed)
    assert np.all(np.isfinite(run.exit)), "an item never left the stream"
    assert np.all(run.entry >= run.arrive) and np.all(run.exit >= run.entry)
    assert np.all(run.exit - run.entry >= run.touch - 1e-9)  # lead time = touch + some waiting
    if wip is not None:
        times = np.concatenate([run.entry, run.exit])
        steps = np.concatenate([np.ones(300), -np.ones(300)])
        assert np.cumsum(steps[np.lexsort((steps, times))]).max() <= wip


def test_seeded_replications_reproduce_exactly_even_on_two_threads() -> None:
    first = simulate(rich_network(), items=5_000, replications=4, seed=9, threads=2)
    again = simulate(rich_network(), items=5_000, replications=4, seed=9, threads=2)
    other = simulate(rich_network(), items=5_000, replications=4, seed=10, threads=2)
    assert first.runs.equals(again.runs)
    assert not first.runs.equals(other.runs)
    # replication k of seed 9 is replication k-1 of seed 10
    assert first.runs["lead_mean"].iloc[1] == other.runs["lead_mean"].iloc[0]
