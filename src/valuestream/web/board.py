"""The live board's map: versioned edits, conflict checks, and the figures every change recomputes.

The map is the workspace's saved map (the versions ``valuestream map --save`` writes): every edit
that changes it appends a version. An edit names the version it was based on. When the map moved
on since then, the edit still applies if nothing it touches changed (two people editing two
different steps both win); otherwise it is refused with the current map, for the page to show.

The figures come from the same functions ``valuestream map`` calls (``streammap``,
``constraint``, ``views.map_svg``): nothing is computed here.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from valuestream.errors import InputError, ValuestreamError
from valuestream.maps import SQL_APPEND, SQL_LATEST, SavedMap, load_map
from valuestream.model import Stream, _cross_checks, parse_stream
from valuestream.workspace import Workspace

EMPTY = "name: Value stream\n"
BOARD_COLUMNS = ["step", "kind", "visits", "touch", "wait", "lead", "wait_share", "missing"]


class Conflict(ValuestreamError):
    """The edit touches what changed since the version it was based on."""

    def __init__(self, message: str, touched: list[str]) -> None:
        super().__init__(message)
        self.touched = touched


class Refused(InputError):
    """The edit would make an invalid map (its problems say why)."""


# -- the templates a board can start from ------------------------------------------------------


def templates() -> dict[str, str]:
    """Starter maps by name: the package's discovery-to-adoption stream and two smaller ones."""
    starter = resources.files("valuestream").joinpath("samples/starter.yaml").read_text("utf-8")
    return {"Discovery to adoption": starter, **_SMALL}


_SMALL = {
    "Build to release (team slice)": """\
name: Build to release
scope: {start: Ready, finish: Released}
steps:
  - {name: Ready, kind: queue, owner: Product, touch_days: 0, wait_days: [2, 6]}
  - {name: Build, kind: work, owner: Engineering, touch_days: 3, wait_days: 1}
  - {name: Code review, kind: handoff, owner: Engineering, touch_days: 0.3, wait_days: [1, 3]}
  - {name: Test, kind: work, owner: QA, touch_days: 1, wait_days: 2}
  - {name: Released, kind: release_gate, owner: Ops, touch_days: 0.1, batch_every_days: 7}
rework:
  - {from: Test, to: Build, share: 0.25}
""",
    "Empty board": EMPTY,
}


# -- edits --------------------------------------------------------------------------------------


def _data(stream: Stream) -> dict[str, Any]:
    """The stream in its file form, as plain data to edit."""
    data: dict[str, Any] = json.loads(stream.model_dump_json(by_alias=True, exclude_defaults=True))
    return data


def _part(data: dict[str, Any], key: str) -> Any:
    """One part of a map an edit can touch: a step, the order, scope, rework, workflow, header."""
    if key.startswith("step:"):
        name = key[5:]
        return next((s for s in data.get("steps", []) if s["name"] == name), None)
    if key == "order":
        return [s["name"] for s in data.get("steps", [])]
    if key == "header":
        return (data.get("name"), data.get("product"))
    if key == "all":
        return data
    return data.get(key)


@dataclass(frozen=True)
class Edit:
    """One change to the map: what it touches (for the conflict check) and how to apply it."""

    kind: str
    touches: tuple[str, ...]
    payload: dict[str, Any]

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        data = json.loads(json.dumps(data))
        steps: list[dict[str, Any]] = data.setdefault("steps", [])
        p = self.payload
        names = [s["name"] for s in steps]
        if self.kind == "add_step":
            if p["step"]["name"] in names:
                raise Refused(f"there is already a step named '{p['step']['name']}'")
            at = len(steps) if p.get("at") is None else max(0, min(int(p["at"]), len(steps)))
            steps.insert(at, p["step"])
        elif self.kind == "update_step":
            i = _index(names, p["name"])
            new = p["step"]
            if new["name"] != p["name"]:
                if new["name"] in names:
                    raise Refused(f"there is already a step named '{new['name']}'")
                _rename(data, p["name"], new["name"])
            steps[i] = new
        elif self.kind == "delete_step":
            i = _index(names, p["name"])
            del steps[i]
            data["rework"] = [
                r for r in data.get("rework", []) if p["name"] not in (r["from"], r["to"])
            ]
            scope = data.get("scope", {})
            for end in ("start", "finish"):
                if scope.get(end) == p["name"]:
                    del scope[end]
        elif self.kind == "move_step":
            i = _index(names, p["name"])
            step = steps.pop(i)
            steps.insert(max(0, min(int(p["to"]), len(steps))), step)
        elif self.kind == "set":
            for key, value in p.items():
                if value is None or value == {} and key == "scope":
                    data.pop(key, None)
                else:
                    data[key] = value
        elif self.kind == "replace":
            return dict(p["data"])
        else:  # pragma: no cover - the API builds only the kinds above
            raise ValueError(self.kind)
        if not data.get("rework"):
            data.pop("rework", None)
        return data


