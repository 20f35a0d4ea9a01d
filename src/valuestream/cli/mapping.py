"""Commands for the map: init, map (figures, picture, versions), discover, constraint."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from valuestream.cli._app import app
from valuestream.cli._common import (
    DEFAULT_WORKSPACE,
    MAX_ID,
    Engine,
    EngineOpt,
    EventsOpt,
    FilterOpt,
    Format,
    FormatOpt,
    SparkMasterOpt,
    StreamOpt,
    WorkspaceOpt,
    analysis,
    console,
    emit,
    emit_mapping,
    open_stream,
    output_file,
    print_json,
    records,
    user_errors,
)
from valuestream.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from valuestream.flow import Flow
    from valuestream.model import Stream

FactorOpt = Annotated[
    float,
    typer.Option(
        "--factor",
        min=1.0,
        max=1000.0,
        help="Flag steps whose measured median and estimate differ by more than this factor.",
    ),
]


def _flow(workspace: Path, stream: Stream | None, filters: list[str] | None = None) -> Flow | None:
    """The data's flow under the stream, or None when no histories were imported (a map alone)."""
    from valuestream.flow import Flow
    from valuestream.workspace import Workspace

    ws = Workspace(workspace)
    if not ws.path.exists() or ws.counts()["transitions"] == 0:
        return None
    return Flow.of(ws, stream, filters=filters)


def _grouped(workspace: Path, stream: Stream | None, flow: Flow | None, fmt: Format | None) -> Flow | None:
    """The histories with the long tail of a log of very many states grouped, as the map draws
    them (ordering 200,000 states one by one takes hours); says so above a table."""
    if flow is None:
        return None
    from valuestream.views.long_tail import drawable_flow
    from valuestream.workspace import Workspace

    grouped, note = drawable_flow(Workspace(workspace), stream, flow)
    if note and fmt is Format.table:
        console.print(note, highlight=False)
    return grouped


def _starter() -> str:
    return (
        resources.files("valuestream").joinpath("samples/starter.yaml").read_text(encoding="utf-8")
    )


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the stream file.")] = Path(
        "stream.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    from_jira_board: Annotated[
        Path | None,
        typer.Option(
            "--from-jira-board",
            help="A saved Jira board configuration (/rest/agile/1.0/board/ID/configuration): its columns become the steps.",
        ),
    ] = None,
    statuses: Annotated[
        Path | None,
        typer.Option(
            "--statuses",
            help="With --from-jira-board: the saved /rest/api/2/status response \\[default: found beside the board file].",
        ),
    ] = None,
) -> None:
    """Write a commented starter stream file: a typical discovery-to-adoption stream, or a Jira board's columns."""
    with user_errors():
        if path.exists() and not force:
            raise InputError(f"{path} already exists; pass --force to overwrite it")
        if statuses is not None and from_jira_board is None:
            raise InputError("--statuses goes with --from-jira-board FILE")
        if from_jira_board is not None:
            from valuestream.sources.jira_board import read_board, starter_stream

            text = starter_stream(read_board(from_jira_board, statuses))
            what = f"the columns of {from_jira_board}"
        else:
            text, what = _starter(), None
        path.write_text(text, encoding="utf-8")
        console.print(
            escape(f"Wrote {path}")
            + (
                escape(f" from {what}: check which steps are work and which are queues")
                if what
                else ": edit the steps with the room"
            )
            + ", then run [bold]valuestream map[/].",
            highlight=False,
            markup=True,
        )


map_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="The map's figures and picture; with imported histories, estimates beside measured times.",
)
app.add_typer(map_app, name="map")


