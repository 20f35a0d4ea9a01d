"""The main job on the bundled sample: ``valuestream demo``."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from valuestream.cli._app import app
from valuestream.cli._common import console, user_errors

if TYPE_CHECKING:
    from valuestream.flow import Flow


def three_measures(flow: Flow, days: int = 90) -> Table:
    """Lead time, flow efficiency and throughput against arrivals over the last ``days``."""
    s = flow.summary(flow.window(days=days))
    table = Table(title=f"Three flow measures, last {days} days to {s['window_end']}", header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("what it says")
    if s["finished"]:
        table.add_row(
            "Lead time",
            f"{s['lead_p50']:.1f} d median, {s['lead_p85']:.1f} d p85",
            f"85% of {s['finished']} finished items took {s['lead_p85']:.0f} days or less, opportunity to adoption",
        )
        table.add_row(
            "Flow efficiency",
            f"{s['flow_efficiency']:.0%}",
            f"work was touched {s['flow_efficiency']:.0%} of its lead time and waited the rest",
        )
    else:
        table.add_row("Lead time", "none finished", "no item finished in this window")
    table.add_row(
        "Throughput vs arrivals",
        f"{s['throughput_per_week']:.1f} vs {s['arrivals_per_week']:.1f} /wk",
        "finishing as fast as work arrives" if s["throughput_per_week"] >= 0.95 * s["arrivals_per_week"]
        else "work arrives faster than it finishes: WIP grows",
    )
    table.add_row("WIP now", str(s["wip_now"]), f"oldest item in progress: {s['oldest_age_days'] or 0:.0f} days")
    return table


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Folder for the sample, its workspace and the report.")] = Path("valuestream-demo"),
) -> None:
    """Build the bundled sample stream, import it, show the three flow measures and write the report."""
    from valuestream.events import merge_stream_events
    from valuestream.flow import Flow
    from valuestream.model import load_stream
    from valuestream.sample import write_sample
    from valuestream.views.report import write_report
    from valuestream.workspace import Workspace

    with user_errors():
        log, stream_path = write_sample(directory)
        ws_path = directory / "valuestream.duckdb"
        ws_path.unlink(missing_ok=True)
        ws = Workspace(ws_path)
        result = ws.import_file(log)
        stream = load_stream(stream_path)
        # The policy change named in the stream file goes into the events log, so the process
        # behavior charts split at it.
        merge_stream_events(ws, stream)
        console.print(
            Panel.fit(
                Text.from_markup(
                    f"[bold]{escape(stream.name)}[/] ({escape(str(stream.product))}): {result['items']:,} items, "
                    f"{result['rows']:,} transitions over a year, imported into {escape(str(ws_path))}.\n"
                    "The sprints look green; four queues hold the work back."
                ),
                title="valuestream demo",
            )
        )
        flow = Flow.of(ws, stream)
        console.print(three_measures(flow))
        report_path = directory / "report.html"
        with console.status("Writing the report..."):
            write_report(report_path, ws, stream)
        console.print(
            f"\nThe one-page report (map, three flow measures, constraint, experiments, charts) is in "
            f"[bold]{escape(str(report_path))}[/]: open it in a browser.",
            highlight=False,
            markup=True,
        )
        # The command as this shell can run it: by name when it is on PATH, else by its path
        # (after scripts/demo.sh it lives in .venv/bin).
        exe = "valuestream"
        if shutil.which("valuestream") is None and Path(sys.argv[0]).name == "valuestream":
            exe = os.path.relpath(Path(sys.argv[0]).resolve(), directory.resolve())
        console.print(
            f"\nNext: [bold]cd {escape(str(directory))}[/] and try [bold]{escape(exe)} constraint[/], "
            f"[bold]{escape(exe)} experiments[/], [bold]{escape(exe)} check[/], [bold]{escape(exe)} items --unfinished[/].",
            highlight=False,
            markup=True,
        )
