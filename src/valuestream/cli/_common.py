"""What every command shares: the workspace and stream options, output formats, error handling."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import json
import math
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from valuestream.errors import InputError, ValuestreamError, os_error

# Every command module imports this one, and --help must answer at once: the engine, pandas and the
# analyses load inside the functions that use them.
if TYPE_CHECKING:
    import pandas as pd

    from valuestream.flow import Flow
    from valuestream.model import Stream
    from valuestream.sources.checks import TimeRange
    from valuestream.workspace import Workspace

# User text is text: names of steps, states, items and files print as they are (a state named
# "[/]" or "[bold]" is not Rich markup), in tables, explanations and notes alike. A line that
# styles words of its own says markup=True and escapes every value in it.
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)

F = TypeVar("F", bound=Callable[..., Any])


class Format(enum.StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


WorkspaceOpt = Annotated[
    Path,
    typer.Option("--workspace", "-w", envvar="VALUESTREAM_WORKSPACE", help="Workspace file (DuckDB).", show_default=True),
]
StreamOpt = Annotated[
    Path | None,
    typer.Option("--stream", "-s", envvar="VALUESTREAM_STREAM", help="Stream file \\[default: ./stream.yaml if present]."),
]
def output_file(value: Path | None) -> Path | None:
    """Check an output path before any work is done: its folder must exist, and it is no folder."""
    if value is None:
        return None
    if value.is_dir():
        raise typer.BadParameter(f"{value} is a folder; name the file to write")
    if not value.parent.is_dir():
        raise typer.BadParameter(f"the folder {value.parent} does not exist; create it first")
    return value


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output: a readable table, CSV or JSON.")]
DEFAULT_WORKSPACE = Path("valuestream.duckdb")


def open_stream(path: Path | None, *, required: bool = False) -> Stream | None:
    """The stream file named, else ./stream.yaml when it exists, else None (or an error if required)."""
    if path is None:
        default = Path("stream.yaml")
        if default.is_file():
            path = default
        elif required:
            raise InputError("no stream file: pass --stream FILE or create one with 'valuestream init'")
        else:
            return None
    from valuestream.model import load_stream

    return load_stream(path)


def _say(text: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True, markup=True)


def report_bug(exc: BaseException) -> int:
    """One line for an error that is our fault: what it was, and the file holding the traceback."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = "".join(traceback.format_exception(exc))
    try:
        fd, name = tempfile.mkstemp(prefix=f"valuestream-crash-{stamp}-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"valuestream {sys.argv[1:]!r}\n{text}")
        where = f"the traceback is in {name}"
    except OSError:  # nowhere to write it: the traceback itself is the only record
        sys.stderr.write(text)
        where = "the traceback is above"
    summary = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    _say(f"internal error ({summary}); this is a bug in valuestream, {where}: please report it")
    return 1


# Typer's own ways out (exit, abort, a usage error) pass through untouched. Newer Typer vendors
# click rather than depending on it, so the classes are taken from Typer, never from click.
_TYPER_EXITS: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
)


@contextmanager
def user_errors() -> Iterator[None]:
    """The one exit path of every command: our errors and faults of the machine (a missing folder, a
    full disk) as one clear line and exit code 2; a bug as one line naming its traceback file, exit 1.
    """
    try:
        yield
    except _TYPER_EXITS:
        raise
    except KeyboardInterrupt:
        err_console.print("interrupted; nothing half-saved")
        raise typer.Exit(130) from None
    except ValuestreamError as exc:
        _say(str(exc))
        raise typer.Exit(2) from None
    except OSError as exc:
        _say(str(os_error(exc, "write or read the file")))
        raise typer.Exit(2) from None
    except Exception as exc:  # a bug: never a traceback on the screen, always one on disk
        fault = _storage_fault(exc)
        if fault is None:
            raise typer.Exit(report_bug(exc)) from None
        _say(str(fault))
        raise typer.Exit(2) from None


