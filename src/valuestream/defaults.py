"""Defaults and thresholds that the command line shows in its help, taken by the analyses from here.

Their own modules load numpy, pandas and the engine; ``--help`` must answer without them, so the
figures a user sees there live in this small module (each analysis imports and documents its own).
"""

from __future__ import annotations

# forecast: how hard and how far a forecast looks
DEFAULT_TRIALS = 10_000
MIN_TRIALS = 1_000
DEFAULT_WINDOW_DAYS = 90
HORIZON_DAYS = 3653  # ten years: a forecast further out than that is not a forecast

# xmr: single items or weekly values (see xmr's rational subgrouping)
MAX_ITEMS_PER_WEEK = 10
"""Charts of single items while a typical complete week has at most this many completions: 20
baseline items then span two weeks or more, so their limits see more than one week's conditions."""
