"""Measure the difference: the events log, process behavior charts (XmR) and the weekly check."""

from __future__ import annotations

import datetime as dt
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from valuestream.cli._app import app
from valuestream.cli._common import (
    DEFAULT_WORKSPACE,
    MAX_ID,
    MAX_ROWS,
    AsOfOpt,
    Engine,
    EngineOpt,
    EventsOpt,
    FilterOpt,
    Format,
    FormatOpt,
    SparkMasterOpt,
    StreamOpt,
    TzOpt,
    WorkspaceOpt,
    analysis,
    console,
    emit,
    err_console,
    existing_workspace,
    open_stream,
    output_file,
    parse_as_of,
    parse_date,
    print_json,
    records,
    user_errors,
)
from valuestream.defaults import MAX_ITEMS_PER_WEEK
from valuestream.errors import InputError

if TYPE_CHECKING:
    from valuestream.flow import Flow
    from valuestream.xmr import XmrChart


class SeriesBasis(StrEnum):
    auto = "auto"
    items = "items"
    weekly = "weekly"


SeriesBasisOpt = Annotated[
    SeriesBasis,
    typer.Option(
        "--basis",
        help="Lead and cycle time as single items or weekly medians; auto chooses by volume "
        f"(single items up to {MAX_ITEMS_PER_WEEK} a week, not in batches).",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o", callback=output_file, help="Also draw the chart to this file (.svg, .png, .html)."
    ),
]
event_app = typer.Typer(
    no_args_is_help=True, help="The events log: changes the team made, named on their day."
)
app.add_typer(event_app, name="event")


@event_app.command("add")
def event_add(
    title: Annotated[str, typer.Argument(help="What changed, in a few words.")],
    date: Annotated[
        str, typer.Option("--date", "-d", help="The day it changed (YYYY-MM-DD) [default: today].")
    ] = "",
    kind: Annotated[
        str, typer.Option(help="policy, team, tool, incident... (free text).")
    ] = "policy",
    new_period: Annotated[
        bool,
        typer.Option(
            "--new-period/--no-new-period", help="Whether charts start new limits on this day."
        ),
    ] = True,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    fmt: FormatOpt = Format.table,
) -> None:
    """Add an event to the workspace's events log."""
    from valuestream.events import add_event, events_table
    from valuestream.workspace import Workspace

    with user_errors():
        day = parse_date(date, "--date") if date else dt.date.today()
        assert day is not None
        event = add_event(Workspace(workspace), title, day, kind=kind, new_period=new_period)
        if fmt is Format.table:
            period = "starts a new period" if event.new_period else "marks the charts only"
            console.print(
                f"Added event {event.id}: {event.date} {event.title} ({event.kind}; {period}).",
                highlight=False,
            )
        else:
            emit(events_table([event]), fmt)