def _storage_fault(exc: Exception) -> ValuestreamError | None:
    """A DuckDB I/O error that is the machine's fault (disk full, a locked file) as our error."""
    duckdb = sys.modules.get("duckdb")  # an error raised by DuckDB means it is loaded
    if duckdb is not None and isinstance(exc, duckdb.OutOfMemoryException):
        from valuestream.workspace import memory_limit

        limit = memory_limit()
        return ValuestreamError(
            f"out of memory within VALUESTREAM_MEMORY_LIMIT={limit}: raise it, or narrow the analysis with --filter"
            if limit else
            "out of memory: this machine has too little free memory for the analysis; set "
            "VALUESTREAM_MEMORY_LIMIT (such as 2GB) so that it spills to disk instead"
        )
    if duckdb is None or not isinstance(exc, duckdb.IOException):
        return None
    from valuestream.workspace import storage_fault

    return storage_fault(exc)


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dt.datetime | dt.date):  # pandas' Timestamp and NaT are datetimes too
        return None if value != value else value.isoformat()  # only NaT is unequal to itself
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as JSON-ready records: ISO times, nulls for missing values."""
    return [{k: _jsonable(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_jsonable, ensure_ascii=False) + "\n")


def _cell(value: Any) -> str:
    import pandas as pd

    if isinstance(value, pd.Timestamp) and not pd.isna(value):
        if value == value.normalize():
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M")
    value = _jsonable(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula, prefixed with ' (OWASP's advice for CSV
    injection); numbers stay numbers, so a negative figure is still -5."""
    import pandas as pd

    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: neutralise_text(v) if isinstance(v, str) else v)
    out.columns = [neutralise_text(str(c)) for c in out.columns]
    return out


def neutralise_text(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


TABLE_ROWS = 1000
"""Most rows a terminal table shows unless --limit says otherwise: a table of 200,000 states took
minutes to lay out and no one reads it; CSV and JSON carry every row."""


def emit(
    df: pd.DataFrame, fmt: Format, *, title: str | None = None, limit: int | None = None, compact: bool = False
) -> None:
    """Print a table in the chosen format; tables are cut to ``limit`` rows (:data:`TABLE_ROWS`
    when not given), CSV and JSON never are. ``compact``: no lines between columns, for a table
    with many narrow columns to fit a terminal's 80 characters."""
    limit = TABLE_ROWS if limit is None else limit
    if fmt is Format.csv:
        safe = neutralised(df)
        # The csv module quotes a value holding "\n" but not a lone "\r", which ends a row for
        # most readers: then every text value is quoted.
        has_cr = any(safe[c].map(lambda v: isinstance(v, str) and "\r" in v).any() for c in safe.columns)
        quoting = csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL
        sys.stdout.write(safe.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S%z", quoting=quoting))
    elif fmt is Format.json:
        print_json(records(df))
    else:
        _print_table(df.head(limit), title, compact=compact)
        if len(df) > limit:
            console.print(f"[dim]{len(df) - limit:,} more rows; use --format csv for all of them[/]", markup=True)


def _print_table(df: pd.DataFrame, title: str | None, *, compact: bool) -> None:
    """A readable table that never cuts a value short: a number or a date cut short reads as
    another one. A column of single words (numbers, dates, ids) never shrinks below its widest
    value or its header's longest word, and text with spaces wraps; the first column keeps up to 24
    characters. Columns that still do not fit the terminal are left out, and named below it."""
    import pandas as pd

    cells = {col: [_cell(v) for v in df[col]] for col in df.columns}

    def build(cols: list[Any]) -> Table:
        style = {"box": box.SIMPLE_HEAD, "show_edge": False, "pad_edge": False, "collapse_padding": True}
        table = Table(title=title, header_style="bold", **(style if compact else {}))
        for i, col in enumerate(cols):
            numeric = pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])
            widest = max((len(c) for c in cells[col]), default=0)
            header = max((len(w) for w in str(col).split()), default=0)  # its longest word
            words = not any(" " in c for c in cells[col])
            if i == 0:
                min_width: int | None = min(max(widest, len(str(col))), 24)
            else:
                min_width = min(max(widest, header), 24) if words else None
            # no_wrap also keeps Rich from narrowing the column below min_width when it lays out
            table.add_column(
                str(col), justify="right" if numeric else "left", no_wrap=i == 0 or words, min_width=min_width
            )
        for row in zip(*(cells[c] for c in cols), strict=True):
            table.add_row(*row)
        return table

    cols = list(df.columns)
    table = build(cols)
    unbounded = console.options.update_width(10**6)  # console.measure alone stops at the width
    while len(cols) > 1 and console.measure(table, options=unbounded).minimum > console.width:
        cols.pop()
        table = build(cols)
    console.print(table)
    left_out = [str(c).replace("\n", " ") for c in df.columns if c not in cols]
    if left_out:
        console.print(
            f"[dim]Not shown at this width: {escape(', '.join(left_out))} (a wider terminal, or --format csv)[/]",
            highlight=False,
            markup=True,
        )