@map_app.callback()
def map_(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", callback=output_file, help="Draw the map to this file: .svg or .png."
        ),
    ] = None,
    save: Annotated[
        bool, typer.Option("--save", help="Keep this map as a new version in the workspace.")
    ] = False,
    factor: FactorOpt = 2.0,
    fmt: FormatOpt = Format.table,
) -> None:
    """Expected touch, wait and lead time per step and in total; measured beside them when data exists."""
    if ctx.invoked_subcommand is not None:
        return
    with user_errors():
        from valuestream.constraint import find_constraint
        from valuestream.maps import save_map
        from valuestream.streammap import compare, complete_and_accurate, map_figures, map_to_draw
        from valuestream.views.long_tail import drawable_flow
        from valuestream.workspace import Workspace

        file_stream = open_stream(stream)
        flow = _flow(workspace, file_stream)
        if file_stream is None and flow is None:
            raise InputError(
                "no stream file and no imported histories: create the map with 'valuestream init' "
                "or import histories ('valuestream import FILE') to see the map the data draws"
            )
        tail_note = ""
        if flow is not None:
            # Thousands of states would make an unreadable picture, slowly: group the long tail.
            flow, tail_note = drawable_flow(Workspace(workspace), file_stream, flow)
        # Without steps in a stream file (or without one), the map is the one the data draws.
        the_stream, origin = map_to_draw(file_stream, flow) if flow is not None else (file_stream, "")
        assert the_stream is not None
        if tail_note and fmt is Format.table:
            console.print(tail_note, highlight=False)
        if origin and fmt is Format.table:
            console.print(origin, highlight=False)
        figures = map_figures(the_stream)
        comparison = compare(the_stream, flow, factor=factor) if flow is not None else None
        report = find_constraint(the_stream, flow, comparison=comparison)
        quality = complete_and_accurate(the_stream, flow)
        saved = None
        if save:
            text = (
                (stream or Path("stream.yaml")).read_text(encoding="utf-8")
                if file_stream is not None
                else the_stream.to_yaml()
            )
            saved = save_map(Workspace(workspace), text, name=the_stream.name)
        if out is not None:
            from valuestream.views.map_svg import draw_map

            draw_map(
                the_stream,
                comparison=comparison,
                constraint=report,
                discovered=bool(origin),
                subtitle=tail_note or None,
            ).save(out)
        if fmt is Format.json:
            data: dict[str, Any] = figures.to_dict()
            data["steps"] = records(figures.table)
            data["comparison"] = (
                None
                if comparison is None
                else {**comparison.to_dict(), "steps": records(comparison.table)}
            )
            data["constraint"] = report.constraint
            data["complete_accurate"] = {**quality.to_dict(), "steps": records(quality.table)}
            if saved is not None:
                data["saved_version"] = saved.version
            print_json(data)
            return
        if fmt is Format.csv:
            emit(comparison.table if comparison is not None else figures.table, fmt)
            return
        emit(
            _readable(figures.table),
            fmt,
            title=f"{the_stream.name}: expected days per item, from the map",
        )
        t = figures.totals
        emit_mapping(
            {
                "lead time (days)": t["lead"],
                "lead time low-high": f"{t['lead_low']:.1f}-{t['lead_high']:.1f}",
                "touch (days)": t["touch"],
                "wait (days)": t["wait"],
                "flow efficiency": f"{t['flow_efficiency']:.0%}",
            },
            fmt,
            title="Totals",
        )
        emit(_readable_quality(quality.table), fmt, title="%C&A: share the next step accepts as it comes")
        console.print(quality.explain(), highlight=False)
        if comparison is not None:
            emit(
                _readable_comparison(comparison.table),
                fmt,
                title=f"Map meets data ({comparison.items} items)",
            )
            console.print(comparison.explain(), highlight=False)
        console.print(figures.explain(), highlight=False)
        if report.constraint:
            console.print(
                f"[bold red]Constraint:[/] {escape(report.constraint)} (see 'valuestream constraint')",
                highlight=False,
                markup=True,
            )
        if saved is not None:
            console.print(
                f"Saved as map version {saved.version}."
                if saved.new
                else f"Unchanged since map version {saved.version}; nothing saved.",
                highlight=False,
            )
        if out is not None:
            console.print(f"Drew the map to {out}.", highlight=False)


def _readable(df: pd.DataFrame) -> pd.DataFrame:
    out = df[["step", "visits", "touch", "wait", "lead", "wait_share"]].copy()
    out["wait range"] = [
        f"{lo:.1f}-{hi:.1f}" if hi > lo else ""
        for lo, hi in zip(df["wait_low"], df["wait_high"], strict=True)
    ]
    out["wait_share"] = [f"{v:.0%}" for v in df["wait_share"]]
    out["missing"] = df["missing"]
    return out


