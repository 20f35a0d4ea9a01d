"""Choose one experiment: ``simulate``, ``experiments``, ``cost`` and ``cd3``."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from valuestream.changes import SYNTAX
from valuestream.cli._app import app
from valuestream.cli._common import (
    DEFAULT_WORKSPACE,
    MAX_DAYS,
    MAX_ROWS,
    MAX_SEED,
    Format,
    FormatOpt,
    StreamOpt,
    WorkspaceOpt,
    console,
    emit,
    err_console,
    open_stream,
    print_json,
    records,
    user_errors,
)
from valuestream.errors import InputError

if TYPE_CHECKING:
    from valuestream.flow import Flow
    from valuestream.model import Stream
    from valuestream.simulate import Network, SimResult


class Source(enum.StrEnum):
    auto = "auto"
    map = "map"
    data = "data"


SourceOpt = Annotated[
    Source,
    typer.Option(
        "--source",
        help="Build the model from the map's estimates, from imported data, or auto: data when a workspace exists and --arrivals is not given.",
    ),
]
ArrivalsOpt = Annotated[
    float | None,
    typer.Option(
        "--arrivals",
        min=0.001,
        max=100_000.0,
        help="Items entering the stream per week (needed with the map; data measures it).",
    ),
]
CapacityOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--capacity",
        help="People at a step, STEP=N (repeatable); overrides the stream file and the data's estimate.",
    ),
]
ItemsOpt = Annotated[
    int, typer.Option("--items", min=100, max=MAX_ROWS, help="Items simulated per replication.")
]
RepsOpt = Annotated[
    int,
    typer.Option(
        "--replications",
        "-r",
        min=2,
        max=100,
        help="Seeded replications (for 95% confidence intervals).",
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option(
        "--seed", min=0, max=MAX_SEED - 100, help="Seed of the first replication (replication k uses seed + k)."
    ),
]
DaysOpt = Annotated[
    int | None,
    typer.Option(
        "--days", min=1, max=MAX_DAYS, help="Measure the data over the last N days: the process as it runs now."
    ),
]
ReplayOpt = Annotated[
    bool,
    typer.Option(
        "--replay", help="Replay the actual arrivals instead of a Poisson stream at their rate."
    ),
]

_LONG_RUN = 200_000


def _capacities(texts: list[str] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for text in texts or []:
        name, sep, value = text.rpartition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise InputError(f"--capacity: expected STEP=N, like 'Design=3', not '{text}'")
        out[name.strip()] = int(value)
    return out


def _network(
    workspace: Path,
    stream_path: Path | None,
    source: Source,
    arrivals: float | None,
    capacity: list[str] | None,
    days: int | None,
    replay: bool,
) -> tuple[Network, Stream, Flow | None]:
    from valuestream.flow import Flow
    from valuestream.simulate import from_flow, from_stream
    from valuestream.workspace import Workspace

    stream = open_stream(stream_path, required=True)
    assert stream is not None
    caps = _capacities(capacity)
    ws = Workspace(workspace)
    has_data = (
        ws.path.exists() and stream.workflow is not None and any(s.states for s in stream.steps)
    )
    use_data = source is Source.data or (source is Source.auto and has_data and arrivals is None)
    if use_data:
        if not ws.path.exists():
            raise InputError(
                f"no workspace at {ws.path}: import item histories first, or use --source map --arrivals N"
            )
        flow = Flow.of(ws, stream)
        window = flow.window(days=days) if days else None
        return from_flow(flow, stream, capacity=caps, window=window, replay=replay), stream, flow
    if arrivals is None:
        raise InputError(
            "simulating the map needs --arrivals: how many items enter the stream per week"
        )
    return from_stream(stream, arrivals_per_week=arrivals, capacity=caps), stream, None


def _cod(stream: Stream, flow: Flow | None) -> tuple[float | None, str]:
    from valuestream.economics import cod_per_item

    if stream.cost_of_delay is None:
        return None, "EUR"
    types = flow.items()["type"] if flow is not None else None
    return cod_per_item(stream.cost_of_delay, types), stream.cost_of_delay.currency


@contextmanager
def _progress(total: int, items: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for long runs, when stderr is a terminal; yields ``tick(done)``."""
    show = sys.stderr.isatty() and total * items >= _LONG_RUN
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not show,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def _ci(mean: float, low: float, high: float, digits: int | None = None) -> str:
    """A mean with the half-width of its (symmetric, t-based) 95% interval: '31.2 ± 0.5'."""
    if digits is None:
        digits = 1 if abs(mean) >= 10 else 2
    return f"{mean:,.{digits}f} ± {(high - low) / 2:,.{digits}f}"


def _print_notes(net: Network) -> None:
    for note in net.notes:
        console.print(f"[dim]note: {escape(note)}[/]", highlight=False, markup=True)