def emit_mapping(data: Mapping[str, Any], fmt: Format, *, title: str | None = None) -> None:
    """Print a flat mapping of figures (name -> value) in the chosen format."""
    if fmt is Format.json:
        print_json(dict(data))
        return
    import pandas as pd

    df = pd.DataFrame({"measure": list(data.keys()), "value": [_cell(v) for v in data.values()]})
    emit(df, fmt, title=title)


def parse_date(text: str | None, what: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what}: expected a date as YYYY-MM-DD, got '{text}'") from None


def parse_time_range(text: str | None) -> TimeRange:
    """--time-range as the instants an import accepts (default: 1970 to a year from today)."""
    from valuestream.sources.checks import TimeRange

    return TimeRange.parse(text, "--time-range")


TimeRangeOpt = Annotated[
    str | None,
    typer.Option(
        "--time-range",
        help="Years or days that times may fall in, e.g. 1900..2100 or 2020-01-01..2030-12-31 "
        "\\[default: 1970 to a year after today; anything outside is refused as a likely slip].",
    ),
]


def existing_workspace(path: Path) -> Workspace:
    """The workspace at ``path``, which must exist already (reading never creates one)."""
    from valuestream.workspace import Workspace

    ws = Workspace(path)
    if not ws.path.exists():
        raise InputError(f"no workspace at {ws.path}: import an event log first ('valuestream import FILE')")
    return ws


FromOpt = Annotated[str | None, typer.Option("--from", help="First day of the window (YYYY-MM-DD).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day of the window \\[default: the as-of day].")]
# Bounds of numeric options: wide enough for any real stream, narrow enough that no single option
# can exhaust memory or time on a small machine (typer prints them in every --help).
MAX_DAYS = 36_600  # a hundred years of days: any window of real data, never an overflow
MAX_ROWS = 1_000_000
MAX_ID = 2**31 - 1
MAX_SEED = 2**63 - 1
MAX_TRIALS = 1_000_000  # Monte Carlo futures: a few arrays of this length, tens of MB

DaysOpt = Annotated[
    int | None, typer.Option("--days", min=1, max=MAX_DAYS, help="Window length in days, ending at --to.")
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Analyse as of this time (ISO 8601) \\[default: the latest transition]."),
]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=MAX_ROWS, help="Rows shown in the table format.")]
def time_zone(value: str | None) -> str | None:
    """Check --tz before any work is done, in every command that has it."""
    if value is None:
        return None
    from valuestream.sources.checks import check_timezone

    try:
        return check_timezone(value, "--tz")
    except InputError as exc:
        raise typer.BadParameter(exc.message.removeprefix("--tz: ")) from None


TzOpt = Annotated[
    str, typer.Option("--tz", callback=time_zone, help="Time zone whose calendar days WIP and rates are counted in.")
]


