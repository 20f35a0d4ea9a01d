"""What every analysis result has in common: it is data, and it can be shown.

Analyses (constraint, economics, the map figures, the simulation) return frozen dataclasses with
``explain()`` and their tables. They do not draw: ``views`` does. So that a result still shows
itself in a notebook (``_repr_html_``) and still answers ``.chart()``, the views register their
renderers here when the package is imported; an analysis module never imports a view.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pandas as pd

_RENDERERS: dict[str, Callable[[Any], Any]] = {}


def provide(kind: str, renderer: Callable[[Any], Any]) -> None:
    """Called by ``views`` at import: ``kind`` is ``"html"`` or ``"chart"``."""
    _RENDERERS[kind] = renderer


def _render(kind: str, result: Any, **options: Any) -> Any:
    renderer = _RENDERERS.get(kind)
    if renderer is None:  # only when a module is loaded without its package
        raise RuntimeError(f"no {kind} renderer: import valuestream first")
    return renderer(result, **options)


class Result:
    """Mixin for analysis results: a notebook shows them as HTML; ``.chart()`` draws them."""

    def explain(self) -> str:
        raise NotImplementedError

    def tables(self) -> dict[str, pd.DataFrame]:
        """The result's tables by name, in the order its fields declare them."""
        out: dict[str, pd.DataFrame] = {}
        table = getattr(self, "table", None)  # a field or a computed property
        if isinstance(table, pd.DataFrame):
            out["table"] = table
        if dataclasses.is_dataclass(self):
            for f in dataclasses.fields(self):
                value = getattr(self, f.name)
                if isinstance(value, pd.DataFrame) and f.name not in out:
                    out[f.name] = value
        return out

    def chart(self, **options: Any) -> Any:
        """The result's chart (a Vega-Lite chart through Altair), from ``views.draw``; ``options``
        go to the chart function (a title, for one)."""
        return _render("chart", self, **options)

    def _repr_html_(self) -> str:
        return _render("html", self)
