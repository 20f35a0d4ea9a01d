"""valuestream: see where work waits from opportunity to adoption, and lead the stream.

Map the work, name the constraint, make one change, then measure the difference::

    import valuestream as vs

    ws = vs.Workspace("valuestream.duckdb")
    ws.import_file("events.csv")
    flow = vs.Flow.of(ws, vs.load_stream("stream.yaml"))
    flow.items()          # one row per item: lead, cycle, touch, wait, flow efficiency, rework
    flow.summary()        # the stream's flow measures over a window
    vs.find_constraint(stream, flow).explain()
    vs.flow_xmr(flow, "lead").chart()
    vs.write_report("report.html", ws, stream)

The analyses (constraint, map figures, XmR, forecasts, simulation, report) are imported when first
used, so ``import valuestream`` stays quick.
"""

from importlib import import_module
from typing import Any

from valuestream.errors import InputError, StreamFileError, ValuestreamError, WorkspaceBusyError
from valuestream.flow import Flow, Window
from valuestream.model import (
    Calendar,
    CostOfDelay,
    Estimate,
    PolicyEvent,
    ReworkLoop,
    Step,
    StepKind,
    Stream,
    Workflow,
    load_stream,
    parse_stream,
)
from valuestream.views import draw, result_html  # also registers them for results' .chart()
from valuestream.workspace import Workspace

__version__ = "0.1.0"

# Public name -> the module that defines it, imported on first use.
_LAZY = {
    "find_constraint": "valuestream.constraint",
    "map_figures": "valuestream.streammap",
    "compare": "valuestream.streammap",
    "discover": "valuestream.streammap",
    "draw_map": "valuestream.views.map_svg",
    "save_map": "valuestream.maps",
    "map_versions": "valuestream.maps",
    "xmr": "valuestream.xmr",
    "flow_xmr": "valuestream.xmr",
    "predictability": "valuestream.xmr",
    "add_event": "valuestream.events",
    "list_events": "valuestream.events",
    "run_check": "valuestream.check",
    "when": "valuestream.forecast",
    "how_many": "valuestream.forecast",
    "sle": "valuestream.forecast",
    "aging": "valuestream.forecast",
    "simulate": "valuestream.simulate",
    "experiments": "valuestream.simulate",
    "from_stream": "valuestream.simulate",
    "from_flow": "valuestream.simulate",
    "build_report": "valuestream.views.report",
    "write_report": "valuestream.views.report",
    "read_xes": "valuestream.sources.xes",
    "write_xes": "valuestream.sources.xes",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'valuestream' has no attribute '{name}'")

__all__ = [
    "draw",
    "result_html",
    "Calendar",
    "CostOfDelay",
    "Estimate",
    "Flow",
    "InputError",
    "PolicyEvent",
    "ReworkLoop",
    "Step",
    "StepKind",
    "Stream",
    "StreamFileError",
    "ValuestreamError",
    "Window",
    "Workflow",
    "Workspace",
    "WorkspaceBusyError",
    "__version__",
    "load_stream",
    "parse_stream",
    *_LAZY,
]