def parse_as_of(text: str | None) -> dt.datetime | None:
    """The --as-of option as a time (None: the latest transition)."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--as-of: expected an ISO 8601 time, got '{text}'") from None


class Engine(enum.StrEnum):
    duckdb = "duckdb"
    spark = "spark"


EngineOpt = Annotated[
    Engine, typer.Option("--engine", help="Where the metrics run: embedded DuckDB, or Apache Spark (pip install 'valuestream\\[spark]').")
]
SparkMasterOpt = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="With --engine spark: a master URL (spark://host:7077, yarn) or a Spark Connect server (sc://host:15002) "
        "\\[default: $SPARK_REMOTE if set, else local\\[2]].",
    ),
]
EventsOpt = Annotated[
    str | None,
    typer.Option(
        "--events",
        help="With --engine spark: the event log where it lies, instead of the workspace: Parquet (a file or a folder) "
        "or a table, with the workspace's column names (item, state, entered_at).",
    ),
]
FilterOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        help="Only items whose imported attribute KEY is VALUE (KEY=VALUE: type=Bug, labels=ui, a class of service); "
        "repeat it: every key must match, any value given for one key will do.",
    ),
]
ByOpt = Annotated[
    str | None,
    typer.Option(
        "--by", "--group-by", help="One figure per value of this item attribute (type, a label, a class of service)."
    ),
]


def imported_workspace(path: Path) -> Workspace:
    """The workspace at ``path``, which must hold imported histories (an analysis has nothing else to read)."""
    ws = existing_workspace(path)
    if ws.stamp()["transitions"] == 0:  # counts() would also count distinct items: seconds at scale
        raise InputError(
            f"nothing is imported in {ws.path} yet: run 'valuestream import FILE' (or 'valuestream import jira ...')"
        )
    return ws


def analysis(
    workspace: Path,
    stream_path: Path | None,
    as_of: str | None,
    tz: str,
    filters: list[str] | None = None,
    engine: Engine = Engine.duckdb,
    spark_master: str | None = None,
    events: str | None = None,
) -> Flow:
    """The Flow of a workspace under its stream file (the one thing every metric command needs).

    When durations are not elapsed calendar days, or items are filtered, one line on stderr says so.
    """
    from valuestream.flow import Flow
    from valuestream.sources.checks import check_timezone

    check_timezone(tz, "--tz")
    stream = open_stream(stream_path)
    if engine is Engine.duckdb:
        if events is not None or spark_master is not None:
            raise InputError("--events and --spark-master go with --engine spark")
        flow = Flow.of(imported_workspace(workspace), stream, as_of=parse_as_of(as_of), timezone=tz, filters=filters)
    else:
        from valuestream.flow.spark import session

        source: str | Workspace = events if events is not None else imported_workspace(workspace)
        flow = Flow.from_spark(
            session(spark_master), source, stream, as_of=parse_as_of(as_of), timezone=tz, filters=filters
        )
    if not flow.calendar.is_default or flow.filters:
        words = flow.conventions()
        err_console.print(f"[dim]{escape(words[:1].upper() + words[1:])}.[/]", highlight=False, soft_wrap=True, markup=True)
    return flow


def breakdown(flow: Flow, key: str, figures: Callable[[Flow], Mapping[str, Any]]) -> pd.DataFrame:
    """One row per value of an item attribute (``--by``): the value, then ``figures`` of the Flow
    narrowed to it; a group whose figures cannot be had says why in ``note`` instead."""
    import pandas as pd

    rows = []
    for value, group in flow.by(key).items():
        row: dict[str, Any] = {key: value}
        try:
            row.update(figures(group))
        except ValuestreamError as exc:
            row["note"] = str(exc)
        rows.append(row)
    if not rows:
        raise InputError(f"--by {key}: no item in the stream has a value for '{key}'")
    return pd.DataFrame(rows)

