"""valuestream: see where work waits from opportunity to adoption, and lead the stream.

Map the work, name the constraint, make one change, then measure the difference::

    import valuestream as vs

    ws = vs.Workspace("valuestream.duckdb")
    ws.import_file("events.csv")
    flow = vs.Flow.of(ws, vs.load_stream("stream.yaml"))
    flow.items()          # one row per item: lead, cycle, touch, wait, flow efficiency, rework
    flow.summary()        # the stream's flow measures over a window
"""

from valuestream.errors import InputError, StreamFileError, ValuestreamError, WorkspaceBusyError
from valuestream.flow import Flow, Window
from valuestream.model import (
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
from valuestream.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
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
]
