"""The histories a picture of very many states is drawn from: the long tail grouped into one step.

Kept apart from the drawing code so that commands that only rank steps (``constraint``) group the
same way the map does without loading a chart library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from valuestream.flow import Flow
from valuestream.streammap import long_tail_grouped

if TYPE_CHECKING:
    import pandas as pd

    from valuestream.model import Stream
    from valuestream.workspace import Workspace


def drawable_flow(
    workspace: Workspace, stream: Stream | None, flow: Flow, steps: pd.DataFrame | None = None
) -> tuple[Flow, str]:
    """The histories a discovered map is drawn from: ``flow`` itself, or, when the data has more
    states than a picture holds, the same histories under a stream that groups the long tail of
    states into one step (:func:`valuestream.streammap.long_tail_grouped`), with a sentence
    saying so for the picture. A stream file with steps of its own is drawn as it is.
    ``steps``: ``flow.steps(by="step")`` when the caller has it already."""
    if stream is not None and stream.steps:
        return flow, ""
    grouped = long_tail_grouped(stream, flow.steps(by="step") if steps is None else steps)
    if grouped is None:
        return flow, ""
    regrouped = Flow.of(
        workspace,
        grouped[0],
        as_of=flow.as_of,
        timezone=flow.timezone,
        calendar=flow.calendar,
        filters=list(flow.filters),
    )
    return regrouped, grouped[1]


__all__ = ["drawable_flow"]
