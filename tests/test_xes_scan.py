"""The whole-document scan of XES logs: the same events as expat's streaming, whatever the markup.

One small log, written several ways (quoting, spacing, line ends, references, nested attributes,
comments): every variant must read into the same known transitions, and the scan must either give
them itself or leave the file to the streaming parser.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuestream.errors import InputError
from valuestream.sources import xes

LOG = """<?xml version="1.0" encoding="UTF-8" ?>
<!-- written by hand -->
<log xes.version="1.0">
\t<classifier name="Both" keys="concept:name lifecycle:transition"/>
\t<string key="origin" value="test"/>
\t<trace>
\t\t<string key="concept:name" value="A-1"/>
\t\t<int key="size" value="3"/>
\t\t<event>
\t\t\t<string key="concept:name" value="Design &amp; build"/>
\t\t\t<string key="lifecycle:transition" value="start"/>
\t\t\t<date key="time:timestamp" value="2024-01-01T09:00:00+00:00"/>
\t\t</event>
\t\t<event>
\t\t\t<string key="concept:name" value="Design &amp; build"/>
\t\t\t<string key="lifecycle:transition" value="complete"/>
\t\t\t<date key="time:timestamp" value="2024-01-02T09:00:00+00:00"/>
\t\t</event>
\t\t<event>
\t\t\t<string key="concept:name" value="O'Neill's review"/>
\t\t\t<list key="reviewers"><string key="who" value="x"/></list>
\t\t\t<string key="lifecycle:transition" value="start"/>
\t\t\t<date key="time:timestamp" value="2024-01-04T09:00:00+00:00"/>
\t\t</event>
\t\t<event>
\t\t\t<string key="concept:name" value="O'Neill's review"/>
\t\t\t<string key="lifecycle:transition" value="complete"/>
\t\t\t<date key="time:timestamp" value="2024-01-05T09:00:00+00:00"/>
\t\t</event>
\t</trace>
</log>
"""
# (state, entered_at) of trace A-1: work, the queue before the next work, work, the end
EXPECTED = [
    ("Design & build", "2024-01-01 09:00:00+00:00"),
    ("O'Neill's review (waiting)", "2024-01-02 09:00:00+00:00"),
    ("O'Neill's review", "2024-01-04 09:00:00+00:00"),
    ("(case complete)", "2024-01-05 09:00:00+00:00"),
]

VARIANTS = {
    "as written": (LOG, True),
    "spaced empty elements": (LOG.replace('"/>', '" />'), True),
    "CR LF line ends": (LOG.replace("\n", "\r\n"), True),
    "attributes in single quotes": (
        LOG.replace(
            'key="lifecycle:transition" value="start"', "key='lifecycle:transition' value='start'"
        ),
        True,
    ),
    "value before key": (
        LOG.replace(
            'key="lifecycle:transition" value="start"', 'value="start" key="lifecycle:transition"'
        ),
        True,
    ),
    "references and a line break inside values": (
        LOG.replace('value="A-1"', 'value="A-&#49;"').replace(
            "Design &amp; build", "Design &amp;\nbuild"
        ),
        True,
    ),
    "a comment inside the log": (
        LOG.replace("\t<trace>", "\t<!-- one trace -->\n\t<trace>"),
        False,
    ),
    "a '>' inside a value": (LOG.replace('value="A-1"', 'value="A-1" note="a &gt; b > c"'), False),
    "text between elements": (LOG.replace("\t</trace>", "\tstray text\n\t</trace>"), False),
    "another encoding": (LOG.replace("UTF-8", "ISO-8859-1"), False),
}


def _rows(log: xes.XesLog) -> list[tuple[str, str]]:
    return [(r["state"], str(r["entered_at"])) for r in log.transitions.to_pylist()]


@pytest.mark.parametrize("name", VARIANTS)
def test_every_way_of_writing_the_log_reads_the_same(tmp_path: Path, name: str) -> None:
    text, scanned = VARIANTS[name]
    path = tmp_path / "log.xes"
    path.write_bytes(text.encode("latin-1" if "ISO" in text else "utf-8"))
    log = xes.read_xes(path)
    assert _rows(log) == EXPECTED
    assert log.items.to_pylist()[0]["item"] == "A-1"
    assert '"size": 3' in log.items.to_pylist()[0]["attributes"]
    assert log.roles["O'Neill's review (waiting)"] == "wait"
    # the scan read it itself, or left it to expat
    assert (xes._scan_xes(path.read_bytes(), path, None) is not None) is scanned


def test_the_scan_and_the_stream_agree_on_states_from_a_classifier(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    path.write_text(LOG, encoding="utf-8")
    data = path.read_bytes()
    scanned = xes._scan_xes(data, path, "Both")
    assert scanned is not None and scanned.state_name == "concept:name+lifecycle:transition"
    assert scanned.state == [
        "Design & build+start",
        "Design & build+complete",
        "O'Neill's review+start",
        "O'Neill's review+complete",
    ]
    assert scanned == xes._parse_xes(io.BytesIO(data), path, "Both")


@pytest.mark.parametrize("ends", ["\n", "\r\n"])
def test_an_event_without_a_time_is_named_by_its_line(tmp_path: Path, ends: str) -> None:
    text = LOG.replace('\t\t\t<date key="time:timestamp" value="2024-01-04T09:00:00+00:00"/>\n', "")
    path = tmp_path / "log.xes"
    path.write_bytes(text.replace("\n", ends).encode("utf-8"))
    with pytest.raises(InputError) as exc:
        xes.read_xes(path)
    assert "event has no time:timestamp" in str(exc.value)
    assert exc.value.line == 19  # the third <event>


def test_malformed_xml_is_named_by_expat_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    path.write_text(
        LOG.replace(
            '\t\t</event>\n\t\t<event>\n\t\t\t<string key="concept:name" value="O\'',
            '\t\t<event>\n\t\t\t<string key="concept:name" value="O\'',
            1,
        ),
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="not well-formed XML: mismatched tag"):
        xes.read_xes(path)


def test_malformed_xml_far_into_the_file_is_named_before_what_the_scan_finds(tmp_path: Path) -> None:
    # The scan (which would say an event has no time) runs while expat checks the document piece
    # by piece; expat's verdict comes first, with the line counted across its pieces.
    no_time = LOG.replace('\t\t\t<date key="time:timestamp" value="2024-01-04T09:00:00+00:00"/>\n', "")
    head, tail = no_time.split("</log>")
    filler = "".join(
        f'\t<trace>\n\t\t<string key="concept:name" value="B-{k}"/>\n\t</trace>\n' for k in range(3000)
    )
    broken = '\t<trace>\n\t\t<string key="concept:name" value="C-1"/>\n\t</event>\n'
    text = head + filler + broken + "</log>" + tail
    assert len(text) > 2 * xes._PIECE
    path = tmp_path / "log.xes"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="not well-formed XML: mismatched tag") as exc:
        xes.read_xes(path)
    assert exc.value.line == (head + filler + broken).count("\n")  # the line of </event>


def test_a_document_that_is_no_log_says_so(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    path.write_text('<?xml version="1.0"?>\n<feed><entry/></feed>\n', encoding="utf-8")
    with pytest.raises(InputError, match="not an XES log: the document starts with <feed>"):
        xes.read_xes(path)


# -- the lifecycle rules, case by case ------------------------------------------------------------

MISSING = -(1 << 62)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _one_case(events: list[tuple[str, str | None, int, int]]) -> list[tuple[str, int, str]]:
    """The module docstring's lifecycle rules for one case, event by event, in plain Python:
    (activity, lifecycle, time, start time or MISSING) in -> (state, time, role) out."""
    times = [t for _, _, t, _ in events]
    lo = min(times + [s for *_, s in events if s != MISSING])
    hi = max(times)
    work, open_work, suspended = [], {}, set()
    marker, marker_at = events[0][0], events[0][2]
    for i, (a, life, t, s) in enumerate(events):
        kind = (life or "complete").lower()
        if s != MISSING:
            work.append((s, i, t, a, False))
        elif kind in ("start", "resume"):
            open_work.setdefault(a, []).append((t, i, kind == "resume" and a in suspended))
            suspended.discard(a)
        elif kind in xes.ENDS:
            if open_work.get(a):
                start, order, flag = open_work[a].pop(0)
                work.append((start, order, t, a, flag))
            elif kind == "complete":
                work.append((t, i, t, a, False))
            if kind == "suspend":
                suspended.add(a)
        elif t >= marker_at:
            marker, marker_at = a, t
    work += [(s, o, hi, a, f) for a, queue in open_work.items() for s, o, f in queue]
    rows, busy = [], lo
    for s, _, e, a, flag in sorted(work):
        if s > busy:
            rows.append(
                (
                    f"{a} (suspended)" if flag else f"{a} (waiting)",
                    busy,
                    "blocked" if flag else "wait",
                )
            )
        if s > busy or e > s or s == busy:
            rows.append((a, s, "touch"))
        busy = max(busy, e)
    if hi > busy:
        rows.append((f"{marker} (waiting)", busy, "wait"))
    return [*rows, (xes.END_STATE, hi, "finish")]


KINDS = [
    "start",
    "resume",
    "suspend",
    "complete",
    "COMPLETE",
    "ate_abort",
    "withdraw",
    "schedule",
    None,
]
EVENT = st.tuples(
    st.integers(0, 2),  # case
    st.sampled_from("ABC"),
    st.sampled_from(KINDS),
    st.integers(0, 30),  # time (hours)
    st.one_of(st.just(None), st.integers(0, 30)),  # pm4py's start_timestamp, rarely
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENT, min_size=1, max_size=25))
def test_lifecycle_of_all_cases_at_once_follows_the_rules_case_by_case(events: list) -> None:
    used = sorted({e[0] for e in events})
    ev = xes._Events()
    ev.trace = [used.index(e[0]) for e in events]
    ev.activity = [e[1] for e in events]
    ev.lifecycle = [e[2] for e in events]
    ev.case_names = [f"case {c}" for c in used]
    hour = 3_600_000_000
    times = np.array([e[3] * hour for e in events], dtype=np.int64)
    starts = np.array([MISSING if e[4] is None else e[4] * hour for e in events], dtype=np.int64)
    table, roles = xes._lifecycle_transitions(ev, times, starts, pa.array(ev.case_names))
    expected, expected_roles = [], {}
    for case in used:
        mine = [
            (e[1], e[2], int(times[i]), int(starts[i]))
            for i, e in enumerate(events)
            if e[0] == case
        ]
        for state, at, role in _one_case(mine):
            expected.append((f"case {case}", state, at))
            expected_roles.setdefault(state, role)
    got = [
        (r["item"], r["state"], int((r["entered_at"] - EPOCH).total_seconds() * 1_000_000))
        for r in table.to_pylist()
    ]
    assert got == expected
    assert list(roles.items()) == list(expected_roles.items())


# Markup the scan reads from the bytes around each element (white space eight bytes at a time,
# keys found quote by quote): each variant reads as the streaming parser reads it.
LONG_KEY = "k" * 150
MORE_VARIANTS = {
    "deep indentation": (LOG.replace("\t\t\t<", "\n" + " " * 40 + "<"), True),
    "blank lines everywhere": (LOG.replace("\n", "\n" + " \n" * 30), True),
    "no line end after the log": (LOG.rstrip(), True),
    "a long key": (LOG.replace('key="size"', 'key="size of the whole request"'), True),
    "a key longer than 128 bytes": (LOG.replace('key="origin"', f'key="{LONG_KEY}"'), True),
    "an attribute after the value": (
        LOG.replace('value="start"/>', 'value="start" by="me"/>'),
        True,
    ),
    "a type named by over seven letters": (
        LOG.replace("<list ", "<container ").replace("</list>", "</container>"),
        True,
    ),
    "tabs around the value": (LOG.replace('" value="', '"\tvalue="'), True),
}


@pytest.mark.parametrize("name", MORE_VARIANTS)
def test_the_scan_reads_other_spacing_and_attributes_as_the_stream_does(
    tmp_path: Path, name: str
) -> None:
    text, scanned = MORE_VARIANTS[name]
    path = tmp_path / "log.xes"
    path.write_text(text, encoding="utf-8")
    data = path.read_bytes()
    found = xes._scan_xes(data, path, None)
    assert (found is not None) is scanned
    assert found == xes._parse_xes(io.BytesIO(data), path)
    assert _rows(xes.read_xes(path)) == EXPECTED


def test_a_control_character_between_elements_is_expats_to_name(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    path.write_text(LOG.replace("\t</trace>", "\t\x0c</trace>"), encoding="utf-8")
    with pytest.raises(InputError, match="not well-formed XML"):
        xes.read_xes(path)