def _index(names: list[str], name: str) -> int:
    if name not in names:
        raise Refused(f"there is no step named '{name}' on the map")
    return names.index(name)


def _rename(data: dict[str, Any], old: str, new: str) -> None:
    for loop in data.get("rework", []):
        for end in ("from", "to"):
            if loop[end] == old:
                loop[end] = new
    scope = data.get("scope", {})
    for end in ("start", "finish"):
        if scope.get(end) == old:
            scope[end] = new


def touches_for(kind: str, payload: dict[str, Any]) -> tuple[str, ...]:
    """The parts of the map an edit reads and writes."""
    if kind == "add_step":
        return (f"step:{payload['step']['name']}",)
    if kind == "update_step":
        keys = {f"step:{payload['name']}", f"step:{payload['step']['name']}"}
        if payload["step"]["name"] != payload["name"]:
            keys |= {"rework", "scope"}
        return tuple(sorted(keys))
    if kind == "delete_step":
        return (f"step:{payload['name']}", "rework", "scope")
    if kind == "move_step":
        return ("order",)
    if kind == "set":
        return tuple("header" if k in ("name", "product") else k for k in payload)
    return ("all",)


def validated(data: dict[str, Any], where: str = "the board") -> tuple[Stream, str]:
    """The map as a checked :class:`Stream` (the stream file's own checks) and the text it is saved as."""
    try:
        stream = Stream.model_validate(data)
    except ValidationError as exc:
        raise Refused(
            "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or where}: {e['msg']}" for e in exc.errors()
            )
        ) from None
    problems = _cross_checks(stream)
    if problems:
        raise Refused("; ".join(msg for _loc, msg in problems))
    return stream, stream_text(stream)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def stream_text(stream: Stream) -> str:
    """``Stream.to_yaml`` through libyaml when it is there: the same text, a fifth of the time."""
    return yaml.dump(_data(stream), Dumper=_DUMPER, sort_keys=False, allow_unicode=True)


# -- the board ----------------------------------------------------------------------------------


