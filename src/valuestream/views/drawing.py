"""What a chart draws when its data are many, and where its labels go so that none hides another.

Charts compute nothing: every figure comes from the analysis result they are given, computed on
every value. These helpers only choose which of the values to draw (thinning the drawing, never the
data) and place labels apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

MAX_DRAWN = 2000
"""A chart draws at most about this many ordinary points (and every point it must keep): more
cannot be told apart at the chart's width, and they make the page heavy."""
ALTAIR_ROWS = 5000
"""Altair refuses a data frame with more rows than this; larger data go in as inline values."""
LABEL_GAP = 13.0
"""Pixels between the baselines of two labels stacked on one axis (fonts of 10 to 11 pixels)."""


def thin(n: int, keep: np.ndarray | None = None, most: int | None = None) -> tuple[np.ndarray, int]:
    """Which of ``n`` values to draw: every k-th (k = ceil(n / most), ``most`` by default
    :data:`MAX_DRAWN`), the last one, and every one flagged in ``keep`` (signals, the tail).
    Returns (indexes in order, k); k is 1 when all are drawn."""
    most = MAX_DRAWN if most is None else most
    if n <= most:
        return np.arange(n), 1
    kept = np.zeros(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool).copy()
    kept[-1] = True
    k = math.ceil(n / most)
    # With many points to keep, draw fewer of the others, so the whole stays a plain data frame.
    room = ALTAIR_ROWS - int(kept.sum())
    if room > 0 and n / k + kept.sum() > ALTAIR_ROWS:
        k = max(k, math.ceil(n / room))
    show = kept.copy()
    show[::k] = True
    return np.flatnonzero(show), k


def thinned_words(n: int, k: int, kept: str) -> str:
    """'drawing 1 in 10 of the 20,000 values (every signal drawn) ...', or '' when all are drawn."""
    if k <= 1:
        return ""
    return f"drawing 1 in {k} of the {n:,} values ({kept}); every figure is computed on all of them"


def as_data(frame: pd.DataFrame) -> pd.DataFrame | alt.InlineData:
    """A chart's data: the frame itself, or its rows as inline values when Altair would refuse it."""
    if len(frame) <= ALTAIR_ROWS:
        return frame
    clean = alt.utils.sanitize_pandas_dataframe(frame)
    return alt.InlineData(values=clean.to_dict(orient="records"))


def spread(
    targets: Sequence[float], *, gap: float = LABEL_GAP, low: float, high: float
) -> list[float]:
    """Label positions (pixels, any direction) as near their targets as can be, at least ``gap``
    apart, inside [low, high] when there is room; the order of the targets is kept.

    Labels are pushed apart upward, then the whole stack is moved back inside the range, so close
    values keep their labels side by side in order instead of on top of each other.
    """
    order = sorted(range(len(targets)), key=lambda i: targets[i])
    placed = [float(targets[i]) for i in order]
    for j in range(1, len(placed)):
        placed[j] = max(placed[j], placed[j - 1] + gap)
    if placed and placed[-1] > high:
        placed[-1] = high
        for j in range(len(placed) - 2, -1, -1):
            placed[j] = min(placed[j], placed[j + 1] - gap)
    if placed and placed[0] < low:
        shift = low - placed[0]
        placed = [p + shift for p in placed]
    out = [0.0] * len(targets)
    for j, i in enumerate(order):
        out[i] = placed[j]
    return out


def spread_values(
    values: Sequence[float], *, domain: tuple[float, float], height: float, gap: float = LABEL_GAP
) -> list[float]:
    """Label positions in data units on a linear axis ``domain`` drawn ``height`` pixels tall, so
    that no two labels are closer than ``gap`` pixels (see :func:`spread`)."""
    lo, hi = domain
    span = (hi - lo) or 1.0
    pixels = [(v - lo) / span * height for v in values]
    placed = spread(pixels, gap=gap, low=0.0, high=height)
    return [lo + p / height * span for p in placed]