def _readable_quality(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    def pct(v: object) -> str:
        return "" if v is None or pd.isna(v) else f"{float(v):.0%}"  # type: ignore[arg-type]

    return pd.DataFrame(
        {
            "step": df["step"],
            "judged by": df["judged_by"].fillna("(the customer)"),
            "%C&A estimated": [pct(v) for v in df["estimated"]],
            "%C&A measured": [pct(v) for v in df["measured"]],
        }
    )


def _readable_comparison(df: pd.DataFrame) -> pd.DataFrame:
    cols = [
        "step",
        "basis",
        "items",
        "est_touch",
        "touch_p50",
        "touch_p85",
        "est_wait",
        "wait_p50",
        "wait_p85",
        "flag",
        "note",
    ]
    return df[cols]


@map_app.command("versions")
def map_versions(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE, fmt: FormatOpt = Format.table
) -> None:
    """Every saved version of the map, oldest first."""
    with user_errors():
        from valuestream.maps import map_versions as versions
        from valuestream.workspace import Workspace

        emit(versions(Workspace(workspace)), fmt, title="Saved maps")


@map_app.command("show")
def map_show(
    version: Annotated[
        int | None, typer.Argument(min=1, max=MAX_ID, help="Version number [default: the latest].")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Print one saved version of the map as its stream file."""
    with user_errors():
        from valuestream.maps import load_map
        from valuestream.workspace import Workspace

        typer.echo(load_map(Workspace(workspace), version).content, nl=False)


@app.command()
def discover(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    as_yaml: Annotated[
        bool, typer.Option("--yaml", help="Print a draft stream file of what the data shows.")
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """The map as the data shows it: steps in their usual order and the rework paths taken."""
    with user_errors():
        from valuestream.streammap import discover as discover_map

        the_stream = open_stream(stream)
        flow = _flow(workspace, the_stream)
        if flow is None:
            raise InputError(
                f"no item histories in {workspace}: import an event log first ('valuestream import FILE')"
            )
        found = discover_map(_grouped(workspace, the_stream, flow, None if as_yaml else fmt))
        if as_yaml:
            typer.echo(found.to_stream().to_yaml(), nl=False)
            return
        if fmt is Format.json:
            print_json(
                {
                    "items": found.items,
                    "steps": records(found.steps),
                    "rework": records(found.rework),
                }
            )
            return
        steps = found.steps.assign(states=[", ".join(s) for s in found.steps["states"]])
        emit(steps, fmt, title="Steps in their usual order")
        if fmt is Format.table:
            emit(found.rework, fmt, title="Rework paths taken")
            console.print(found.explain(), highlight=False)


@app.command()
def constraint(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    events: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    filters: FilterOpt = None,
) -> None:
    """Name the constraint: the longest queue, starved downstream steps, growing queues."""
    with user_errors():
        from valuestream.constraint import find_constraint

        the_stream = open_stream(stream)
        if engine is Engine.spark:
            flow = analysis(workspace, stream, None, "UTC", filters, engine, spark_master, events)
        else:
            flow = _grouped(workspace, the_stream, _flow(workspace, the_stream, filters), fmt)
        if the_stream is None and flow is None:
            raise InputError(
                "nothing to look at: write a stream file ('valuestream init') or import item histories"
            )
        report = find_constraint(the_stream, flow)
        if fmt is Format.json:
            data = report.to_dict()
            data["ranking"] = records(report.table)
            data["explain"] = report.explain()
            print_json(data)
            return
        if fmt is Format.csv:
            emit(report.table, fmt)
            return
        cols = ["rank", "step", "basis", "wait_per_item"]
        if report.with_data:
            cols += ["total_wait", "starve_share", "arrivals", "departures"]
        emit(report.table[cols], fmt, title="Where is the constraint?")
        # Reasons are sentences: printed under the table, where they can wrap.
        for row in report.table.itertuples():
            if row.evidence:
                console.print(f"{row.rank}. [bold]{escape(row.step)}[/]: {escape(row.reasons)}.", highlight=False, markup=True)
        console.print(report.explain(), highlight=False)
