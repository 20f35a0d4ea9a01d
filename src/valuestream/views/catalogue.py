"""The report's window and its charts by name: what ``valuestream chart`` offers.

Kept apart from the report so that the command line can show them in its help without loading
Altair, pandas or the analyses.
"""

from __future__ import annotations

DEFAULT_DAYS = 90
FORECAST_DAYS = 28
"""The forecast looks four weeks ahead: the horizon a leader plans the next month on."""

CHART_NAMES: dict[str, str] = {
    "map": "the value stream map with the constraint circled (SVG)",
    "lead-weekly": "weekly median lead time with its natural process limits",
    "efficiency-weekly": "weekly flow efficiency with its natural process limits",
    "throughput-weekly": "weekly throughput with its natural process limits",
    "constraint": "wait per item at each step, the constraint in red",
    "experiments": "candidate changes ranked by the lead time they save",
    "scatter": "lead time of each completed item, with percentile lines",
    "xmr-lead": "process behavior chart of lead time (items or weekly medians, as 'pbc lead')",
    "xmr-cycle": "process behavior chart of cycle time (items or weekly medians, as 'pbc cycle')",
    "cfd": "cumulative flow diagram over the report's window",
    "rates": "arrivals and throughput per week",
    "aging": "aging work in progress against the service level percentiles",
    "forecast": f"how many items will be finished in the next {FORECAST_DAYS} days",
}