class Board:
    """The map in the workspace, edited by many people; one lock orders this server's writes."""

    def __init__(self, workspace: Workspace, *, initial: str | None = None) -> None:
        self.workspace = workspace
        self.lock = threading.Lock()
        self._flow_key: tuple[Any, ...] | None = None
        self._flow: Any = None
        self._state_cache: dict[int, dict[str, Any]] = {}
        self._pictures: dict[tuple[Any, ...], Any] = {}
        self._streams: dict[int, Stream] = {}
        self._seen: tuple[int, Any, str, dict[str, int]] | None = None
        self._reports: dict[tuple[Any, ...], str] = {}
        if initial is not None and self.latest() is None:
            parse_stream(initial, "the stream file")
            self._append(initial, None)

    # reading --------------------------------------------------------------------------------

    def _parsed(self, version: int, content: str) -> Stream:
        """The stream of a saved version, parsed once (versions never change)."""
        if version not in self._streams:
            if len(self._streams) > 64:
                self._streams.clear()
            self._streams[version] = parse_stream(content, f"map version {version}")
        return self._streams[version]

    def latest(self) -> SavedMap | None:
        if not self.workspace.path.exists():
            return None
        try:
            return load_map(self.workspace)
        except InputError:
            return None

    def version(self, number: int) -> SavedMap:
        return load_map(self.workspace, number)

    def current(self) -> tuple[int, Stream]:
        saved = self.latest()
        if saved is None:
            return 0, parse_stream(EMPTY)
        return saved.version, self._parsed(saved.version, saved.content)

    # writing --------------------------------------------------------------------------------

    def _append(self, content: str, expected: int | None) -> SavedMap | None:
        """Append ``content`` if the latest version is still ``expected``; None if it moved on."""
        with self.workspace.transaction() as con:
            latest = con.execute(SQL_LATEST).fetchone()
            now = int(latest[0]) if latest is not None else 0
            if expected is not None and now != expected:
                return None
            if latest is not None and latest[3] == content:
                return SavedMap(int(latest[0]), latest[1], latest[2], latest[3], new=False)
            name = parse_stream(content).name
            row = con.execute(SQL_APPEND, {"name": name, "content": content}).fetchone()
            assert row is not None
            return SavedMap(int(row[0]), row[1], name, content, new=True)

    def edit(self, base: int, kind: str, payload: dict[str, Any], *, text: str | None = None) -> SavedMap:
        """Apply one edit made on version ``base``; raises :class:`Conflict` or :class:`Refused`.

        Reading the latest version, checking what the edit touches and appending the new version
        happen in one transaction: no other writer (this server's or the CLI's) comes in between.
        ``text``: for a replacement, the stream file as written (kept, comments and all).
        """
        edit = Edit(kind, touches_for(kind, payload), payload)
        with self.lock, self.workspace.transaction() as con:
            latest = con.execute(SQL_LATEST).fetchone()
            now = int(latest[0]) if latest is not None else 0
            stream = self._parsed(now, latest[3]) if latest is not None else parse_stream(EMPTY)
            current = _data(stream)
            if base != now:
                row = con.execute("SELECT content FROM maps WHERE version = ?", [base]).fetchone()
                if base != 0 and row is None:
                    raise Conflict(f"there is no map version {base}", list(edit.touches))
                before = _data(self._parsed(base, row[0]) if row else parse_stream(EMPTY))
                changed = [k for k in edit.touches if _part(before, k) != _part(current, k)]
                if changed:
                    raise Conflict(
                        "someone changed "
                        + ", ".join(k.replace("step:", "step ") for k in changed)
                        + f" since version {base}",
                        changed,
                    )
            new_stream, content = validated(edit.apply(current))
            if text is not None:
                content = text
            if latest is not None and latest[3] == content:
                return SavedMap(now, latest[1], latest[2], content, new=False)
            row = con.execute(SQL_APPEND, {"name": new_stream.name, "content": content}).fetchone()
            assert row is not None
            self._streams[int(row[0])] = new_stream if text is None else parse_stream(text)
            self._seen = (int(row[0]), row[1], content, _data_stamp(con))
            return SavedMap(int(row[0]), row[1], new_stream.name, content, new=True)

    # figures --------------------------------------------------------------------------------

    def flow_for(self, stream: Stream, stamp: dict[str, int] | None = None) -> Any:
        """The imported histories under this map (cached until the data or the mapping changes)."""
        from valuestream.flow import Flow

        stamp = stamp or self.workspace.stamp()
        if stamp["transitions"] == 0:
            return None
        mapping = (
            stream.workflow.model_dump_json() if stream.workflow else "",
            json.dumps(stream.step_of_state(), sort_keys=True),
        )
        key = (stamp["imports"], *mapping)
        if key != self._flow_key:
            self._flow = Flow.of(self.workspace, stream)
            self._flow_key = key
        return self._flow

    def state(self, *, after_edit: bool = False) -> dict[str, Any]:
        """Everything a page shows: the version, the map, its figures, the constraint, %C&A.

        ``after_edit``: the state of the version this server just wrote, without opening the
        workspace again (a change from elsewhere reaches the pages through the watcher).
        """
        with self.lock:
            if after_edit and self._seen is not None:
                number, saved_at, content, stamp = self._seen
                latest: Any = (number, saved_at, None, content)
            else:
                with self.workspace.connect(read_only=True) as con:
                    latest = con.execute(SQL_LATEST).fetchone()
                    stamp = _data_stamp(con)
            number = int(latest[0]) if latest is not None else 0
            cached = self._state_cache.get(number)
            if cached is not None and cached["data_stamp"] == stamp["imports"]:
                return cached
            stream = self._parsed(number, latest[3]) if latest is not None else parse_stream(EMPTY)
            # the version first: a page (or the load benchmark) can read it before the rest
            state = {"version": number, **map_state(stream, self.flow_for(stream, stamp))}
            state.update(
                saved_at=latest[1].isoformat() if latest is not None else None,
                yaml=latest[3] if latest is not None else EMPTY,
                data_stamp=stamp["imports"],
            )
            self._state_cache = {number: state}
            return state

    # pictures, files, versions -------------------------------------------------------------

    def _saved(self, number: int | None) -> tuple[int, Stream, str]:
        if number is None:
            saved = self.latest()
            if saved is None:
                return 0, parse_stream(EMPTY), EMPTY
        else:
            saved = self.version(number)
        return saved.version, saved.stream(), saved.content

    def svg(self, number: int | None = None) -> str:
        with self.lock:
            version, stream, _ = self._saved(number)
            key = ("svg", version, self.workspace.stamp()["imports"])
            if key not in self._pictures:
                if not stream.steps:
                    raise InputError("the map has no steps to draw yet: add the first step")
                self._pictures = {key: map_svg(stream, self.flow_for(stream))}
            return self._pictures[key]

    def text(self, number: int | None = None) -> str:
        with self.lock:
            return self._saved(number)[2]

    def versions(self) -> list[dict[str, Any]]:
        from valuestream.maps import map_versions

        with self.lock:
            df = map_versions(self.workspace).sort_values("version", ascending=False)
            return [
                {"version": int(r.version), "saved_at": r.saved_at.isoformat(), "name": r.name, "chars": int(r.chars)}
                for r in df.itertuples()
            ]

    def version_state(self, number: int) -> dict[str, Any]:
        with self.lock:
            version, stream, content = self._saved(number)
            state = map_state(stream, None)
            state.update(version=version, yaml=content)
            return state

    def discovered(self) -> dict[str, Any]:
        """A draft map from the imported histories, keeping the current map's name and economics."""
        from valuestream.flow import Flow
        from valuestream.streammap import discover

        with self.lock:
            if self.workspace.stamp()["transitions"] == 0:
                raise InputError(
                    "no item histories in this workspace yet: import them ('valuestream import file "
                    "EVENTS.csv'), or start from a template"
                )
            _, stream = self.current()
            found = discover(Flow.of(self.workspace, stream.workflow)).to_stream(stream.name)
            data = _data(stream)
            data.update({k: v for k, v in _data(found).items() if k in ("steps", "rework")})
            data.pop("scope", None)
            return data

    # the session's outcomes -------------------------------------------------------------------

    def experiments(self, arrivals: float | None, items: int, replications: int) -> dict[str, Any]:
        """The ranked candidate changes of ``valuestream experiments`` for the current map."""
        from valuestream.constraint import find_constraint
        from valuestream.economics import cod_per_item
        from valuestream.simulate import experiments, from_flow, from_stream

        with self.lock:
            version, stream = self.current()
            if not stream.steps:
                raise InputError("the map has no steps yet: there is nothing to change")
            flow = self.flow_for(stream)
            key = ("experiments", version, self.workspace.stamp()["imports"], arrivals)
            if key in self._pictures:
                return self._pictures[key]
            use_data = flow is not None and stream.workflow is not None and any(s.states for s in stream.steps)
            if use_data and arrivals is None:
                net = from_flow(flow, stream, window=flow.window(days=90))
                basis = "the imported histories (last 90 days)"
            elif arrivals is None:
                raise InputError(
                    "ranking changes from the map needs how many items enter the stream per week: "
                    "give arrivals_per_week"
                )
            else:
                net = from_stream(stream, arrivals_per_week=arrivals)
                basis = f"the map's estimates, {arrivals:g} items arriving per week"
            cod, currency = None, "EUR"
            if stream.cost_of_delay is not None:
                types = flow.items()["type"] if flow is not None else None
                cod, currency = cod_per_item(stream.cost_of_delay, types), stream.cost_of_delay.currency
            named = find_constraint(stream, flow).constraint
            result = experiments(
                net, constraint=named, cod_per_week=cod, currency=currency, items=items,
                replications=replications,
            )  # fmt: skip
            out = {
                "version": version,
                "basis": basis,
                "constraint": result.constraint,
                "currency": currency,
                "candidates": records(result.table),
                "explain": result.explain(),
                "items": items,
                "replications": replications,
            }
            self._pictures[key] = out
            return out

    def record_baselines(self, day: Any, throughput_per_week: float | None) -> dict[str, Any]:
        """Lead time, flow efficiency and throughput now, written to the events log on ``day``."""
        from valuestream.events import add_event
        from valuestream.streammap import map_figures

        with self.lock:
            _, stream = self.current()
            flow = self.flow_for(stream)
            if flow is not None:
                s = flow.summary(flow.window(days=90))
                if s.get("lead_p50") is None:
                    raise InputError("no item has finished yet: the baselines need finished items")
                figures = {
                    "lead_time_p50_days": float(s["lead_p50"]),
                    "flow_efficiency": float(s["flow_efficiency"] or 0.0),
                    "throughput_per_week": float(s["throughput_per_week"]),
                    "basis": "measured over the last 90 days",
                }
            else:
                if throughput_per_week is None:
                    raise InputError(
                        "no item histories yet: give the throughput the room knows (items finished per week)"
                    )
                t = map_figures(stream).totals
                figures = {
                    "lead_time_p50_days": t["lead"],
                    "flow_efficiency": t["flow_efficiency"],
                    "throughput_per_week": throughput_per_week,
                    "basis": "the map's expected lead time and flow efficiency, the room's throughput",
                }
            title = (
                f"Baselines: lead time {figures['lead_time_p50_days']:.1f} days, flow efficiency "
                f"{figures['flow_efficiency']:.0%}, throughput {figures['throughput_per_week']:.1f} per week"
            )
            event = add_event(self.workspace, title, day, kind="baseline", new_period=False)
            self.workspace.set_meta("baselines", json.dumps({**figures, "date": str(day)}))
            return {**figures, "event": event.id, "title": title, "date": str(day)}

    def report_html(self) -> str:
        """The one-page report of the workspace under the current map (rebuilt when data changes)."""
        from valuestream.views.report import build_report

        with self.lock:
            version, stream = self.current()
            stamp = self.workspace.stamp()
            key = ("report", version, stamp["imports"], stamp["events"])
            if key not in self._reports:
                use = stream if stream.steps or stream.workflow else None
                self._reports = {key: build_report(self.workspace, use).html()}
            return self._reports[key]

    def events(self) -> list[Any]:
        from valuestream.events import combined_events

        with self.lock:
            _, stream = self.current()
            return combined_events(self.workspace, stream)

    def weekly_check(self) -> dict[str, Any]:
        from valuestream.check import run_check

        with self.lock:
            _, stream = self.current()
            if self.workspace.stamp()["transitions"] == 0:
                return {"missing": "The weekly check needs item histories: import them first."}
            try:
                report = run_check(self.workspace, stream, record=False)
            except InputError as exc:
                return {"missing": str(exc)}
            return {
                "verdicts": [m.line() for m in report.measures],
                "explain": report.explain(),
                "measures": records(report.table),
            }


