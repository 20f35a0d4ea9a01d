"""The shared chart look (Vega-Lite through Altair) and saving charts as SVG, PNG or HTML offline.

Touch and wait keep the two sticky-note colours of the map everywhere; the palette is safe for
colour-blind readers (blue against amber, never red against green).
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
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


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "valuestream"


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script, from vl-convert (cached on disk: it takes seconds)."""
    versions = f"vega{vlc.get_vega_version()}-vl{vlc.get_vegalite_versions()[-1]}-embed{vlc.get_vega_embed_version()}"
    cached = _cache_dir() / f"bundle-{versions}.js"
    try:
        return cached.read_text(encoding="utf-8")
    except OSError:
        pass
    text = str(vlc.javascript_bundle())  # type: ignore[call-arg]  # the stub omits the default
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(cached)  # atomic: a concurrent report never reads half a file
    except OSError:
        pass  # no writable cache: the next report bundles again
    return text


def json_in_script(text: str) -> str:
    """JSON text that is inert inside a <script> element: <, > and & (and the two JavaScript line
    separators) written as \\u escapes, which JSON reads back as the same characters."""
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def js_in_script(text: str) -> str:
    """Script text that cannot end its <script> element (only "</script" can, in any case)."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


# A standalone chart page of our own (vl-convert's inlines the spec without escaping "</script>").
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>body {{ font-family: {font}; margin: 24px; color: {ink}; }} #chart-error {{ color: {signal}; }}</style>
<script>{vega}</script>
</head>
<body>
<div id="chart"></div>
<p id="chart-error"></p>
<script type="application/json" id="chart-spec">{spec}</script>
<script>
vegaEmbed("#chart", JSON.parse(document.getElementById("chart-spec").textContent), {{renderer: "svg", actions: false}})
  .catch(function (e) {{ document.getElementById("chart-error").textContent = "The chart could not be drawn: " + e; }});
</script>
</body>
</html>
"""


def chart_page(vl: dict[str, Any]) -> str:
    """A Vega-Lite spec as one self-contained HTML page: no network, user text inert."""
    title = vl.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(map(str, title))
    return _PAGE.format(
        title=html.escape(str(title or "valuestream chart")),
        font=FONT,
        ink=INK,
        signal=SIGNAL,
        vega=js_in_script(vega_bundle()),
        spec=json_in_script(json.dumps(vl, separators=(",", ":"), allow_nan=False, default=str)),
    )


def save(chart: alt.TopLevelMixin, path: str | Path, *, scale: float = 2.0) -> Path:
    """Write a chart to .svg, .png or .html (self-contained, no network), chosen by the extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".png", ".html", ".htm", ".json"):
        raise InputError(f"cannot tell the chart format from '{path.name}'; use .svg, .png, .html or .json")
    if not path.parent.is_dir():
        raise InputError("the folder to write the chart in does not exist; create it first", file=path)
    vl = spec(chart)
    if suffix == ".svg":
        path.write_text(vlc.vegalite_to_svg(vl), encoding="utf-8")
    elif suffix == ".png":
        path.write_bytes(vlc.vegalite_to_png(vl, scale=scale))
    elif suffix == ".json":
        path.write_text(json.dumps(vl, indent=2), encoding="utf-8")
    else:
        path.write_text(chart_page(vl), encoding="utf-8")
    return path
