"""Policy changes in plain words, parsed from text and applied to a simulation network.

One change per string, ``TARGET: CHANGE``. Step names match case-insensitively. Days may be
written ``3d``, ``3 days`` or ``3``; hours ``4h``.

==========================================  ===================================================
``release: daily``                          every release gate releases daily (``weekly``,
``release: every 3 days``                   ``every N days``, ``continuous`` = no batching)
``Release: every 2 days``                   the cadence of one named gate
``Legal language: wait -50%``               shorten a step's pure wait (not a capacity queue)
``Legal language: wait -5d``                ... by days; ``wait 2d`` sets it to two days
``Test: touch -1d`` / ``Test: touch -30%``  reduce touch time (pre-staged test data)
``Design: +1 capacity``                     one more person (``capacity 3`` sets it)
``Design: +1 capacity for 1h/day``          a pairing hour: 1/8 of a person, working days of 8h
``wip: 12`` / ``wip: none``                 a WIP limit on the whole stream (backlog waits)
``Build: wip 3``                            a WIP limit at one step (kanban pull)
``Test: blocked -50%``                      fewer items blocked at a step
``Test: rework -50%`` / ``Test: rework 10%`` smaller rework share from a step
``arrivals: 6/week``                        a different arrival rate (a what-if on demand)
==========================================  ===================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from valuestream.changes import SYNTAX
from valuestream.errors import InputError
from valuestream.simulate.engine import (
    DAYS_PER_WEEK,
    WORK_HOURS_PER_DAY,
    Dist,
    Loop,
    Network,
)

_NUM = r"([+-]?\d+(?:\.\d+)?)"
_DAYS = rf"{_NUM}\s*(?:d|days?)?"


@dataclass(frozen=True)
class Change:
    """One policy change: its text, a plain description, and how it rewrites a network."""

    text: str
    target: str | None
    description: str
    _apply: Callable[[Network], Network]

    def apply(self, net: Network) -> Network:
        out = self._apply(net)
        return replace(out, notes=(*out.notes, f"changed: {self.text}"))

    def __str__(self) -> str:
        return self.text


def _days(text: str) -> float:
    m = re.fullmatch(rf"\s*{_NUM}\s*(d|days?|h|hours?|w|weeks?)?\s*", text)
    if not m:
        raise InputError(f"expected a number of days like '3d', got '{text}'")
    value = float(m.group(1))
    unit = (m.group(2) or "d")[0]
    return value / 24 if unit == "h" else value * DAYS_PER_WEEK if unit == "w" else value


def _cadence(text: str) -> float | None:
    """Days between releases; None for continuous release (no batching)."""
    t = text.strip().casefold()
    named = {"daily": 1.0, "weekly": 7.0, "fortnightly": 14.0, "biweekly": 14.0, "monthly": 30.0}
    if t in named:
        return named[t]
    if t in ("continuous", "continuously", "none", "on demand", "each item"):
        return None
    m = re.fullmatch(r"every\s+(.+)", t)
    if m:
        days = _days(m.group(1))
        if days <= 0:
            raise InputError(f"a release cadence must be above zero days, not '{text}'")
        return days
    raise InputError(
        f"unknown release cadence '{text}': use daily, weekly, every N days or continuous"
    )


def _percent_or_days(value: str) -> tuple[str, float]:
    """'-50%' -> ('scale', 0.5); '-3d' -> ('shift', -3); '2d' -> ('set', 2)."""
    v = value.strip()
    m = re.fullmatch(rf"{_NUM}\s*%", v)
    if m:
        pct = float(m.group(1))
        if not v.startswith(("+", "-")):
            raise InputError(f"write a percentage change with a sign, like -50%, not '{value}'")
        if pct <= -100:
            raise InputError(
                f"a change of {pct:g}% would make the time negative or zero; use at most -99%"
            )
        return "scale", 1 + pct / 100
    days = _days(v)
    return ("shift", days) if v.startswith(("+", "-")) else ("set", days)


def _release(target: str | None, rest: str) -> Callable[[Network], Network]:
    cadence = _cadence(rest)

    def apply(net: Network) -> Network:
        if target is None:
            gates = [
                i
                for i, st in enumerate(net.stations)
                if st.batch_every is not None or st.kind == "release_gate"
            ]
            if not gates:
                raise InputError(
                    "no release gate in the stream: give a step batch_every_days to model one"
                )
        else:
            gates = [net.index(target)]
        for i in gates:
            net = net.with_station(i, batch_every=cadence)
        return net

    return apply


def _time(target: str, what: str, rest: str) -> Callable[[Network], Network]:
    how, value = _percent_or_days(rest)

    def apply(net: Network) -> Network:
        i = net.index(target)
        st = net.stations[i]
        dist = st.wait if what == "wait" else st.touch
        pure_blocked = st.servers is None and st.batch_every is None and st.blocked_share > 0
        if what == "wait" and dist.kind == "none" and how == "scale" and pure_blocked:
            # Blocked time is waiting too: where it is all the step waits, shorten it instead.
            return net.with_station(i, blocked_share=min(1.0, st.blocked_share * value))
        if dist.kind == "none" and how != "set":
            hint = (
                "its wait comes from its capacity queue: change its capacity or touch time instead"
                if what == "wait" and st.servers is not None
                else "its wait comes from release batching: change the release cadence instead"
                if what == "wait" and st.batch_every is not None
                else f"it has no {what} time to change"
            )
            raise InputError(f"cannot change the {what} at '{st.name}': {hint}")
        if how == "set":
            return net.with_station(
                i, **{what: Dist.fixed(value), f"{what}_scale": 1.0, f"{what}_shift": 0.0}
            )
        scale, shift = getattr(st, f"{what}_scale"), getattr(st, f"{what}_shift")
        if how == "scale":
            return net.with_station(
                i, **{f"{what}_scale": scale * value, f"{what}_shift": shift * value}
            )
        return net.with_station(i, **{f"{what}_shift": shift + value})

    return apply


def _capacity(target: str, rest: str) -> Callable[[Network], Network]:
    m = re.fullmatch(
        rf"(?:(\+\d+(?:\.\d+)?)\s*(?:capacity|people|persons?|servers?)(?:\s+for\s+{_NUM}\s*h(?:ours?)?\s*(?:/|per\s+)\s*day)?"
        rf"|(?:capacity|people|servers)\s+(\d+))",
        rest.strip().casefold(),
    )
    if not m:
        raise InputError(
            f"cannot read the capacity change '{rest}': use '+1 capacity', '+1 capacity for 1h/day' or 'capacity 3'"
        )
    add, hours, set_to = m.group(1), m.group(2), m.group(3)

    def apply(net: Network) -> Network:
        i = net.index(target)
        st = net.stations[i]
        if set_to is not None:
            return net.with_station(i, servers=int(set_to))
        if st.servers is None:
            raise InputError(
                f"'{st.name}' has no capacity queue to add people to: set its capacity in the stream file first"
            )
        people = float(add)
        if hours is not None:
            return net.with_station(
                i, extra_capacity=st.extra_capacity + people * float(hours) / WORK_HOURS_PER_DAY
            )
        if people != int(people):
            return net.with_station(i, extra_capacity=st.extra_capacity + people)
        return net.with_station(i, servers=st.servers + int(people))

    return apply


def _limit(value: str) -> int | None:
    v = value.strip().casefold()
    if v in ("none", "off", "no limit", "unlimited"):
        return None
    if not re.fullmatch(r"\d+", v) or int(v) < 1:
        raise InputError(
            f"a WIP limit is a whole number of items (at least 1) or 'none', not '{value}'"
        )
    return int(v)


def _wip(target: str | None, rest: str) -> Callable[[Network], Network]:
    limit = _limit(rest)

    def apply(net: Network) -> Network:
        if target is None:
            return replace(net, wip_limit=limit)
        return net.with_station(net.index(target), wip_limit=limit)

    return apply


def _blocked(target: str, rest: str) -> Callable[[Network], Network]:
    how, value = _percent_or_days(rest)
    if how != "scale":
        raise InputError(
            "change blocked time as a percentage of items blocked, like 'blocked -50%'"
        )

    def apply(net: Network) -> Network:
        i = net.index(target)
        st = net.stations[i]
        if st.blocked_share == 0:
            raise InputError(f"no items are blocked at '{st.name}'")
        return net.with_station(i, blocked_share=min(1.0, st.blocked_share * value))

    return apply


def _rework(target: str, rest: str) -> Callable[[Network], Network]:
    v = rest.strip()
    m = re.fullmatch(rf"{_NUM}\s*%", v)
    if not m:
        raise InputError(
            f"write a rework change as a percentage, like 'rework -50%' or 'rework 10%', not '{rest}'"
        )
    pct = float(m.group(1)) / 100
    relative = v.startswith(("+", "-"))

    def apply(net: Network) -> Network:
        i = net.index(target)
        name = net.stations[i].name
        loops = [lp for lp in net.rework if lp.from_step == name]
        if not loops:
            raise InputError(f"no rework loop starts at '{name}'")
        total = sum(lp.share for lp in loops)
        new_total = total * (1 + pct) if relative else pct
        if not 0 <= new_total < 1:
            raise InputError(
                f"the rework share from '{name}' would be {new_total:.0%}: it must stay between 0% and 100%"
            )
        out: list[Loop] = []
        for lp in net.rework:
            if lp.from_step == name:
                if new_total > 0:
                    out.append(replace(lp, share=lp.share * new_total / total))
            else:
                out.append(lp)
        return replace(net, rework=tuple(out))

    return apply


def _arrivals(rest: str) -> Callable[[Network], Network]:
    m = re.fullmatch(
        rf"{_NUM}\s*(?:items?\s*)?(?:/|per\s+)\s*(day|week|month)", rest.strip().casefold()
    )
    if not m or float(m.group(1)) <= 0:
        raise InputError(f"write arrivals as a rate above zero, like '6/week', not '{rest}'")
    per = {"day": 1.0, "week": DAYS_PER_WEEK, "month": 30.0}[m.group(2)]
    rate = float(m.group(1)) / per

    def apply(net: Network) -> Network:
        return replace(net, arrival_rate=rate, arrivals=None)

    return apply


def parse_change(text: str) -> Change:
    """Read one policy change (see the module docstring for the forms it understands)."""
    if ":" not in text:
        raise InputError(
            f"cannot read the change '{text}': write TARGET: CHANGE, for example {SYNTAX}"
        )
    head, rest = (part.strip() for part in text.split(":", 1))
    key = head.casefold()
    low = rest.casefold()
    if not head or not rest:
        raise InputError(f"cannot read the change '{text}': write TARGET: CHANGE")
    word, _, value = low.partition(" ")
    # a step may be called "Release": "Release: touch -1d" is about the step, not the cadence
    step_words = (
        "wait",
        "touch",
        "wip",
        "blocked",
        "rework",
        "release",
        "capacity",
        "people",
        "servers",
    )
    if not (word in step_words or low.startswith("+")):
        if key == "release":
            return Change(text, None, f"release every gate {rest}", _release(None, rest))
        if key == "wip":
            return Change(text, None, f"WIP limit on the stream: {rest}", _wip(None, rest))
        if key == "arrivals":
            return Change(text, None, f"arrivals {rest}", _arrivals(rest))
    if word == "release":
        return Change(text, head, f"'{head}' releases {value}", _release(head, value))
    if word in ("wait", "touch"):
        return Change(
            text,
            head,
            f"{word} time at '{head}' {value}",
            _time(head, word, rest.split(None, 1)[1] if value else ""),
        )
    if word == "wip":
        return Change(text, head, f"WIP limit at '{head}': {value}", _wip(head, value))
    if word == "blocked":
        return Change(text, head, f"blocked items at '{head}' {value}", _blocked(head, value))
    if word == "rework":
        return Change(text, head, f"rework from '{head}' {value}", _rework(head, value))
    if re.match(r"\+|capacity|people|servers", low):
        return Change(text, head, f"capacity at '{head}': {rest}", _capacity(head, rest))
    raise InputError(f"cannot read the change '{text}': try one of {SYNTAX}")


def parse_changes(texts: Iterable[str]) -> list[Change]:
    return [parse_change(t) for t in texts]


def apply_changes(net: Network, changes: Sequence[Change]) -> Network:
    """Apply changes in order (later ones act on the result of earlier ones)."""
    for change in changes:
        net = change.apply(net)
    return net


def candidates(net: Network) -> list[Change]:
    """The default experiments: one per step, chosen by what makes the step slow, plus release daily.

    A pure wait is halved (unbundle a review); a capacity queue gets a pairing hour a day
    (+1 person for 1h/day); a step that is only touch time loses 20% of it (pre-staged data).
    """
    return [c for st in net.stations if (c := candidate_for(net, st.name)) is not None]


def candidate_for(net: Network, step: str) -> Change | None:
    """The one change that attacks what makes ``step`` slow, whatever its kind, or None if nothing does.

    A batching gate releases daily; a pure wait is halved; a capacity queue gets a pairing hour;
    a step whose waiting is blocked time has half as many items blocked; a step that is only
    touch time loses 20% of it.
    """
    st = net.stations[net.index(step)]
    if st.batch_every is not None and st.batch_every > 1:
        return parse_change("release: daily" if _single_gate(net) else f"{st.name}: release daily")
    if st.wait.kind != "none" and st.wait_mean > 0:
        return parse_change(f"{st.name}: wait -50%")
    if st.servers is not None:
        return parse_change(f"{st.name}: +1 capacity for 1h/day")
    if st.blocked_share > 0:
        return parse_change(f"{st.name}: blocked -50%")
    if st.touch.kind != "none" and st.touch_mean > 0:
        return parse_change(f"{st.name}: touch -20%")
    return None


def _single_gate(net: Network) -> bool:
    return sum(1 for st in net.stations if st.batch_every is not None) == 1
