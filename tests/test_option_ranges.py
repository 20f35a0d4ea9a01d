"""Every number a user can hand us has a stated range: each numeric option and argument of every
command (``serve`` too) shows its bounds in ``--help``, and each number in a URL of the web API
(query and path parameters, and the fields of its bodies) carries its bounds in the API's own
documentation and is refused outside them, naming the parameter.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from valuestream.cli import app

runner = CliRunner()


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


def _numeric(param: Any) -> bool:
    annotation = param.type_descriptor.annotation
    kinds = {annotation, *typing.get_args(annotation)}
    return bool(kinds & {int, float}) and not getattr(param, "is_flag", False)


NUMERIC = [
    (path, param)
    for path, command in _commands(typer.main.get_command(app))
    for param in command.params
    if _numeric(param)
]


def test_the_cli_has_numeric_options_to_check():
    names = {(" ".join(path), p.name) for path, p in NUMERIC}
    # the ones issue 16 found unbounded, and serve's
    assert {("forecast when", "trials"), ("metrics", "days"), ("serve", "port"), ("serve", "rehearse")} <= names
    assert len(NUMERIC) >= 35


@pytest.mark.parametrize(("path", "param"), NUMERIC, ids=[f"{' '.join(p)} {q.name}" for p, q in NUMERIC])
def test_every_numeric_option_has_a_range_its_help_states(path: tuple[str, ...], param: Any):
    assert param.min is not None and param.max is not None, f"{' '.join(path)} {param.name} is unbounded"
    if not getattr(param, "opts", None) or not param.opts[0].startswith("-"):
        return  # an argument: its range shows in the usage errors, checked below
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert result.exit_code == 0
    line = next(ln for ln in result.output.splitlines() if re.match(rf"\W*{re.escape(param.opts[0])}\s", ln))
    assert re.search(r"\[\S*<=x<=\S*\]", line), line


def test_a_value_past_a_range_is_refused_naming_the_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["forecast", "when", "--items", "5", "--trials", "1000000000"])
    assert result.exit_code == 2 and "--trials" in result.output and "1000000" in result.output


# -- the web API ------------------------------------------------------------------------------

fastapi = pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from valuestream.web.app import create_app

    d = tmp_path_factory.mktemp("ranges")
    stream = "name: x\nsteps:\n  - {name: A, touch_days: 1, wait_days: 1}\n"
    with TestClient(create_app(d / "w.duckdb", stream_text=stream, poll_seconds=3600), base_url="http://127.0.0.1") as c:
        yield c


def _bounded(schema: dict[str, Any]) -> bool:
    """Every numeric branch of a JSON schema has a lower and an upper bound."""
    branches = schema.get("anyOf", [schema])
    numeric = [b for b in branches if b.get("type") in ("integer", "number")]
    return all(
        ("minimum" in b or "exclusiveMinimum" in b) and ("maximum" in b or "exclusiveMaximum" in b) for b in numeric
    )


def _numbers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for p in op.get("parameters", []):
                yield f"{method} {path} {p['name']}", p["schema"]
    for name, schema in spec["components"]["schemas"].items():
        for field, sub in schema.get("properties", {}).items():
            yield f"body {name}.{field}", sub


def test_every_number_in_the_web_api_has_a_documented_range(web: Any):
    spec = web.get("/openapi.json").json()
    numeric = {
        where: s
        for where, s in _numbers(spec)
        if any(b.get("type") in ("integer", "number") for b in s.get("anyOf", [s]))
    }
    # the URL's numbers are there to check: versions, the edit's base, an event id, arrivals
    assert {
        "get /api/map/svg version",
        "get /api/map/versions/{number} number",
        "delete /api/map/steps/{name} base_version",
        "delete /api/events/{event_id} event_id",
        "get /api/experiments arrivals_per_week",
    } <= set(numeric)
    assert [where for where, s in numeric.items() if not _bounded(s)] == []
    svg = spec["paths"]["/api/map/svg"]["get"]["parameters"][0]
    assert "1 to 2,000,000,000" in svg["description"]


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/api/map/svg?version=99999999999999999999", "query.version"),
        ("/api/map/stream.yaml?version=0", "query.version"),
        ("/api/map/versions/-5", "path.number"),
        ("/api/experiments?arrivals_per_week=1e400", "query.arrivals_per_week"),
        ("/api/experiments?arrivals_per_week=nan", "query.arrivals_per_week"),
    ],
)
def test_a_url_number_past_its_range_is_refused_by_name(web: Any, url: str, name: str):
    r = web.get(url)
    assert r.status_code == 422 and r.json()["detail"].startswith(name)
