"""Forecast commands: ``forecast when``, ``forecast how-many``, ``sle`` and ``aging``."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from valuestream.cli._app import app
from valuestream.cli._common import (
    DEFAULT_WORKSPACE,
    MAX_DAYS,
    MAX_ROWS,
    MAX_SEED,
    MAX_TRIALS,
    AsOfOpt,
    ByOpt,
    Engine,
    EngineOpt,
    EventsOpt,
    FilterOpt,
    Format,
    FormatOpt,
    LimitOpt,
    SparkMasterOpt,
    StreamOpt,
    TzOpt,
    WorkspaceOpt,
    analysis,
    breakdown,
    console,
    emit,
    output_file,
    parse_date,
    print_json,
    records,
    user_errors,
)
from valuestream.defaults import (
    DEFAULT_TRIALS,
    DEFAULT_WINDOW_DAYS,
    HORIZON_DAYS,
    MIN_TRIALS,
)
from valuestream.errors import InputError

forecast_app = typer.Typer(
    no_args_is_help=True,
    help="Monte Carlo forecasts from the daily throughput history: when N items will be done, or how many by a date.",
)
app.add_typer(forecast_app, name="forecast")

WindowOpt = Annotated[
    int,
    typer.Option(
        "--window-days",
        min=1,
        max=MAX_DAYS,
        help="Days of history to sample, ending at the as-of day.",
    ),
]
TrialsOpt = Annotated[
    int,
    typer.Option(
        "--trials",
        min=MIN_TRIALS,
        max=MAX_TRIALS,
        help="Simulated futures (more: steadier percentiles, slower).",
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        min=0,
        max=MAX_SEED,
        help="Random seed: the same seed gives the same forecast [default: a new one, printed].",
    ),
]
StartOpt = Annotated[
    str | None,
    typer.Option(
        "--start", help="First forecast day (YYYY-MM-DD) [default: the day after the as-of day]."
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o", callback=output_file, help="Also save the chart: .svg, .png or .html."
    ),
]
PercentileOpt = Annotated[
    int,
    typer.Option(
        "--percentile",
        "-p",
        min=1,
        max=99,
        help="The service level: this share of items finish within the expectation.",
    ),
]
CycleOpt = Annotated[
    bool,
    typer.Option(
        "--cycle",
        help="Use cycle time (from first touch) instead of lead time (from stream entry).",
    ),
]


def _show(
    result: Any, fmt: Format, table_title: str, json_data: dict[str, Any], out: Path | None
) -> None:
    """Print a result: its table and words, its table as CSV, or its data as JSON; save the chart."""
    if fmt is Format.json:
        print_json(json_data)
    elif fmt is Format.csv:
        emit(result.table, fmt)
    else:
        emit(result.table, fmt, title=table_title)
        console.print(result.explain(), highlight=False, soft_wrap=True)
    if out is not None:
        from valuestream.views.charts import save

        save(result.chart(), out)
        if fmt is Format.table:
            console.print(f"Chart saved to {out}", highlight=False)


@forecast_app.command("when")
def when_cmd(
    items: Annotated[
        int, typer.Option("--items", "-n", min=1, max=MAX_ROWS, help="Items still to finish.")
    ],
    window_days: WindowOpt = DEFAULT_WINDOW_DAYS,
    trials: TrialsOpt = DEFAULT_TRIALS,
    seed: SeedOpt = None,
    start: StartOpt = None,
    out: OutOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    as_of: AsOfOpt = None,
    tz: TzOpt = "UTC",
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    events: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    filters: FilterOpt = None,
    by: ByOpt = None,
) -> None:
    """When will N more items be finished? Days and dates at 50/70/85/95% confidence."""
    from valuestream import forecast

    with user_errors():
        flow = analysis(workspace, stream, as_of, tz, filters, engine, spark_master, events)

        run = partial(_simulate, forecast.when, target=items, window_days=window_days, trials=trials, seed=seed, start=start)
        if by is not None:
            emit(breakdown(flow, by, lambda f: _levels(run(f), "days")), fmt, title=f"When will {items} items of each {by} be finished? (days)")
            return
        result = run(flow)
        _show(result, fmt, f"When will {items} items be finished?", result.to_dict(), out)


def _simulate(
    ask: Any, flow: Any, *, target: Any, window_days: int, trials: int, seed: int | None, start: str | None
) -> Any:
    """A Monte Carlo forecast (``forecast.when`` or ``forecast.how_many``) from a Flow's history."""
    from valuestream import forecast

    history = forecast.History.from_flow(flow, window_days=window_days)
    return ask(history, target, trials=trials, seed=seed, start=parse_date(start, "--start"), window_days=None)


def _levels(result: Any, what: str) -> dict[str, Any]:
    """A forecast's confidence levels as one row of a breakdown: p50, p70, p85, p95 (days or items)."""
    return {f"p{c}_{what}": v for c, v in result.levels}


