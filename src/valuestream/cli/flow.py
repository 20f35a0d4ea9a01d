"""Commands that read histories in and print flow metrics: import, items, metrics, steps, wip, cfd, rates."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from valuestream.cli._app import app
from valuestream.cli._common import (
    DEFAULT_WORKSPACE,
    MAX_DAYS,
    AsOfOpt,
    ByOpt,
    DaysOpt,
    Engine,
    EngineOpt,
    EventsOpt,
    FilterOpt,
    Format,
    FormatOpt,
    FromOpt,
    LimitOpt,
    SparkMasterOpt,
    StreamOpt,
    TimeRangeOpt,
    ToOpt,
    TzOpt,
    WorkspaceOpt,
    analysis,
    breakdown,
    console,
    emit,
    emit_mapping,
    err_console,
    open_stream,
    parse_date,
    parse_time_range,
    print_json,
    time_zone,
    user_errors,
)
from valuestream.errors import InputError

if TYPE_CHECKING:
    from valuestream.flow import Flow, Window


def window(flow: Flow, start: str | None, end: str | None, days: int | None) -> Window:
    chosen = flow.window(parse_date(start, "--from"), parse_date(end, "--to"), days=days)
    if chosen.days > MAX_DAYS:
        raise InputError(f"--from/--to: the window spans {chosen.days:,} days; at most {MAX_DAYS:,} can be counted day by day")
    return chosen


class _FileByDefault(TyperGroup):
    """``valuestream import FILE`` reads a file; ``valuestream import jira ...`` names a connector."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["file", *args]
        return super().parse_args(ctx, args)


import_app = typer.Typer(
    cls=_FileByDefault,
    no_args_is_help=True,
    help="Import item histories: a file (CSV, Parquet, JSON Lines, XES), or a connector (see below).",
)
app.add_typer(import_app, name="import")


INPUT_FORMATS = ("csv", "parquet", "jsonl", "xes")


def _input_format(given: str | None, old_name: str | None) -> str | None:
    """--input-format (or its old name --file-format), checked against the formats we read."""
    if given and old_name and given != old_name:
        raise InputError(f"--input-format {given} and --file-format {old_name} disagree; give --input-format only")
    value = given or old_name
    if value is not None and value.lower() not in INPUT_FORMATS:
        raise InputError(f"--input-format: expected one of {', '.join(INPUT_FORMATS)}, got '{value}'")
    return value.lower() if value else None


