"""The HTTP API fuzzed from its own OpenAPI description: no input makes the server fail (5xx)."""

from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")
from hypothesis import HealthCheck, settings  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from valuestream.web.app import create_app  # noqa: E402
from valuestream.web.security import SESSION_COOKIE  # noqa: E402
from valuestream.workspace import Workspace  # noqa: E402

STREAM = """\
name: Fuzzed
steps:
  - {name: Build, touch_days: 2, wait_days: [1, 3]}
  - {name: Test, touch_days: 1, wait_days: 4}
rework:
  - {from: Test, to: Build, share: 0.3}
"""



def _app():  # type: ignore[no-untyped-def]
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="valuestream-fuzz-"))
    return create_app(Workspace(folder / "w.duckdb"), stream_text=STREAM, poll_seconds=3600)


APP = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, headers={"Host": "127.0.0.1"})
with TestClient(APP, base_url="http://127.0.0.1") as _c:
    _c.get("/api/session")
    COOKIE = _c.cookies[SESSION_COOKIE]
    CSRF = _c.get("/api/session").json()["csrf"]


def test_the_openapi_description_names_every_api_route() -> None:
    paths = APP.openapi()["paths"]
    assert {"/api/map", "/api/map/steps", "/api/map/steps/{name}", "/api/agenda/{action}", "/api/events", "/api/experiments"} <= set(paths)
    assert paths["/api/map/steps"]["post"]["requestBody"]["content"]["application/json"]


@schema.exclude(path="/api/experiments").exclude(path="/api/baselines").parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_server_fail(case) -> None:  # type: ignore[no-untyped-def]
    # Simulating candidate changes takes seconds each: those two routes have their own tests.
    response = case.call(headers={"X-CSRF-Token": CSRF, "Host": "127.0.0.1"}, cookies={SESSION_COOKIE: COOKIE})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