@forecast_app.command("how-many")
def how_many_cmd(
    by: Annotated[
        str | None, typer.Option("--by", help="Last day of the forecast, inclusive (YYYY-MM-DD).")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days", min=1, max=HORIZON_DAYS, help="Or: the number of days to forecast."
        ),
    ] = None,
    window_days: WindowOpt = DEFAULT_WINDOW_DAYS,
    trials: TrialsOpt = DEFAULT_TRIALS,
    seed: SeedOpt = None,
    start: StartOpt = None,
    out: OutOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    as_of: AsOfOpt = None,
    tz: TzOpt = "UTC",
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    events: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    filters: FilterOpt = None,
    group_by: Annotated[
        str | None,
        typer.Option("--group-by", help="One forecast per value of this item attribute (--by is the date here)."),
    ] = None,
) -> None:
    """How many items will be finished by a date (or in N days)? Counts at 50/70/85/95% confidence."""
    from valuestream import forecast

    with user_errors():
        if (by is None) == (days is None):
            raise InputError("give either --by DATE or --days N")
        flow = analysis(workspace, stream, as_of, tz, filters, engine, spark_master, events)
        horizon = parse_date(by, "--by") or days
        assert horizon is not None

        run = partial(_simulate, forecast.how_many, target=horizon, window_days=window_days, trials=trials, seed=seed, start=start)
        if group_by is not None:
            emit(breakdown(flow, group_by, lambda f: _levels(run(f), "items")), fmt, title=f"How many items of each {group_by}?")
            return
        result = run(flow)
        title = (
            f"How many items by {result.by}?"
            if result.by
            else f"How many items in {result.days} days?"
        )
        _show(result, fmt, title, result.to_dict(), out)


@app.command("sle")
def sle_cmd(
    percentile: PercentileOpt = 85,
    cycle: CycleOpt = False,
    window_days: WindowOpt = DEFAULT_WINDOW_DAYS,
    out: OutOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    as_of: AsOfOpt = None,
    tz: TzOpt = "UTC",
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    events: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    filters: FilterOpt = None,
    by: ByOpt = None,
) -> None:
    """The service level expectation: "85% of items finish within N days", from recent finished items."""
    from valuestream import forecast

    with user_errors():
        flow = analysis(workspace, stream, as_of, tz, filters, engine, spark_master, events)
        measure: forecast.Measure = "cycle" if cycle else "lead"
        if by is not None:

            def figures(f: Any) -> dict[str, Any]:
                level = forecast.sle(f, percentile=percentile, measure=measure, window_days=window_days)
                return {"items": len(level.durations), f"p{percentile}_days": level.days}

            emit(breakdown(flow, by, figures), fmt, title=f"Service level expectation by {by}")
            return
        result = forecast.sle(flow, percentile=percentile, measure=measure, window_days=window_days)
        _show(result, fmt, "Service level expectation", result.to_dict(), out)


@app.command("aging")
def aging_cmd(
    percentile: PercentileOpt = 85,
    cycle: CycleOpt = False,
    window_days: WindowOpt = DEFAULT_WINDOW_DAYS,
    out: OutOpt = None,
    limit: LimitOpt = 50,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    as_of: AsOfOpt = None,
    tz: TzOpt = "UTC",
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    events: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    filters: FilterOpt = None,
) -> None:
    """Items in progress, oldest first: age, current step, and how it compares with the expectation."""
    from valuestream import forecast

    with user_errors():
        flow = analysis(workspace, stream, as_of, tz, filters, engine, spark_master, events)
        measure: forecast.Measure = "cycle" if cycle else "lead"
        try:
            result = forecast.aging(
                flow, percentile=percentile, measure=measure, window_days=window_days
            )
        except InputError as exc:
            _ages_alone(flow, exc, fmt, limit)
            return
        if fmt is Format.json:
            print_json(result.to_dict())
        else:
            # The terminal table keeps what a stand-up needs; CSV and JSON carry every column.
            shown = (
                result.table
                if fmt is Format.csv
                else result.table[["item", "title", "step", "age_days", "band", "over_sle"]]
            )
            emit(shown, fmt, title="Aging work in progress", limit=limit)
            if fmt is Format.table:
                console.print(result.explain(), highlight=False, soft_wrap=True)
        if out is not None:
            from valuestream.views.charts import save

            save(result.chart(), out)
            if fmt is Format.table:
                console.print(f"Chart saved to {out}", highlight=False)


def _ages_alone(flow: Any, why: InputError, fmt: Format, limit: int) -> None:
    """Work in progress with its ages when no item has finished yet: no bands to compare with,
    so the ages are shown and what is missing is said."""
    items = flow.items()
    wip = items[items["age_days"].notna()].merge(flow.current_step(), on="item", how="inner")
    wip = wip.sort_values(["age_days", "item"], ascending=[False, True])[["item", "title", "step", "state", "entered", "age_days"]]
    if fmt is Format.json:
        print_json({"service_level": None, "missing": str(why), "items": records(wip)})
        return
    emit(wip, fmt, title="Work in progress (no expectation to compare with yet)", limit=limit)
    if fmt is Format.table:
        console.print(f"{len(wip)} items in progress; no bands yet: {why}.", highlight=False, soft_wrap=True)

