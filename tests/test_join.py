"""One item across sources (Jira, GitHub, a CSV), and the source interface a newcomer implements."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from valuestream.flow import Flow
from valuestream.model import Workflow
from valuestream.sources.base import (
    Histories,
    Run,
    Source,
    available_sources,
    load_source,
)
from valuestream.sources.join import KeyPattern, rekey
from valuestream.workspace import Workspace, import_source

UTC = dt.UTC
T0 = dt.datetime(2024, 9, 2, 9, 0, tzinfo=UTC)


def d(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


class ListSource:
    """The smallest source: histories given in memory (what docs/sources.md shows)."""

    name = "memory"

    def __init__(self, histories: Histories, location: str = "memory") -> None:
        self.histories = histories
        self._location = location

    @property
    def location(self) -> str:
        return self._location

    def read(self, run: Run) -> Iterator[Histories]:
        yield self.histories


def test_key_pattern_finds_keys_in_titles_then_branches() -> None:
    k = KeyPattern()
    assert k.find("ABC-12 add legal text", "whatever") == "ABC-12"
    assert k.find("Fix typo", "feature/abc-7-typo") == "ABC-7"
    assert k.find("Fix typo", None) is None
    assert KeyPattern(r"\[(\w+-\d+)\]", upper=False).find("[ops-3] rotate keys") == "ops-3"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["PR opened", "merged", "in review"]),
            st.integers(0, 1000),
        ),
        min_size=1,
    )
)
def test_rekey_of_single_origins_keeps_every_transition(rows: list[tuple[str, str, int]]) -> None:
    # each original item maps to its own key: nothing folds, so the rows come back renamed, all of them
    h = Histories.from_rows([{"item": i, "state": s, "entered_at": d(m / 24)} for i, s, m in rows])
    out = rekey(h, {"a": "K-1", "b": "K-2", "c": "K-3"})
    renamed = sorted((("K-" + str("abc".index(i) + 1)), s, d(m / 24)) for i, s, m in rows)
    got = sorted(
        zip(
            out.transitions["item"].to_pylist(),
            out.transitions["state"].to_pylist(),
            out.transitions["entered_at"].to_pylist(),
            strict=True,
        )
    )
    assert got == renamed


def test_rekey_folds_several_pull_requests_first_entry_last_merge() -> None:
    h = Histories.from_rows(
        [
            {"item": "r#1", "state": "PR opened", "entered_at": d(1)},
            {"item": "r#1", "state": "merged", "entered_at": d(2)},
            {"item": "r#2", "state": "PR opened", "entered_at": d(3)},
            {"item": "r#2", "state": "merged", "entered_at": d(5)},
            {"item": "r#9", "state": "PR opened", "entered_at": d(4)},
        ],
        flags=[{"item": "r#2", "raised_at": d(3.5), "cleared_at": d(4)}],
    )
    out = rekey(h, {"r#1": "ABC-1", "r#2": "ABC-1"}, keep_unmatched=False)
    rows = sorted(
        zip(
            out.transitions["item"].to_pylist(),
            out.transitions["state"].to_pylist(),
            out.transitions["entered_at"].to_pylist(),
            strict=True,
        )
    )
    assert rows == [("ABC-1", "PR opened", d(1)), ("ABC-1", "merged", d(5))]
    assert out.flags is not None and out.flags["item"].to_pylist() == ["ABC-1"]


def test_a_stream_from_jira_discovery_through_github_merge_to_legal_approval(
    tmp_path: Path,
) -> None:
    """Three sources, one item: lead time runs from Jira's first state to the CSV's approval."""
    ws = Workspace(tmp_path / "ws.duckdb")
    jira = Histories.from_rows(
        [
            {"item": "ABC-1", "state": "Discovered", "entered_at": d(0)},
            {"item": "ABC-1", "state": "In Progress", "entered_at": d(2)},
            {"item": "ABC-2", "state": "Discovered", "entered_at": d(1)},
        ],
        items=[
            {"item": "ABC-1", "title": "Legal text", "type": "Story", "attributes": {"labels": []}}
        ],
    )
    github = Histories.from_rows(
        [
            {"item": "acme/shop#7", "state": "PR opened", "entered_at": d(3)},
            {"item": "acme/shop#7", "state": "merged", "entered_at": d(4)},
        ]
    )
    keys = KeyPattern().keys({"acme/shop#7": ("ABC-1: legal text", "abc-1-legal")})
    import_source(ws, ListSource(jira, "jira"), source_name="jira")
    import_source(
        ws, ListSource(github, "gh"), source_name="github", transform=lambda h: rekey(h, keys)
    )
    csv = tmp_path / "legal.csv"
    csv.write_text(
        "item,state,entered_at\nABC-1,waiting for legal,2024-09-06T09:00:00Z\nABC-1,legal approved,2024-09-09T09:00:00Z\n"
    )
    ws.import_file(csv, source="legal")
    workflow = Workflow(
        start="Discovered",
        finish="legal approved",
        touch=("In Progress",),
        wait=("PR opened", "merged", "waiting for legal"),
    )
    items = Flow.of(ws, workflow).items().set_index("item")
    # entered d(0), approved 2024-09-09 09:00 = d(7): 7 days; touch = In Progress d(2)..d(3) = 1 day
    assert items.loc["ABC-1", "lead_time_days"] == pytest.approx(7.0)
    assert items.loc["ABC-1", "touch_days"] == pytest.approx(1.0)
    assert items.loc["ABC-1", "wait_days"] == pytest.approx(6.0)
    assert items.loc["ABC-1", "title"] == "Legal text"


def test_a_source_is_a_protocol_and_imports_in_one_transaction(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws.duckdb")
    good = ListSource(Histories.from_rows([{"item": "X-1", "state": "a", "entered_at": d(0)}]))
    assert isinstance(good, Source)
    import_source(ws, good)

    class Broken(ListSource):
        def read(self, run: Run) -> Iterator[Histories]:
            yield Histories.from_rows([{"item": "X-2", "state": "a", "entered_at": d(1)}])
            raise ConnectionError("dropped mid-way")

    with pytest.raises(ConnectionError):
        import_source(ws, Broken(Histories.from_rows([])), full=True)
    assert ws.counts()["items"] == 1  # X-2 was yielded but never saved


def test_times_without_a_zone_are_refused() -> None:
    with pytest.raises(Exception, match="no time zone"):
        Histories.from_rows([{"item": "X-1", "state": "a", "entered_at": dt.datetime(2024, 1, 1)}])


def test_sources_are_discovered_through_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A separate package registers a source in the valuestream.sources group and we find it."""
    pkg = tmp_path / "site"
    (pkg / "vs_linear").mkdir(parents=True)
    (pkg / "vs_linear" / "__init__.py").write_text(
        "class LinearSource:\n    name = 'linear'\n    location = 'linear.app'\n"
        "    def read(self, run):\n        return iter(())\n"
    )
    info = pkg / "vs_linear-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vs-linear\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[valuestream.sources]\nlinear = vs_linear:LinearSource\n"
    )
    monkeypatch.syspath_prepend(str(pkg))
    assert "linear" in available_sources()
    factory = load_source("linear")
    assert isinstance(factory(), Source)
    with pytest.raises(Exception, match="no source named 'nope'"):
        load_source("nope")
    sys.modules.pop("vs_linear", None)
