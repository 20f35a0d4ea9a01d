"""The shared chart look (Vega-Lite through Altair) and saving charts as SVG, PNG or HTML offline.

Touch and wait keep the two sticky-note colours of the map everywhere; the palette is safe for
colour-blind readers (blue against amber, never red against green).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import altair as alt
import vl_convert as vlc

from valuestream.errors import InputError

TOUCH = "#3B7DD8"  # blue sticky note: someone works on the item
WAIT = "#F2A541"  # amber sticky note: the item waits
BLOCKED = "#8E5BA8"
SIGNAL = "#D1495B"
LIMIT = "#6C757D"
INK = "#222222"
MUTED = "#8A8F98"
CATEGORY = ["#3B7DD8", "#F2A541", "#2A9D8F", "#8E5BA8", "#E76F51", "#6C757D", "#264653", "#E9C46A"]
FONT = "Helvetica, Arial, sans-serif"

WIDTH = 640
HEIGHT = 240


def theme() -> dict[str, Any]:
    """The Vega-Lite config every valuestream chart uses."""
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "view": {"stroke": None, "continuousWidth": WIDTH, "continuousHeight": HEIGHT},
            "axis": {"labelColor": INK, "titleColor": INK, "gridColor": "#E6E8EB", "domainColor": MUTED, "labelFontSize": 11, "titleFontSize": 12},
            "legend": {"labelFontSize": 11, "titleFontSize": 12, "orient": "bottom"},
            "title": {"fontSize": 14, "anchor": "start", "color": INK, "subtitleColor": MUTED},
            "range": {"category": CATEGORY},
            "line": {"strokeWidth": 2},
            "point": {"filled": True, "size": 36},
        }
    }


def styled(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Apply the shared theme to one chart (no global state, so concurrent use is safe)."""
    return chart.properties(config=theme()["config"]) if hasattr(chart, "properties") else chart


def spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The Vega-Lite specification of a chart, with the theme, as a plain dict."""
    out = chart.to_dict()
    out.setdefault("config", {}).update({k: v for k, v in theme()["config"].items() if k not in out["config"]})
    return out


def save(chart: alt.TopLevelMixin, path: str | Path, *, scale: float = 2.0) -> Path:
    """Write a chart to .svg, .png or .html (self-contained, no network), chosen by the extension."""
    path = Path(path)
    vl = spec(chart)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(vlc.vegalite_to_svg(vl), encoding="utf-8")
    elif suffix == ".png":
        path.write_bytes(vlc.vegalite_to_png(vl, scale=scale))
    elif suffix in (".html", ".htm"):
        path.write_text(vlc.vegalite_to_html(vl, bundle=True), encoding="utf-8")
    elif suffix == ".json":
        import json

        path.write_text(json.dumps(vl, indent=2), encoding="utf-8")
    else:
        raise InputError(f"cannot tell the chart format from '{path.name}'; use .svg, .png, .html or .json")
    return path
