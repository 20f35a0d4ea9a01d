"""The value stream map picture, drawn as our own SVG (and PNG through vl-convert's renderer).

The classic map a room draws on the wall: process boxes in flow order with their owner, the wait
before each step as an amber inventory triangle, approvals, handoffs, queues and release gates
marked, rework arrows, a touch/wait ladder under every row, totals at the bottom, and the
constraint circled. Estimates are drawn in italics with dashed boxes; measured figures are upright
with solid boxes, so the room can tell the wall's guess from the tracker's record at a glance.

Rows wrap at five steps, so 3 to 25 steps stay legible; names wrap inside their box and are
cut with an ellipsis after four lines (the full name stays in the box's tooltip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

import vl_convert as vlc

from valuestream.errors import InputError
from valuestream.streammap import MapFigures, MapVsData, map_figures
from valuestream.views.charts import INK, MUTED, SIGNAL, TOUCH, WAIT

if TYPE_CHECKING:

    from valuestream.constraint import ConstraintReport
    from valuestream.model import Stream

FONT = "Liberation Sans, Arial, Helvetica, sans-serif"
MAX_PER_ROW = 5
MAX_NAME_LINES = 4
MARGIN = 28
CHANNEL = 22  # left of the first slot: where rework arrows climb between rows
GAP_W = 108  # the wait slot before each box
BOX_W = 170
SLOT_W = GAP_W + BOX_W
HEADER_H = 22
LANE_H = 18
LINE = 15  # figure line height
NAME_SIZE = 13
NAME_LINE = 16
SMALL = 11
LINE_SMALL = 15  # line height of wrapped small text
LADDER_H = 58
ROW_GAP = 30
PAD = 8

# Light header bands per kind: the kind is also written out, so colour is never the only cue.
KIND_BAND = {
    "work": "#E9ECEF",
    "handoff": "#D6EFEC",
    "approval": "#E8DDF0",
    "release_gate": "#FBE3D6",
    "queue": "#FDEFD9",
}
KIND_LABEL = {
    "work": "",
    "handoff": "handoff",
    "approval": "approval",
    "release_gate": "release gate",
    "queue": "queue",
}

# -- text measuring -----------------------------------------------------------------------------

# Advance widths (per em) of Liberation Sans / Arial, grouped: close enough to wrap and to keep
# labels apart, with a little slack added by text_width.
_NARROW = set("iljI|!.,:;'` ")
_SEMI = set('frt()[]-/\\"*')
_WIDE = set("mwMW@%")
_CAPS_W = 0.68


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """An estimate of the rendered width of ``text`` in pixels (slightly generous)."""
    em = 0.0
    for ch in text:
        if ch in _NARROW:
            em += 0.28
        elif ch in _SEMI:
            em += 0.36
        elif ch in _WIDE:
            em += 0.86
        elif ch.isupper():
            em += _CAPS_W
        elif ch in "–—…·×≈":
            em += 0.75 if ch in "—…" else 0.56
        else:
            em += 0.56
    return em * size * (1.08 if bold else 1.0) * 1.04


def wrap(
    text: str, width: float, size: float, *, bold: bool = False, max_lines: int = MAX_NAME_LINES
) -> list[str]:
    """Greedy word wrap to ``width`` pixels; over-long words are split, extra lines end in an ellipsis."""
    words: list[str] = []
    for word in text.split():
        while text_width(word, size, bold=bold) > width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and text_width(word[:cut] + "-", size, bold=bold) > width:
                cut -= 1
            words.append(word[:cut] + "-")
            word = word[cut:]
        words.append(word)
    lines: list[str] = []
    for word in words:
        joiner = "" if lines and lines[-1].endswith("-") and not lines[-1].endswith(" -") else " "
        if lines and text_width(lines[-1] + joiner + word, size, bold=bold) <= width:
            lines[-1] = lines[-1] + joiner + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and text_width(last + "…", size, bold=bold) > width:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last.rstrip() + "…"]
    return lines or [""]


def fit(text: str, width: float, size: float, *, bold: bool = False) -> str:
    """One line cut with an ellipsis to fit ``width``."""
    if text_width(text, size, bold=bold) <= width:
        return text
    while text and text_width(text + "…", size, bold=bold) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def days(value: float | None) -> str:
    """A number of days as a room reads it: 0.5 d, 4 d, 10.5 d, 37 d."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value >= 20:
        return f"{value:.0f} d"
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text} d"