def _data_stamp(con: Any) -> dict[str, int]:
    row = con.execute(
        "SELECT (SELECT coalesce(max(id), 0) FROM imports), (SELECT count(*) FROM transitions)"
    ).fetchone()
    return {"imports": int(row[0]), "transitions": int(row[1])}


def map_state(stream: Stream, flow: Any) -> dict[str, Any]:
    """The map's figures as ``valuestream map`` computes them, as plain data for the page."""
    from valuestream.constraint import find_constraint
    from valuestream.streammap import compare, complete_and_accurate, map_figures

    figures = map_figures(stream)
    comparison = compare(stream, flow) if flow is not None and stream.steps else None
    constraint = None
    if stream.steps:
        constraint = find_constraint(stream, flow, comparison=comparison)
    quality = complete_and_accurate(stream, flow)
    return {
        "stream": _data(stream),
        # the columns the board shows, so that a broadcast to a full room stays small
        "figures": {"steps": records(figures.table[BOARD_COLUMNS]), "totals": figures.totals},
        "explain": figures.explain(),
        "comparison": None if comparison is None else records(comparison.table),
        "comparison_explain": None if comparison is None else comparison.explain(),
        "items": 0 if comparison is None else comparison.items,
        "constraint": None if constraint is None else constraint.constraint,
        "constraint_explain": None if constraint is None else constraint.explain(),
        "quality": {
            "steps": records(quality.table[["step", "judged_by", "estimated", "measured"]]),
            "rolled_estimated": quality.rolled_estimated,
            "rolled_measured": quality.rolled_measured,
            "explain": quality.explain(),
        },
        "has_data": flow is not None,
    }


def map_svg(stream: Stream, flow: Any) -> str:
    """The map picture ``valuestream map --out`` draws (constraint circled, measured figures)."""
    from valuestream.constraint import find_constraint
    from valuestream.streammap import compare
    from valuestream.views.map_svg import draw_map

    comparison = compare(stream, flow) if flow is not None else None
    constraint = find_constraint(stream, flow, comparison=comparison)
    return draw_map(stream, comparison=comparison, constraint=constraint).svg


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts: missing and non-finite numbers become null."""
    out = []
    for row in df.to_dict(orient="records"):
        clean = {}
        for k, v in row.items():
            if hasattr(v, "item"):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v) or v is not None and not isinstance(v, list | tuple | dict | str) and pd.isna(v):
                v = None
            clean[str(k)] = list(v) if isinstance(v, tuple) else v
        out.append(clean)
    return out


__all__ = ["Board", "Conflict", "Edit", "Refused", "map_state", "map_svg", "records", "templates", "validated"]
