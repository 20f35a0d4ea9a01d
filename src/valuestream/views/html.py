"""The one HTML renderer for result objects: every text escaped, every table escaped.

Jupyter calls ``_repr_html_``; each result's comes here, so a step, item or event name that holds
markup shows as text in a notebook exactly as in the report.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd


def _number(value: float) -> str:
    return f"{value:,.2f}"


def table_html(table: pd.DataFrame) -> str:
    """A table with its cells and headers escaped (pandas escapes both with ``escape=True``)."""
    return table.to_html(index=False, escape=True, float_format=_number, na_rep="")


def result_html(result: Any) -> str:
    """A result as a block of HTML: its explanation, then each of its tables under its name."""
    parts = ['<div class="valuestream-result">']
    explain = getattr(result, "explain", None)
    if callable(explain):
        text = html.escape(str(explain()))
        parts.append(f'<p style="white-space: pre-wrap">{text}</p>')
    tables = result.tables() if hasattr(result, "tables") else {}
    for name, table in tables.items():
        if len(tables) > 1:
            parts.append(f"<h4>{html.escape(name.replace('_', ' '))}</h4>")
        parts.append(table_html(table))
    parts.append("</div>")
    return "\n".join(parts)