# -- what each step shows -------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One figure of a step (touch or wait): what to show and whether it was measured."""

    value: float
    measured: bool
    detail: str = ""
    """A second line: the estimate's range, or the measured 85th percentile."""
    estimate: float | None = None
    """The wall's estimate, shown beside a measured figure."""
    flagged: bool = False


@dataclass(frozen=True)
class StepView:
    name: str
    kind: str
    owner: str
    touch: Figure
    wait: Figure
    visits: float = 1.0
    cadence: float | None = None
    items: int | None = None

    @property
    def measured(self) -> bool:
        return self.touch.measured or self.wait.measured


def _views(
    figures: MapFigures, comparison: MapVsData | None, *, discovered: bool = False
) -> list[StepView]:
    """One view per step; a ``discovered`` map's estimates are the data's own means, so a measured
    step shows no "est." beside its figures (there is no wall estimate to compare with)."""
    compared = (
        {}
        if comparison is None
        else {r["step"]: r for r in comparison.table.to_dict(orient="records")}
    )
    views = []
    for r in figures.table.to_dict(orient="records"):
        c = compared.get(r["step"])
        measured = c is not None and c["basis"] == "measured"
        touch_range = (
            f"{days(r['touch_low'])}–{days(r['touch_high'])}"
            if r["touch_high"] > r["touch_low"]
            else ""
        )
        wait_range = (
            f"{days(r['wait_low'])}–{days(r['wait_high'])}"
            if r["wait_high"] > r["wait_low"]
            else ""
        )
        if measured:
            assert c is not None
            flag = c["note"]
            touch = Figure(
                c["touch_p50"],
                True,
                f"p85 {days(c['touch_p85'])}",
                None if discovered else r["touch"],
                "touch" in flag and not discovered,
            )
            wait = Figure(
                c["wait_p50"],
                True,
                f"p85 {days(c['wait_p85'])}",
                None if discovered else r["wait"],
                "wait" in flag and not discovered,
            )
        else:
            touch = Figure(r["touch"], False, touch_range)
            wait = Figure(r["wait"], False, wait_range)
        cadence = r["batch_every_days"] if r["batch_every_days"] == r["batch_every_days"] else None
        views.append(
            StepView(
                name=r["step"],
                kind=r["kind"],
                # a step without an owner beside steps with one reads as NaN in the table
                owner=r["owner"] if isinstance(r["owner"], str) else "",
                touch=touch,
                wait=wait,
                visits=float(r["visits"]),
                cadence=cadence,
                items=int(c["items"]) if measured and c is not None else None,
            )
        )
    return views


# -- layout -----------------------------------------------------------------------------------------


@dataclass
class _Row:
    index: int
    steps: list[int]
    lanes: list[int] = field(default_factory=list)  # rework loop indexes with a lane above this row
    top: float = 0.0

    @property
    def lanes_h(self) -> float:
        return len(self.lanes) * LANE_H + (14 if self.lanes else 0)


