"""Everything drawn: the map picture, charts, the report, and the HTML of result objects.

Importing the package registers ``draw`` and the HTML renderer with ``valuestream.results``, so an
analysis result answers ``.chart()`` and shows itself in a notebook without importing a view.
"""

from valuestream import results
from valuestream.views.draw import draw
from valuestream.views.html import result_html

results.provide("chart", draw)
results.provide("html", result_html)

__all__ = ["draw", "result_html"]
