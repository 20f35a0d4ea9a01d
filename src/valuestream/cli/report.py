"""The one-page report and its charts: ``valuestream report`` and ``valuestream chart NAME``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from valuestream.cli._app import app
from valuestream.cli._common import (
    DEFAULT_WORKSPACE,
    MAX_DAYS,
    FilterOpt,
    StreamOpt,
    WorkspaceOpt,
    console,
    open_stream,
    output_file,
    user_errors,
)
from valuestream.errors import InputError, ValuestreamError
from valuestream.views.catalogue import CHART_NAMES, DEFAULT_DAYS

if TYPE_CHECKING:
    from valuestream.model import Stream
    from valuestream.workspace import Workspace

DaysOpt = Annotated[
    int,
    typer.Option(
        "--days", min=7, max=MAX_DAYS, help="The window of the three flow measures, in days."
    ),
]


def _stream(path: Path | None, ws: Workspace) -> Stream | None:
    """The stream file named (or ./stream.yaml), else the latest map saved in the workspace."""
    stream = open_stream(path)
    if stream is not None or not ws.path.exists():
        return stream
    from valuestream.maps import load_map

    try:
        return load_map(ws).stream()
    except InputError:
        return None  # no map saved: the report says so


@app.command()
def report(
    out: Annotated[
        Path, typer.Option("--out", "-o", callback=output_file, help="The HTML file to write.")
    ] = Path("report.html"),
    days: DaysOpt = DEFAULT_DAYS,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    filters: FilterOpt = None,
) -> None:
    """Write the one-page report: the map with its constraint, three flow measures, the evidence.

    One self-contained HTML file that opens offline and prints on A4 or Letter.
    """
    from valuestream.views.report import build_report
    from valuestream.workspace import Workspace

    with user_errors():
        ws = Workspace(workspace) if workspace.exists() else None
        the_stream = _stream(stream, ws) if ws is not None else open_stream(stream)
        result = build_report(ws, the_stream, days=days, filters=filters)
        result.save(out)
        size = out.stat().st_size / 1e6
        console.print(
            f"Wrote [bold]{escape(str(out))}[/] ({size:.1f} MB): open it in a browser.", highlight=False, markup=True
        )
        missing = result.table[~result.table["shown"]]
        for row in missing.itertuples():
            console.print(f"[dim]{escape(f'{row.title}: {row.why_not}')}[/]", highlight=False, markup=True)


@app.command("chart")
def chart_cmd(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(CHART_NAMES)}.")],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", callback=output_file, help="The file: .svg, .png or .html."),
    ],
    days: DaysOpt = DEFAULT_DAYS,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    filters: FilterOpt = None,
) -> None:
    """Draw one of the report's charts to a file, with the same look as in the page."""
    from valuestream.views.report import Inputs, chart, map_html, map_picture
    from valuestream.workspace import Workspace

    with user_errors():
        if name not in CHART_NAMES:
            raise InputError(f"unknown chart '{name}': one of {', '.join(CHART_NAMES)}")
        suffix = out.suffix.lower()
        if suffix not in (".svg", ".png", ".html", ".htm"):
            raise InputError(
                f"cannot tell the chart format from '{out.name}'; use .svg, .png or .html"
            )
        ws = Workspace(workspace) if workspace.exists() else None
        the_stream = _stream(stream, ws) if ws is not None else open_stream(stream)
        inputs = Inputs(ws, the_stream, days=days, filters=filters)
        if name == "map":
            picture = map_picture(inputs)
            if suffix in (".html", ".htm"):
                title = the_stream.name if the_stream is not None else "Value stream map"
                out.write_text(map_html(picture.svg, title), encoding="utf-8")
            else:
                picture.save(out)
        else:
            from valuestream.views.charts import save

            try:
                drawn = chart(inputs, name)
            except ValuestreamError as exc:
                raise InputError(f"the {name} chart cannot be drawn: {exc}") from None
            save(drawn, out)
        console.print(f"Wrote [bold]{escape(str(out))}[/].", highlight=False, markup=True)