@dataclass
class _Layout:
    per_row: int
    rows: list[_Row]
    box_h: float
    name_lines: dict[int, list[str]]
    width: float
    height: float = 0.0

    def slot_x(self, i: int) -> float:
        col = i % self.per_row
        return MARGIN + CHANNEL + col * SLOT_W

    def box_x(self, i: int) -> float:
        return self.slot_x(i) + GAP_W

    def row_of(self, i: int) -> _Row:
        return self.rows[i // self.per_row]

    def box_y(self, i: int) -> float:
        row = self.row_of(i)
        return row.top + row.lanes_h

    def arrow_y(self, i: int) -> float:
        return self.box_y(i) + self.box_h - 14


def _figure_lines(v: StepView) -> int:
    lines = 1  # touch
    if v.touch.detail:
        lines += 1
    if v.touch.measured:
        lines += 1  # the estimate beside it
    if v.visits > 1 + 1e-9:
        lines += 1
    if v.items is not None:
        lines += 1
    return lines


def _layout(views: list[StepView], loops: list[tuple[int, int, float]]) -> _Layout:
    n = len(views)
    n_rows = max(1, math.ceil(n / MAX_PER_ROW))
    per_row = max(1, math.ceil(n / n_rows))
    inner = BOX_W - 2 * PAD
    names = {i: wrap(v.name, inner, NAME_SIZE, bold=True) for i, v in enumerate(views)}
    body = max(
        (len(names[i]) * NAME_LINE + (LINE if KIND_LABEL[v.kind] else 0) + _figure_lines(v) * LINE)
        for i, v in enumerate(views)
    )
    box_h = max(118.0, HEADER_H + 10 + body + 12)
    rows = [_Row(r, list(range(r * per_row, min(n, (r + 1) * per_row)))) for r in range(n_rows)]
    for k, (src, dst, _share) in enumerate(loops):
        for r in {src // per_row, dst // per_row}:
            rows[r].lanes.append(k)
    width = MARGIN * 2 + CHANNEL + per_row * SLOT_W
    return _Layout(per_row=per_row, rows=rows, box_h=box_h, name_lines=names, width=width)


# -- SVG pieces -------------------------------------------------------------------------------------


class _Svg:
    """Collects SVG elements; every text is one line, so its box can be checked for overlaps."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def text(
        self,
        x: float,
        y: float,
        content: str,
        *,
        size: float = SMALL,
        bold: bool = False,
        italic: bool = False,
        fill: str = INK,
        anchor: str = "start",
        cls: str | None = None,
    ) -> None:
        attrs = [f'x="{x:.1f}"', f'y="{y:.1f}"', f'font-size="{size:g}"', f"fill={quoteattr(fill)}"]
        if anchor != "start":
            attrs.append(f'text-anchor="{anchor}"')
        if bold:
            attrs.append('font-weight="bold"')
        if italic:
            attrs.append('font-style="italic"')
        if cls:
            attrs.append(f'class="{cls}"')
        self.add(f"<text {' '.join(attrs)}>{escape(content)}</text>")


def _kind_mark(svg: _Svg, kind: str, x: float, y: float) -> None:
    """A small symbol at the right of a box header: the kind at a glance, besides its name."""
    if kind == "approval":  # a decision diamond
        svg.add(
            f'<path class="mark approval" d="M{x} {y - 7} L{x + 7} {y} L{x} {y + 7} L{x - 7} {y} Z" fill="#8E5BA8" stroke="none"/>'
        )
    elif kind == "handoff":  # a baton passed on: two chevrons
        svg.add(
            f'<path class="mark handoff" d="M{x - 8} {y - 6} L{x - 2} {y} L{x - 8} {y + 6} M{x} {y - 6} L{x + 6} {y} L{x} {y + 6}" fill="none" stroke="#2A9D8F" stroke-width="2.2"/>'
        )
    elif kind == "release_gate":  # a gate: two posts and a bar
        svg.add(
            f'<path class="mark gate" d="M{x - 7} {y + 7} L{x - 7} {y - 7} M{x + 7} {y + 7} L{x + 7} {y - 7} M{x - 7} {y - 3} L{x + 7} {y - 3} M{x - 7} {y + 2} L{x + 7} {y + 2}" fill="none" stroke="#E76F51" stroke-width="2.2"/>'
        )
    elif kind == "queue":  # an inventory triangle
        svg.add(
            f'<path class="mark queue" d="M{x} {y - 7} L{x + 7} {y + 6} L{x - 7} {y + 6} Z" fill="{WAIT}" stroke="{INK}" stroke-width="0.8"/>'
        )


def _box(svg: _Svg, lay: _Layout, i: int, v: StepView) -> None:
    x, y, h = lay.box_x(i), lay.box_y(i), lay.box_h
    basis = "measured" if v.measured else "estimate"
    dash = "" if v.measured else ' stroke-dasharray="6 4"'
    svg.add(
        f'<g class="step" data-step={quoteattr(v.name)} data-kind="{v.kind}" data-basis="{basis}">'
    )
    svg.add(
        f"<title>{escape(v.name)}{' — ' + escape(v.owner) if v.owner else ''} ({basis})</title>"
    )
    svg.add(
        f'<rect class="box" x="{x}" y="{y}" width="{BOX_W}" height="{h:.1f}" rx="4" fill="white" stroke="{INK}" stroke-width="1.4"{dash}/>'
    )
    svg.add(
        f'<path d="M{x + 0.7} {y + HEADER_H} L{x + BOX_W - 0.7} {y + HEADER_H} L{x + BOX_W - 0.7} {y + 4} Q{x + BOX_W - 0.7} {y + 0.7} {x + BOX_W - 4} {y + 0.7} L{x + 4} {y + 0.7} Q{x + 0.7} {y + 0.7} {x + 0.7} {y + 4} Z" fill="{KIND_BAND.get(v.kind, "#E9ECEF")}"/>'
    )
    owner_w = BOX_W - 2 * PAD - (18 if v.kind != "work" else 0)
    svg.text(
        x + PAD,
        y + 15,
        fit(v.owner or "(no owner)", owner_w, SMALL, bold=True),
        bold=True,
        fill=INK if v.owner else MUTED,
    )
    _kind_mark(svg, v.kind, x + BOX_W - 14, y + HEADER_H / 2)
    cy = y + HEADER_H + 8
    for line in lay.name_lines[i]:
        cy += NAME_LINE
        svg.text(x + PAD, cy - 3, line, size=NAME_SIZE, bold=True)
    label = KIND_LABEL[v.kind]
    if label:
        if v.cadence:
            label += f" · every {days(v.cadence)}"
        cy += LINE
        svg.text(x + PAD, cy - 3, fit(label, BOX_W - 2 * PAD, SMALL), fill=MUTED)
    cy += 4
    t = v.touch
    cy += LINE
    svg.text(
        x + PAD,
        cy - 3,
        f"touch {'' if t.measured else '≈ '}{days(t.value)}",
        bold=True,
        italic=not t.measured,
        fill=TOUCH,
        cls="figure measured" if t.measured else "figure estimate",
    )
    if t.detail:
        cy += LINE
        svg.text(
            x + PAD,
            cy - 3,
            t.detail if t.measured else f"range {t.detail}",
            italic=not t.measured,
            fill=MUTED,
        )
    if t.measured and t.estimate is not None:
        cy += LINE
        svg.text(
            x + PAD,
            cy - 3,
            f"est. {days(t.estimate)}" + ("  ≠ data" if t.flagged else ""),
            italic=True,
            bold=t.flagged,
            fill=SIGNAL if t.flagged else MUTED,
            cls="figure estimate",
        )
    if v.visits > 1 + 1e-9:
        cy += LINE
        svg.text(x + PAD, cy - 3, f"×{v.visits:.2f} visits (rework)", italic=True, fill=MUTED)
    if v.items is not None:
        cy += LINE
        svg.text(x + PAD, cy - 3, f"{v.items} items measured", fill=MUTED)
    svg.add("</g>")


def _wait(svg: _Svg, lay: _Layout, i: int, v: StepView) -> None:
    """The wait before step i: an inventory triangle in the wait colour, with its figures."""
    cx = lay.slot_x(i) + GAP_W / 2
    y = lay.box_y(i)
    w = v.wait
    svg.add(
        f'<g class="wait" data-step={quoteattr(v.name)} data-basis="{"measured" if w.measured else "estimate"}">'
    )
    dash = "" if w.measured else ' stroke-dasharray="3 2"'
    svg.add(
        f'<path class="triangle" d="M{cx} {y + 8} L{cx + 17} {y + 36} L{cx - 17} {y + 36} Z" fill="{WAIT}" stroke="{INK}" stroke-width="1"{dash}/>'
    )
    svg.text(cx, y + 31, "W", size=10, bold=True, anchor="middle")
    ly = y + 54
    svg.text(
        cx,
        ly,
        f"{'' if w.measured else '≈ '}{days(w.value)}",
        size=13,
        bold=True,
        italic=not w.measured,
        anchor="middle",
        cls="figure measured" if w.measured else "figure estimate",
    )
    if v.cadence:
        ly += LINE - 1
        svg.text(
            cx, ly, f"batch / {days(v.cadence)}", italic=not w.measured, anchor="middle", fill=MUTED
        )
    if w.detail:
        ly += LINE - 1
        svg.text(
            cx,
            ly,
            fit(w.detail, GAP_W - 12, SMALL),
            italic=not w.measured,
            anchor="middle",
            fill=MUTED,
        )
    if w.measured and w.estimate is not None:
        ly += LINE - 1
        svg.text(
            cx,
            ly,
            f"est. {days(w.estimate)}" + (" ≠" if w.flagged else ""),
            italic=True,
            bold=w.flagged,
            anchor="middle",
            fill=SIGNAL if w.flagged else MUTED,
            cls="figure estimate",
        )
    svg.add("</g>")


def _flow_arrow(svg: _Svg, lay: _Layout, i: int) -> None:
    """The push arrow into step i: across its wait slot, or wrapping from the row above."""
    y = lay.arrow_y(i)
    end = lay.box_x(i) - 2
    if i == 0:
        start = f"M{lay.slot_x(i) + 2} {y}"
    elif i % lay.per_row == 0:
        prev_y = lay.arrow_y(i - 1)
        out_x = lay.box_x(i - 1) + BOX_W + 10
        row = lay.row_of(i - 1)
        down = row.top + row.lanes_h + lay.box_h + LADDER_H + ROW_GAP / 2 + 4
        in_x = lay.slot_x(i) + 3
        start = f"M{lay.box_x(i - 1) + BOX_W} {prev_y} L{out_x} {prev_y} L{out_x} {down} L{in_x} {down} L{in_x} {y}"
    else:
        start = f"M{lay.box_x(i - 1) + BOX_W} {y}"
    svg.add(
        f'<path class="flow" d="{start} L{end} {y}" fill="none" stroke="{MUTED}" stroke-width="1.6" marker-end="url(#arrow)"/>'
    )


def _rework(svg: _Svg, lay: _Layout, k: int, src: int, dst: int, share: float) -> None:
    """An arrow from the top of the step items leave back to the step they return to."""

    def lane_y(row: _Row) -> float:
        return row.top + 14 + (row.lanes.index(k) + 0.5) * LANE_H

    # Leave from the right half of a box and return into the left half, so a loop onto the same
    # step (or its neighbour) still shows as an arrow.
    sx = lay.box_x(src) + BOX_W - 30
    dx = lay.box_x(dst) + 30
    rs, rd = lay.row_of(src), lay.row_of(dst)
    sy, dy = lay.box_y(src), lay.box_y(dst)
    ys, yd = lane_y(rs), lane_y(rd)
    if rs is rd:
        d = f"M{sx} {sy} L{sx} {ys} L{dx} {ys} L{dx} {dy - 2}"
        label_x = (sx + dx) / 2
    else:
        cx = MARGIN + 4 + (k % 4) * 4
        d = f"M{sx} {sy} L{sx} {ys} L{cx} {ys} L{cx} {yd} L{dx} {yd} L{dx} {dy - 2}"
        label_x = (sx + lay.slot_x(src)) / 2
    svg.add(
        f'<path class="rework" data-from={quoteattr(str(src))} data-to={quoteattr(str(dst))} d="{d}" fill="none" stroke="{SIGNAL}" stroke-width="1.5" stroke-dasharray="5 3" marker-end="url(#arrow-rework)"/>'
    )
    label = f"{share:.0%} back"
    w = text_width(label, 10.5) + 8
    # Above its own lane, on a white ground, so the dashed line itself stays visible.
    svg.add(
        f'<rect x="{label_x - w / 2:.1f}" y="{ys - 13:.1f}" width="{w:.1f}" height="12" fill="white"/>'
    )
    svg.text(label_x, ys - 3, label, size=10.5, anchor="middle", fill=SIGNAL, cls="rework-label")


def _ladder(svg: _Svg, lay: _Layout, row: _Row, views: list[StepView]) -> None:
    """Under each row: wait on the upper rung (under the triangles), touch on the lower (under boxes)."""
    top = row.top + row.lanes_h + lay.box_h + 8
    up, low = top + 16, top + 38
    parts = []
    for i in row.steps:
        gx, bx = lay.slot_x(i), lay.box_x(i)
        v = views[i]
        parts.append(
            f'<path d="M{gx + 4} {up} L{bx} {up}" stroke="{WAIT}" stroke-width="4" fill="none" class="rung wait"/>'
        )
        parts.append(
            f'<path d="M{bx} {up} L{bx} {low} M{bx + BOX_W} {low} L{bx + BOX_W} {up}" stroke="{MUTED}" stroke-width="1" fill="none"/>'
        )
        parts.append(
            f'<path d="M{bx} {low} L{bx + BOX_W} {low}" stroke="{TOUCH}" stroke-width="4" fill="none" class="rung touch"/>'
        )
        for p in parts:
            svg.add(p)
        parts.clear()
        svg.text(
            gx + GAP_W / 2 + 2,
            up - 5,
            days(v.wait.value),
            size=10.5,
            italic=not v.wait.measured,
            anchor="middle",
            fill=INK,
        )
        svg.text(
            bx + BOX_W / 2,
            low + 14,
            days(v.touch.value),
            size=10.5,
            italic=not v.touch.measured,
            anchor="middle",
            fill=INK,
        )


def _constraint(svg: _Svg, lay: _Layout, i: int) -> None:
    """Circle the constraint the way a facilitator does: a loop around its queue and its box."""
    x0 = lay.slot_x(i) + 6
    x1 = lay.box_x(i) + BOX_W + 7
    y0 = lay.box_y(i) - 7
    y1 = lay.box_y(i) + lay.box_h + 7
    svg.add(
        f'<rect class="constraint" x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" rx="26" fill="none" stroke="{SIGNAL}" stroke-width="3"/>'
    )


def _defs() -> str:
    return (
        "<defs>"
        f'<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0 L10 5 L0 10 Z" fill="{MUTED}"/></marker>'
        f'<marker id="arrow-rework" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0 L10 5 L0 10 Z" fill="{SIGNAL}"/></marker>'
        "</defs>"
    )


def _legend(svg: _Svg, x: float, y: float) -> None:
    items = [
        (
            "touch",
            lambda x0: f'<rect x="{x0}" y="{y - 9}" width="14" height="10" fill="{TOUCH}"/>',
            False,
        ),
        (
            "wait",
            lambda x0: (
                f'<path d="M{x0 + 7} {y - 11} L{x0 + 14} {y + 1} L{x0} {y + 1} Z" fill="{WAIT}"/>'
            ),
            False,
        ),
        (
            "measured",
            lambda x0: (
                f'<rect x="{x0}" y="{y - 10}" width="14" height="11" fill="none" stroke="{INK}"/>'
            ),
            False,
        ),
        (
            "≈ estimate",
            lambda x0: (
                f'<rect x="{x0}" y="{y - 10}" width="14" height="11" fill="none" stroke="{INK}" stroke-dasharray="3 2"/>'
            ),
            True,
        ),
        (
            "rework",
            lambda x0: (
                f'<path d="M{x0} {y - 4} L{x0 + 14} {y - 4}" stroke="{SIGNAL}" stroke-dasharray="4 2" stroke-width="1.5"/>'
            ),
            False,
        ),
        (
            "constraint",
            lambda x0: (
                f'<rect x="{x0}" y="{y - 11}" width="16" height="13" rx="6" fill="none" stroke="{SIGNAL}" stroke-width="2"/>'
            ),
            False,
        ),
    ]
    cx = x
    for label, mark, italic in items:
        svg.add(mark(cx))
        svg.text(cx + 20, y, label, italic=italic, fill=INK, cls="legend")
        cx += 20 + text_width(label, SMALL) + 16


def _totals(
    svg: _Svg, lay: _Layout, views: list[StepView], figures: MapFigures, top: float
) -> float:
    touch = sum(v.touch.value for v in views)
    wait = sum(v.wait.value for v in views)
    lead = touch + wait
    eff = touch / lead if lead > 0 else 0.0
    mixed = any(v.measured for v in views)
    t = figures.totals
    x: float = MARGIN + CHANNEL
    width = lay.width - x - MARGIN
    svg.add('<g class="totals">')
    head = [f"Lead time {days(lead)}"]
    if not mixed and t["lead_high"] > t["lead_low"]:
        head[0] += f" ({days(t['lead_low'])}–{days(t['lead_high'])})"
    head += [f"Touch {days(touch)}", f"Wait {days(wait)}", f"Flow efficiency {eff:.0%}"]
    cx = x
    for k, part in enumerate(head):
        fill = (
            TOUCH if part.startswith("Touch") else ("#B86E00" if part.startswith("Wait") else INK)
        )
        svg.text(cx, top + 16, part, size=15, bold=True, fill=fill, cls="total")
        cx += text_width(part, 15, bold=True) + 26
        _ = k
    # To scale: each step's wait then its touch, so the thin blue slivers tell the story.
    bar_y = top + 28
    svg.add(f'<rect x="{x}" y="{bar_y}" width="{width}" height="16" fill="#F4F5F7"/>')
    pos = x
    for v in views:
        for value, colour, what in ((v.wait.value, WAIT, "wait"), (v.touch.value, TOUCH, "touch")):
            w = width * value / lead if lead > 0 else 0
            if w > 0:
                svg.add(
                    f'<rect class="timeline {what}" x="{pos:.2f}" y="{bar_y}" width="{w:.2f}" height="16" fill="{colour}"><title>{escape(v.name)}: {what} {days(value)}</title></rect>'
                )
            pos += w
    note = "Timeline to scale: each step's wait, then its touch, in flow order."
    if mixed:
        note += " Measured steps show the median item; the totals add up the steps shown."
    else:
        note += " All figures are the wall's estimates (rework and release batching included)."
    # A narrow map (one or two steps) wraps the note rather than running off the picture.
    lines = wrap(note, width, SMALL, max_lines=6)
    for k, line in enumerate(lines):
        svg.text(x, bar_y + 32 + k * LINE_SMALL, line, fill=MUTED, cls="note")
    svg.add("</g>")
    return bar_y + 44 + (len(lines) - 1) * LINE_SMALL


@dataclass(frozen=True)
class MapPicture:
    """The rendered map: SVG text and its size; save it as .svg or .png, or show it in Jupyter."""

    svg: str
    width: float
    height: float

    def _repr_svg_(self) -> str:
        return self.svg

    def png(self, scale: float = 2.0) -> bytes:
        return bytes(vlc.svg_to_png(self.svg, scale=scale))

    def save(self, path: str | Path, *, scale: float = 2.0) -> Path:
        """Write the picture; the format follows the extension (.svg or .png)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".svg":
            path.write_text(self.svg, encoding="utf-8")
        elif suffix == ".png":
            path.write_bytes(self.png(scale))
        else:
            raise InputError(f"cannot tell the picture format from '{path.name}'; use .svg or .png")
        return path


def draw_map(
    stream: Stream,
    *,
    comparison: MapVsData | None = None,
    constraint: ConstraintReport | str | None = None,
    subtitle: str | None = None,
    discovered: bool = False,
) -> MapPicture:
    """Draw the value stream map of ``stream``, with measured figures where ``comparison`` has them.

    ``discovered``: the steps come from the data (``streammap.map_to_draw``), not from the wall.
    """
    if not stream.steps:
        raise InputError("the map has no steps to draw yet: add steps to the stream file")
    figures = comparison.figures if comparison is not None else map_figures(stream)
    views = _views(figures, comparison, discovered=discovered)
    index = {v.name: i for i, v in enumerate(views)}
    loops = [(index[r.from_step], index[r.to_step], r.share) for r in stream.rework]
    lay = _layout(views, loops)
    circled = (
        constraint if isinstance(constraint, str) or constraint is None else constraint.constraint
    )

    svg = _Svg()
    title_y = MARGIN + 10
    svg.text(
        MARGIN,
        title_y,
        fit(stream.name, lay.width - 2 * MARGIN, 20, bold=True),
        size=20,
        bold=True,
        cls="title",
    )
    scope = []
    if stream.product:
        scope.append(stream.product)
    if stream.scope.start or stream.scope.finish:
        scope.append(
            f"from {stream.scope.start or views[0].name} to {stream.scope.finish or views[-1].name}"
        )
    scope.append(f"{len(views)} steps" + (", as the data shows them" if discovered else ""))
    if subtitle:
        scope.append(subtitle)
    svg.text(
        MARGIN,
        title_y + 22,
        fit(" · ".join(scope), lay.width - 2 * MARGIN, 12.5),
        size=12.5,
        fill=MUTED,
        cls="subtitle",
    )
    _legend(svg, MARGIN, title_y + 48)

    top: float = title_y + 68
    for row in lay.rows:
        row.top = top
        top += row.lanes_h + lay.box_h + LADDER_H + ROW_GAP
    for row in lay.rows:
        _ladder(svg, lay, row, views)
    for i in range(len(views)):
        _flow_arrow(svg, lay, i)
    for i, v in enumerate(views):
        _wait(svg, lay, i, v)
        _box(svg, lay, i, v)
    for k, (src, dst, share) in enumerate(loops):
        _rework(svg, lay, k, src, dst, share)
    if circled is not None and circled in index:
        i = index[circled]
        _constraint(svg, lay, i)
        # The word under the box, on the ladder's free line between the rungs.
        svg.text(
            lay.box_x(i) + BOX_W / 2,
            lay.box_y(i) + lay.box_h + 36,
            "CONSTRAINT",
            size=10.5,
            bold=True,
            anchor="middle",
            fill=SIGNAL,
            cls="constraint-label",
        )
    bottom = _totals(svg, lay, views, figures, top - ROW_GAP + 6)
    lay.height = bottom + MARGIN - 10

    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" height="{lay.height:.0f}" '
        f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" font-family="{FONT}" class="valuestream-map">'
    )
    body = "\n".join(
        [head, _defs(), '<rect width="100%" height="100%" fill="white"/>', *svg.parts, "</svg>"]
    )
    return MapPicture(svg=body, width=float(f"{lay.width:.0f}"), height=float(f"{lay.height:.0f}"))


__all__ = ["MapPicture", "draw_map", "text_width", "wrap"]
