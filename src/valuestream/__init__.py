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

Everything but the errors (the workspace, flow, the analyses, simulation, the report) is imported
when first used, so ``import valuestream`` and the command line's ``--help`` stay quick.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from valuestream import results as _results
from valuestream.errors import InputError, StreamFileError, ValuestreamError, WorkspaceBusyError

if TYPE_CHECKING:  # what type checkers see; at run time each name loads on first use (_LAZY)
    from valuestream.flow import Flow, Window  # noqa: F401
    from valuestream.model import (
        Calendar,  # noqa: F401
        CostOfDelay,  # noqa: F401
        Estimate,  # noqa: F401
        PolicyEvent,  # noqa: F401
        ReworkLoop,  # noqa: F401
        Step,  # noqa: F401
        StepKind,  # noqa: F401
        Stream,  # noqa: F401
        Workflow,  # noqa: F401
        load_stream,  # noqa: F401
        parse_stream,  # noqa: F401
    )
    from valuestream.workspace import Workspace  # noqa: F401

__version__ = "0.1.0"

# Public name -> the module that defines it, imported on first use.
_LAZY = {
    "Flow": "valuestream.flow",
    "Window": "valuestream.flow",
    "Calendar": "valuestream.model",
    "CostOfDelay": "valuestream.model",
    "Estimate": "valuestream.model",
    "PolicyEvent": "valuestream.model",
    "ReworkLoop": "valuestream.model",
    "Step": "valuestream.model",
    "StepKind": "valuestream.model",
    "Stream": "valuestream.model",
    "Workflow": "valuestream.model",
    "load_stream": "valuestream.model",
    "parse_stream": "valuestream.model",
    "Workspace": "valuestream.workspace",
    "draw": "valuestream.views",
    "result_html": "valuestream.views",
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


def _view(name: str) -> Any:
    """A renderer from ``views``, loaded when a result is first drawn or shown in a notebook."""

    def render(result: Any) -> Any:
        return getattr(import_module("valuestream.views"), name)(result)

    return render


# Results answer .chart() and show themselves in a notebook through these (views registers the
# same functions when it is imported).
_results.provide("chart", _view("draw"))
_results.provide("html", _view("result_html"))


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'valuestream' has no attribute '{name}'")

__all__ = [
    "InputError",
    "StreamFileError",
    "ValuestreamError",
    "WorkspaceBusyError",
    "__version__",
    *_LAZY,
]