@event_app.command("list")
def event_list(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """The events log, oldest first (with the stream file's events not yet in the log, id 0)."""
    from valuestream.events import combined_events, events_table
    from valuestream.workspace import Workspace

    with user_errors():
        events = combined_events(Workspace(workspace), open_stream(stream))
        emit(events_table(events), fmt, title="Events")


@event_app.command("remove")
def event_remove(
    event_id: Annotated[
        int, typer.Argument(metavar="ID", min=1, max=MAX_ID, help="The id shown by 'valuestream event list'.")
    ],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Remove one event from the log."""
    from valuestream.events import remove_event

    with user_errors():
        event = remove_event(existing_workspace(workspace), event_id)
        console.print(f"Removed event {event.id}: {event.date} {event.title}.", highlight=False)


@event_app.command("sync")
def event_sync(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
) -> None:
    """Bring the stream file's events into the log (matched by date and title; safe to repeat)."""
    from valuestream.events import merge_stream_events
    from valuestream.workspace import Workspace

    with user_errors():
        settings = open_stream(stream, required=True)
        assert settings is not None
        console.print(
            merge_stream_events(Workspace(workspace), settings).explain(), highlight=False
        )


@event_app.command("export")
def event_export(workspace: WorkspaceOpt = DEFAULT_WORKSPACE) -> None:
    """Print the log as the stream file's events: block (YAML), to paste into stream.yaml."""
    from valuestream.events import events_yaml, list_events

    with user_errors():
        sys.stdout.write(events_yaml(list_events(existing_workspace(workspace))))


# -- charts -------------------------------------------------------------------------------------


def _print_chart(chart: XmrChart, fmt: Format, *, every: bool = False) -> None:
    import pandas as pd

    if fmt is Format.json:
        print_json({**chart.as_dict(), "points": records(chart.table)})
    elif fmt is Format.csv:
        emit(chart.table, fmt)
    else:
        periods = pd.DataFrame(
            [
                {
                    "period": p.number,
                    "from": "" if p.start_date is None else str(p.start_date.date()),
                    "values": p.n,
                    "lower": p.lower,
                    "centre": p.centre if p.has_limits else None,
                    "upper": p.upper,
                    "url": p.url,
                    "limits": "kept"
                    if p.inherited
                    else "provisional"
                    if p.provisional
                    else "fixed",
                }
                for p in chart.periods
            ]
        )
        emit(periods, fmt, title=chart.name)
        console.print(chart.explain(limit=None if every else 5), highlight=False)
        if not every and len(chart.ranked()) > 5:
            console.print(
                "'--all' lists every signal; '--format json' gives them with every value.",
                highlight=False,
            )


def _save(chart: XmrChart, out: Path | None, title: str | None = None) -> None:
    if out is None:
        return
    from valuestream.views.charts import save

    save(chart.chart(title=title), out)
    err_console.print(f"Chart written to {out}", highlight=False)


def _read_series(
    file: Path, column: str, date_column: str | None
) -> tuple[list[float], list[dt.datetime] | None, list[str]]:
    """A column of numbers (and optional dates) from a CSV file, every bad cell named by its row."""
    import duckdb
    import pandas as pd

    from valuestream.sources.spill import in_memory

    if not file.is_file():
        raise InputError("no such file", file=file)
    con = in_memory()
    try:
        path = str(file).replace("'", "''")
        try:
            df = con.execute(
                f"SELECT * FROM read_csv('{path}', all_varchar = true, header = true)"
            ).df()
        except duckdb.Error as exc:
            raise InputError(
                f"cannot read it as CSV: {str(exc).splitlines()[0]}", file=file
            ) from None
    finally:
        con.close()
    for name in (column, date_column):
        if name is not None and name not in df.columns:
            raise InputError(
                f"no column '{name}'; the columns are {', '.join(df.columns)}",
                file=file,
                column=name,
            )
    values = pd.to_numeric(df[column].str.strip(), errors="coerce")
    bad = values.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(
            f"expected a number, got '{df[column].iloc[row] or ''}'",
            file=file,
            row=row + 1,
            line=row + 2,
            column=column,
        )
    dates = None
    if date_column is not None:
        parsed = pd.to_datetime(df[date_column].str.strip(), errors="coerce")
        if parsed.isna().any():
            row = int(parsed.isna().to_numpy().nonzero()[0][0])
            raise InputError(
                f"expected a date, got '{df[date_column].iloc[row] or ''}'",
                file=file,
                row=row + 1,
                line=row + 2,
                column=date_column,
            )
        order = parsed.argsort(kind="stable")
        values, parsed = values.iloc[order], parsed.iloc[order]
        dates = list(parsed)
        labels = [str(d.date()) for d in parsed]
    else:
        labels = [str(i + 1) for i in range(len(values))]
    return [float(v) for v in values], dates, labels


@app.command("xmr")
def xmr_command(
    file: Annotated[
        Path, typer.Argument(help="A CSV file with a header row, one value per row in time order.")
    ],
    column: Annotated[
        str, typer.Option("--column", "-c", help="The column holding the values.")
    ] = "value",
    date_column: Annotated[
        str | None,
        typer.Option("--date-column", help="A column of dates (rows are put in date order)."),
    ] = None,
    baseline: Annotated[
        int, typer.Option(min=2, max=MAX_ROWS, help="Limits from the first N values of each period.")
    ] = 20,
    baseline_from: Annotated[
        str | None, typer.Option("--baseline-from", help="Limits from the values from this date...")
    ] = None,
    baseline_to: Annotated[
        str | None, typer.Option("--baseline-to", help="...to this date (inclusive).")
    ] = None,
    split: Annotated[
        list[str] | None,
        typer.Option("--split", help="Start a new period on this date (repeatable)."),
    ] = None,
    out: OutOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """An XmR chart of any series you bring: central line, limits, upper range limit and signals."""
    from valuestream.xmr import xmr

    with user_errors():
        values, dates, labels = _read_series(file, column, date_column)
        rng = None
        if baseline_from or baseline_to:
            if not (baseline_from and baseline_to):
                raise InputError("give both --baseline-from and --baseline-to")
            rng = (
                parse_date(baseline_from, "--baseline-from"),
                parse_date(baseline_to, "--baseline-to"),
            )
        splits = [parse_date(s, "--split") for s in split or []]
        chart = xmr(
            values,
            dates=dates,
            labels=labels,
            baseline=baseline,
            baseline_range=rng,
            splits=splits,
            name=column,
        )
        _print_chart(chart, fmt)
        _save(chart, out)


def _flow(
    workspace: Path, stream: Path | None, as_of: str | None, tz: str, filters: list[str] | None = None,
    engine: Engine = Engine.duckdb, spark_master: str | None = None, events: str | None = None,
) -> tuple[Flow, list]:  # type: ignore[type-arg]
    from valuestream.events import combined_events
    from valuestream.workspace import Workspace

    flow = analysis(workspace, stream, as_of, tz, filters, engine, spark_master, events)
    # On Spark with --events there may be no workspace: then the stream file's events alone.
    logged = existing_workspace(workspace) if events is None else Workspace(workspace)
    return flow, combined_events(logged, flow.stream)


PBC_SERIES = {
    "lead": "lead",
    "cycle": "cycle",
    "throughput": "throughput",
    "median-lead": "median_lead",
    "median-cycle": "median_cycle",
    "flow-efficiency": "flow_efficiency",
}


@app.command("pbc")
def pbc_command(
    series: Annotated[
        str,
        typer.Argument(
            help="lead, cycle, throughput, median-lead, median-cycle or flow-efficiency."
        ),
    ],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    baseline: Annotated[
        int, typer.Option(min=2, max=MAX_ROWS, help="Limits from the first N values of each period.")
    ] = 20,
    scatter: Annotated[
        Path | None,
        typer.Option(
            "--scatter",
            callback=output_file,
            help="Also draw the lead-time scatterplot of completed items here.",
        ),
    ] = None,
    basis: SeriesBasisOpt = SeriesBasis.auto,
    every: Annotated[
        bool, typer.Option("--all", help="List every signal, not only the ones that matter most.")
    ] = False,
    as_of: AsOfOpt = None,
    tz: TzOpt = "UTC",
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    events: EventsOpt = None,
    out: OutOpt = None,
    fmt: FormatOpt = Format.table,
    filters: FilterOpt = None,
) -> None:
    """A process behavior chart of the workspace's lead, cycle, throughput, median lead or flow efficiency."""
    from valuestream.xmr import completed_items, flow_xmr

    with user_errors():
        if series not in PBC_SERIES:
            raise InputError(f"unknown series '{series}': one of {', '.join(PBC_SERIES)}")
        flow, logged = _flow(workspace, stream, as_of, tz, filters, engine, spark_master, events)
        marks = [(e.date, e.title, e.new_period) for e in logged]
        chart = flow_xmr(
            flow, PBC_SERIES[series], splits=marks, baseline=baseline, basis=basis.value
        )
        _print_chart(chart, fmt, every=every)
        _save(chart, out, chart.name)
        if scatter is not None:
            from valuestream.views.charts import save
            from valuestream.views.xmr_charts import lead_time_scatter

            save(
                lead_time_scatter(
                    completed_items(flow), events=[(e.date, e.title) for e in logged]
                ),
                scatter,
            )
            err_console.print(f"Scatterplot written to {scatter}", highlight=False)


@app.command("check")
def check_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    fail_on_signal: Annotated[
        bool,
        typer.Option(
            "--fail-on-signal", help="Exit with code 1 when there is a new signal (for automation)."
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do not remember this check.")] = False,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="List every signal in the current periods, not only the few that matter most.",
        ),
    ] = False,
    basis: SeriesBasisOpt = SeriesBasis.auto,
    as_of: AsOfOpt = None,
    tz: TzOpt = "UTC",
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="Output: plain words (table) or JSON.")
    ] = Format.table,
    filters: FilterOpt = None,
) -> None:
    """The weekly check: new signals since the last check (or 'do not react'), limits, rates, oldest items."""
    from valuestream.check import SHOWN_SIGNALS, run_check
    from valuestream.workspace import Workspace

    with user_errors():
        report = run_check(
            Workspace(workspace),
            open_stream(stream),
            as_of=parse_as_of(as_of),
            timezone=tz,
            record=not dry_run and not filters,
            basis=basis.value,
            filters=filters,
        )
        if fmt is Format.table:
            console.print(report.explain(limit=None if every else SHOWN_SIGNALS), highlight=False)
        elif fmt is Format.json:
            print_json(report.summary())
        else:
            emit(report.table, fmt)
    if fail_on_signal and report.new_signals:
        raise typer.Exit(1)
