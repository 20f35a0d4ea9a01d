"""How a policy change is written, ``TARGET: CHANGE``: the forms the simulation reads.

One line in plain words each (``release: daily``, ``Test: touch -1d``); ``simulate.policies``
parses them. Kept apart so that the command line can show them in its help without loading the
simulation.
"""

from __future__ import annotations

SYNTAX = (
    "'release: daily', 'release: every 3 days', 'STEP: wait -50%', 'STEP: wait -5d', 'STEP: touch -1d', "
    "'STEP: +1 capacity', 'STEP: +1 capacity for 1h/day', 'STEP: capacity 3', 'wip: 12', 'STEP: wip 3', "
    "'STEP: blocked -50%', 'STEP: rework -50%', 'arrivals: 6/week'"
)