@import_app.command("file")
def import_file(
    file: Annotated[
        Path,
        typer.Argument(
            help="Event log: CSV/TSV, Parquet or JSON Lines (one row per transition), XES, or a pm4py, Disco or Celonis CSV "
            "export; plain or compressed (.gz, .bz2, .xz, .zst)."
        ),
    ],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    source: Annotated[str, typer.Option(help="Name of the source; re-importing it replaces the histories of the items it contains.")] = "log",
    input_format: Annotated[
        str | None,
        typer.Option("--input-format", help="csv, parquet, jsonl or xes \\[default: from the file name and contents]."),
    ] = None,
    file_format: Annotated[str | None, typer.Option("--file-format", hidden=True, help="Old name of --input-format.")] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="Field separator of a CSV: ',', ';', '|' or 'tab' \\[default: judged from the header].")
    ] = None,
    item: Annotated[str | None, typer.Option(help="Column holding the item id \\[default: item].")] = None,
    state: Annotated[
        str | None,
        typer.Option(
            help="Column holding the state entered \\[default: state]; for an XES log or a process-mining export, the event "
            "attribute that is the state (lifecycle:transition), several joined by + (concept:name+lifecycle:transition), "
            "or a classifier of the log by name \\[default: the activity]."
        ),
    ] = None,
    time: Annotated[str | None, typer.Option(help="Column holding when it was entered \\[default: entered_at].")] = None,
    title: Annotated[str | None, typer.Option(help="Column holding the item title \\[default: title].")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Column holding the item type \\[default: type].")] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", callback=time_zone, help="Time zone of times without an offset \\[default: UTC].")
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Text encoding of a CSV or JSON Lines file: latin-1, cp1252, utf-16... \\[default: UTF-8; UTF-16 by its byte-order mark]."),
    ] = None,
    time_range: TimeRangeOpt = None,
    time_format: Annotated[
        str | None,
        typer.Option(help="auto (ISO 8601 or epoch seconds), iso, epoch, epoch_ms, or a strptime format like '%d/%m/%Y %H:%M'."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Import an event log into the workspace: all of it, or nothing if any row is wrong."""
    with user_errors():
        from valuestream.sources.encoding import check_encoding
        from valuestream.workspace import Workspace

        settings = open_stream(stream)
        defaults = settings.source if settings else None
        columns: dict[str, str] = {str(k): v for k, v in defaults.columns.items()} if defaults else {}
        for ours, given in (("item", item), ("state", state), ("entered_at", time), ("title", title), ("type", type_)):
            if given:
                columns[ours] = given
        options: dict[str, Any] = {
            "source": source,
            "format": _input_format(input_format, file_format),
            "delimiter": delimiter,
            "columns": columns,
            "timezone": tz or (defaults.timezone if defaults else "UTC"),
            "time_format": time_format or (defaults.time_format if defaults else "auto"),
            "encoding": check_encoding(encoding),
            "time_range": parse_time_range(time_range),
        }
        ws = Workspace(workspace)
        show = not quiet and sys.stderr.isatty()
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
            console=err_console, transient=True, disable=not show,
        ) as progress:
            task = progress.add_task(f"Importing {file.name}", total=None)
            result = ws.import_file(
                file, **options, on_stage=lambda stage: progress.update(task, description=f"{file.name}: {stage}")
            )
        if quiet:
            return
        if fmt is Format.json:
            print_json(dict(result))
            return
        console.print(
            f"Imported [bold]{result['rows']:,}[/] rows for [bold]{result['items']:,}[/] items from {escape(str(file))} "
            f"into {escape(str(ws.path))}: {result['added']:,} transitions added, {result['removed']:,} removed"
            + (f", {result['duplicates']:,} duplicate rows ignored" if result["duplicates"] else "")
            + ".",
            highlight=False,
            markup=True,
        )


@app.command()
def items(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    as_of: AsOfOpt = None,
    tz: TzOpt = "UTC",
    unfinished: Annotated[bool, typer.Option("--unfinished", help="Only items still in progress, oldest first.")] = False,
    limit: LimitOpt = 50,
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    events: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    filters: FilterOpt = None,
) -> None:
    """One row per item: lead and cycle time, touch, wait, flow efficiency, rework, age."""
    with user_errors():
        df = analysis(workspace, stream, as_of, tz, filters, engine, spark_master, events).items()
        if unfinished:
            df = df[df["age_days"].notna()].sort_values("age_days", ascending=False)
        if fmt is Format.table:
            # The terminal gets the columns people read first; CSV and JSON get them all.
            short = ["item", "entered", "finished", "lead_time_days", "cycle_time_days", "touch_days",
                     "wait_days", "flow_efficiency", "rework"]
            if unfinished:
                short = ["item", "entered", "age_days", "touch_days", "wait_days", "rework", "title"]
            shown = df[short].rename(
                columns=lambda c: c.replace("_time_days", "").replace("_days", "").replace("flow_efficiency", "efficiency")
            )
            for col in ("entered", "finished"):
                if col in shown:
                    shown[col] = shown[col].dt.strftime("%Y-%m-%d")
            emit(shown, fmt, title="Items (days)", limit=limit, compact=True)
            return
        emit(df, fmt, title="Items", limit=limit)


@app.command()
def metrics(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    days: DaysOpt = None,
    as_of: AsOfOpt = None,
    tz: TzOpt = "UTC",
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    events: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    filters: FilterOpt = None,
    by: ByOpt = None,
) -> None:
    """The stream's flow measures over a window: lead and cycle time, flow efficiency, rates, WIP."""
    with user_errors():
        flow = analysis(workspace, stream, as_of, tz, filters, engine, spark_master, events)
        w = window(flow, start, end, days)
        if by is None:
            emit_mapping(flow.summary(w), fmt, title="Flow measures")
            return

        def figures(group: Flow) -> dict[str, Any]:
            s = group.summary(w)
            return {k: s[k] for k in BY_MEASURES}

        emit(breakdown(flow, by, figures), fmt, title=f"Flow measures by {by} ({w.start} to {w.end})")


# The measures a --by breakdown shows per group (the full set is one `metrics` away).
BY_MEASURES = ("finished", "lead_p50", "lead_p85", "cycle_p85", "flow_efficiency", "throughput_per_week",
               "wip_now", "discarded")


@app.command()
def steps(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    by: Annotated[str, typer.Option(help="Group by step (from the stream file) or raw state.")] = "step",
    as_of: AsOfOpt = None,
    tz: TzOpt = "UTC",
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    events: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    filters: FilterOpt = None,
) -> None:
    """Time in each step or state: items, in progress, median and 85th percentile days, mean touch
    and wait, and the step's share of all wait (every column, visits and totals too, with --format csv or json)."""
    with user_errors():
        flow = analysis(workspace, stream, as_of, tz, filters, engine, spark_master, events)
        df = flow.steps(by)
        if fmt is Format.table:
            # The terminal gets the columns people read first, within 80 characters for step
            # names up to 24 (all 21 are unreadable at a terminal's width); CSV and JSON get them
            # all, the role too. Blocked time shows where there is any.
            shown = {df.columns[0]: df.columns[0], "items": "items",
                     "in_progress": "in\nprogress", "p50_days": "median", "p85_days": "p85",
                     "touch_mean_days": "touch", "wait_mean_days": "wait"}
            if (df["blocked_mean_days"].fillna(0) > 0).any():
                shown["blocked_mean_days"] = "blocked"
            shown["wait_share"] = "wait\nshare"
            title = f"Time per {by} (days per item; touch and wait are means)"
            emit(df[list(shown)].rename(columns=shown), fmt, title=title, compact=True)
            if "blocked_mean_days" in shown:
                console.print("[dim]blocked: flagged or in a blocked state, part of the wait[/]", highlight=False, markup=True)
        else:
            emit(df, fmt, title=f"Time per {by}")
        unmapped = flow.unmapped_states()
        if unmapped and fmt is Format.table:
            console.print(
                f"[yellow]Not in the workflow (counted as wait):[/] {escape(', '.join(unmapped))}", highlight=False, markup=True
            )


@app.command()
def wip(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    days: DaysOpt = None,
    by_step: Annotated[bool, typer.Option("--by-step", help="Per step: the cumulative flow diagram's data.")] = False,
    as_of: AsOfOpt = None,
    tz: TzOpt = "UTC",
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    events: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    filters: FilterOpt = None,
) -> None:
    """Work in progress at the end of each day, in total or per step."""
    with user_errors():
        flow = analysis(workspace, stream, as_of, tz, filters, engine, spark_master, events)
        w = window(flow, start, end, days)
        emit(flow.cfd(w) if by_step else flow.wip(w), fmt, title="WIP at the end of each day", limit=60)


@app.command()
def rates(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    days: DaysOpt = None,
    period: Annotated[str, typer.Option(help="day or week (ISO weeks, starting Monday).")] = "week",
    as_of: AsOfOpt = None,
    tz: TzOpt = "UTC",
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    events: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    filters: FilterOpt = None,
) -> None:
    """Arrivals (items entering the stream) against throughput (items finishing) per day or week."""
    with user_errors():
        flow = analysis(workspace, stream, as_of, tz, filters, engine, spark_master, events)
        emit(flow.rates(window(flow, start, end, days), period), fmt, title=f"Arrivals and throughput per {period}", limit=60)
