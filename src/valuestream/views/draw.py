"""One ``draw(result)`` for every analysis result: the chart that shows it.

The table names each result type's chart function by module path, so importing this module costs
nothing: Altair loads only when something is drawn.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# result type name -> "module:function" that charts it
CHARTS = {
    "ConstraintReport": "valuestream.views.result_charts:constraint_chart",
    "QueueCosts": "valuestream.views.result_charts:queue_costs_chart",
    "MapFigures": "valuestream.views.result_charts:map_figures_chart",
    "MapVsData": "valuestream.views.result_charts:map_vs_data_chart",
    "DiscoveredMap": "valuestream.views.result_charts:discovered_chart",
    "Experiments": "valuestream.views.result_charts:experiments_chart",
    "SimResult": "valuestream.views.result_charts:simulation_chart",
    "XmrChart": "valuestream.views.xmr_charts:xmr_chart",
    "Forecast": "valuestream.views.forecast_charts:forecast_histogram",
    "ServiceLevel": "valuestream.views.forecast_charts:duration_histogram",
    "Aging": "valuestream.views.forecast_charts:aging_chart",
}


def draw(result: Any, **options: Any) -> Any:
    """The chart of an analysis result (Altair); a TypeError names a result that has none.
    ``options`` go to the chart function (``title`` for a process behavior chart)."""
    for cls in type(result).__mro__:
        target = CHARTS.get(cls.__name__)
        if target is not None:
            module, function = target.split(":")
            return getattr(import_module(module), function)(result, **options)
    raise TypeError(f"{type(result).__name__} has no chart")