@app.command("simulate")
def simulate_cmd(
    change: Annotated[
        list[str] | None,
        typer.Option(
            "--change",
            "-c",
            help=f"A policy change, TARGET: CHANGE (repeatable, applied together). Forms: {SYNTAX}.",
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    source: SourceOpt = Source.auto,
    arrivals: ArrivalsOpt = None,
    capacity: CapacityOpt = None,
    items: ItemsOpt = 20_000,
    replications: RepsOpt = 5,
    seed: SeedOpt = 1,
    days: DaysOpt = 90,
    replay: ReplayOpt = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Simulate the stream as it is, and with policy changes: before vs after, and what it is worth.

    Examples: --change "release: daily", --change "Legal language: wait -50%",
    --change "Design: +1 capacity for 1h/day" (a pairing hour), --change "wip: 12".
    Figures carry 95% confidence intervals over seeded replications; before and after share seeds.
    """
    import pandas as pd

    from valuestream.simulate import compare, parse_changes, simulate

    with user_errors():
        changes = parse_changes(change or [])
        net, st, flow = _network(workspace, stream, source, arrivals, capacity, days, replay)
        cod, currency = _cod(st, flow)
        runs = replications * (2 if changes else 1)
        with _progress(runs, items, "Simulating") as tick:
            done = [0]

            def step(_k: int, _n: int) -> None:
                done[0] += 1
                tick(done[0])

            if not changes:
                result = simulate(
                    net, items=items, replications=replications, seed=seed, progress=step
                )
                _emit_result(result, fmt)
                if fmt is Format.table:
                    _print_notes(net)
                return
            cmp = compare(
                net,
                changes,
                cod_per_week=cod,
                currency=currency,
                items=items,
                replications=replications,
                seed=seed,
                progress=step,
            )
        if fmt is Format.json:
            value = cmp.value_per_week
            print_json(
                {
                    "changes": [c.text for c in changes],
                    "measures": records(cmp.table),
                    "days_saved": dict(zip(("mean", "low", "high"), cmp.days_saved, strict=True)),
                    "value_per_week": dict(zip(("mean", "low", "high"), value, strict=True))
                    if value
                    else None,
                    "currency": currency,
                    "cost_of_delay_per_item_week": cod,
                    "steps_before": records(cmp.before.steps),
                    "steps_after": records(cmp.after.steps),
                    "notes": list(net.notes),
                    "explanation": cmp.explain(),
                }
            )
            return
        if fmt is Format.csv:
            emit(cmp.table, fmt)
            return
        table = pd.DataFrame(
            {
                "measure": cmp.table["measure"],
                "before": [
                    _ci(*r) for r in cmp.table[["before", "before_low", "before_high"]].to_numpy()
                ],
                "after": [
                    _ci(*r) for r in cmp.table[["after", "after_low", "after_high"]].to_numpy()
                ],
                "change": [
                    _ci(*r) for r in cmp.table[["change", "change_low", "change_high"]].to_numpy()
                ],
            }
        )
        emit(
            table,
            fmt,
            title=f"{net.name}: before vs after {'; '.join(c.text for c in changes)} (mean ± 95% CI)",
        )
        console.print(cmp.explain(), highlight=False)
        if cod is None:
            console.print(
                "[dim]Add cost_of_delay to the stream file to see what the change is worth per week.[/]", markup=True
            )
        _print_notes(net)


def _emit_result(result: SimResult, fmt: Format) -> None:
    import pandas as pd

    if fmt is Format.json:
        print_json(
            {
                "measures": records(result.table),
                "steps": records(result.steps),
                "explanation": result.explain(),
                "notes": list(result.network.notes),
            }
        )
        return
    if fmt is Format.csv:
        emit(result.table, fmt)
        return
    table = pd.DataFrame(
        {
            "measure": result.table["label"],
            "mean ± 95% CI": [_ci(*r) for r in result.table[["mean", "low", "high"]].to_numpy()],
        }
    )
    emit(table, fmt, title=f"Simulated {result.network.name}")
    steps = result.steps
    emit(
        pd.DataFrame(
            {
                "step": steps["step"],
                "waiting days/item": [
                    _ci(*r)
                    for r in steps[
                        ["waiting_days", "waiting_days_low", "waiting_days_high"]
                    ].to_numpy()
                ],
                "touch days/item": steps["touch_days"],
                "utilisation": ["" if pd.isna(u) else f"{u:.0%}" for u in steps["utilisation"]],
            }
        ),
        fmt,
        title="Per step",
    )
    console.print(result.explain(), highlight=False)


@app.command("experiments")
def experiments_cmd(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    source: SourceOpt = Source.auto,
    arrivals: ArrivalsOpt = None,
    capacity: CapacityOpt = None,
    items: ItemsOpt = 20_000,
    replications: RepsOpt = 5,
    seed: SeedOpt = 1,
    days: DaysOpt = 90,
    fmt: FormatOpt = Format.table,
) -> None:
    """Rank one candidate change per step (plus the release cadence) by the lead time and money it saves.

    A pure wait is halved, a capacity queue gets a pairing hour a day, a touch-only step loses 20%
    of its touch time, and release gates release daily. Says which candidate is the constraint's.
    """
    import pandas as pd

    from valuestream.simulate import experiments

    with user_errors():
        net, st, flow = _network(workspace, stream, source, arrivals, capacity, days, False)
        cod, currency = _cod(st, flow)
        from valuestream.simulate import candidates

        n = len(candidates(net))
        named = None
        if st is not None and (st.steps or flow is not None):
            # The constraint as the map and the data name it, one definition for every command.
            from valuestream.constraint import find_constraint

            named = find_constraint(st, flow).constraint
        with _progress(n, items * replications, "Trying changes") as tick:
            result = experiments(
                net,
                constraint=named,
                cod_per_week=cod,
                currency=currency,
                items=items,
                replications=replications,
                seed=seed,
                progress=lambda k, _total: tick(k),
            )
        if fmt is Format.json:
            print_json(
                {
                    "constraint": result.constraint,
                    "currency": currency,
                    "candidates": records(result.table),
                    "explanation": result.explain(),
                }
            )
            return
        if fmt is Format.csv:
            emit(result.table, fmt)
            return
        t = result.table
        shown = pd.DataFrame(
            {
                "rank": t["rank"],
                "change": [
                    f"{c} *" if a else c
                    for c, a in zip(t["change"], t["at_constraint"], strict=True)
                ],
                "days saved (95% CI)": [
                    r[3] if r[3] else _ci(r[0], r[1], r[2], digits=1)
                    for r in t[
                        ["days_saved", "days_saved_low", "days_saved_high", "note"]
                    ].to_numpy()
                ],
                f"value/week ({currency})": [
                    "" if pd.isna(v) else f"{v:,.0f}" for v in t["value_per_week"]
                ],
            }
        )
        emit(
            shown,
            fmt,
            title=f"Candidate changes ({'*'} = at the constraint, '{result.constraint}')",
        )
        console.print(result.explain(), highlight=False)
        _print_notes(net)


@app.command("cost")
def cost_cmd(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    days: DaysOpt = 90,
    arrivals: ArrivalsOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Delay cost of each queue: weeks waited there x cost of delay, over the items finished in the window.

    Without imported data, prices the map's wait estimates for --arrivals items a week.
    """
    import pandas as pd

    from valuestream.economics import cod_per_item, map_queue_costs, queue_costs
    from valuestream.flow import Flow
    from valuestream.workspace import Workspace

    with user_errors():
        st = open_stream(stream, required=True)
        assert st is not None
        if st.cost_of_delay is None:
            raise InputError(
                "the stream file has no cost_of_delay: add per_week (or by_type) and a currency"
            )
        ws = Workspace(workspace)
        if ws.path.exists() and st.workflow is not None and arrivals is None:
            flow = Flow.of(ws, st)
            w = flow.window(days=days) if days else flow.window()
            items = flow.items()
            done = items[
                items["finished"].notna()
                & (items["finished"].dt.date >= w.start)
                & (items["finished"].dt.date <= w.end)
            ]
            # per step: a step's wait is its queue, blocked time and flagged time in its work
            times = flow.time_in(by="step")
            result = queue_costs(
                times[times["item"].isin(done["item"])], done, st.cost_of_delay, weeks=w.days / 7
            )
        else:
            if arrivals is None:
                raise InputError(
                    "no imported data: give --arrivals (items per week) to price the map's waits"
                )
            waits = pd.DataFrame(
                {
                    "queue": [s.name for s in st.steps],
                    "mean_wait_days": [
                        (s.wait_days.expected if s.wait_days else 0.0)
                        + (s.batch_every_days / 2 if s.batch_every_days else 0.0)
                        for s in st.steps
                    ],
                }
            )
            result = map_queue_costs(
                waits, cod_per_item(st.cost_of_delay), arrivals, st.cost_of_delay.currency
            )
        if fmt is Format.json:
            print_json(
                {
                    "currency": result.currency,
                    "weeks": result.weeks,
                    "queues": records(result.table),
                    "explanation": result.explain(),
                }
            )
            return
        emit(result.table, fmt, title=f"Delay cost per queue ({result.currency})")
        if fmt is Format.table:
            console.print(result.explain(), highlight=False)


@app.command("cd3")
def cd3_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV of candidate items: item, cost_of_delay (per week) or type, duration_weeks or duration_days."
        ),
    ],
    stream: StreamOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Rank candidate items by CD3: cost of delay per week divided by duration (weeks)."""
    import pandas as pd

    from valuestream.economics import cd3 as rank_cd3

    with user_errors():
        try:
            df = pd.read_csv(file)
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the candidates: {exc}", file=file) from None
        st = open_stream(stream)
        try:
            result = rank_cd3(df, st.cost_of_delay if st else None)
        except InputError as exc:
            raise InputError(exc.message, file=file, row=exc.row, column=exc.column) from None
        emit(result.table, fmt, title=f"CD3 ({result.currency} per week / weeks)")
        if fmt is Format.table:
            console.print(result.explain(), highlight=False)
