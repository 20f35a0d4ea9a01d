"""The web app: the live board, the presenter view, the dashboard, and the HTTP API behind them.

:func:`create_app` builds a FastAPI application over one workspace. The server never keeps the
workspace open: each request opens it for its own unit of work (``Workspace.connect`` waits while
the CLI holds it), so ``valuestream import`` and ``valuestream map --save`` run beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from valuestream.errors import InputError, ValuestreamError, WorkspaceBusyError
from valuestream.web import api
from valuestream.web.agenda import Agenda
from valuestream.web.board import Board, Conflict, Refused, templates
from valuestream.web.hub import Hub
from valuestream.web.security import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    BodyLimit,
    Guard,
    is_loopback,
)
from valuestream.workspace import Workspace

HERE = Path(__file__).parent
POLL_SECONDS = 2.0
"""How often the server looks for changes another process made (an import, an event, a map)."""
EXPERIMENT_ITEMS = 5_000
EXPERIMENT_REPLICATIONS = 3
"""The room waits for the ranking: fewer simulated items than the CLI's default, same function."""

PAGES = {"/": "board.html", "/presenter": "presenter.html", "/dashboard": "dashboard.html"}
OPEN_PATHS = ("/login", "/api/login", "/static/", "/openapi.json", "/favicon.ico")
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
)
# The report is one self-contained page whose charts (Vega) compile expressions at run time.
REPORT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; frame-ancestors 'self'; base-uri 'none'"
)


def create_app(
    workspace: str | Path | Workspace,
    *,
    stream_text: str | None = None,
    token: str | None = None,
    host: str = "127.0.0.1",
    tls: bool = False,
    agenda_speed: float = 1.0,
    poll_seconds: float = POLL_SECONDS,
) -> FastAPI:
    """The app over ``workspace``; ``stream_text`` seeds an empty workspace's first map version."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    ws.ensure()
    board = Board(ws, initial=stream_text)
    hub = Hub()
    guard = Guard(token=token, loopback=is_loopback(host) and token is None)
    saved = ws.get_meta("agenda")
    clock = Agenda.from_saved(json.loads(saved), time.time(), agenda_speed) if saved else Agenda(speed=agenda_speed)
    live: dict[str, Any] = {"agenda": clock, "stamp": ws.stamp(), "cache": {}}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_watch())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="valuestream",
        summary="The live value stream mapping board and the team dashboard.",
        version="0.1.0",
        docs_url=None,  # Swagger UI would load from a CDN: the OpenAPI document is served alone
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.board = board
    app.state.hub = hub
    app.state.guard = guard
    app.add_middleware(BodyLimit)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # -- every request ----------------------------------------------------------------------

    @app.middleware("http")
    async def gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not guard.host_ok(request.headers.get("host")):
            return JSONResponse({"detail": "this server answers on its loopback address only"}, 421)
        path = request.url.path
        sid = guard.session_id(request.cookies.get(SESSION_COOKIE))
        fresh = None
        if sid is None and token is None:
            fresh = guard.new_session()
            sid = guard.session_id(fresh)
        request.state.sid = sid
        if sid is None and not path.startswith(OPEN_PATHS):
            if request.method == "GET" and not path.startswith("/api/"):
                return RedirectResponse(f"/login?next={path}", 303)
            return JSONResponse({"detail": "log in first: this board needs its access token"}, 401)
        if (
            request.method not in SAFE_METHODS
            and path != "/api/login"
            and request.headers.get(CSRF_HEADER) != (guard.csrf_for(sid) if sid else None)
        ):
            return JSONResponse(
                {"detail": f"missing or wrong {CSRF_HEADER} header (reload the page)"}, 403
            )
        response = await call_next(request)
        if fresh is not None:
            _set_session(response, fresh, secure=tls)
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    @app.exception_handler(Conflict)
    async def on_conflict(_r: Request, exc: Conflict) -> JSONResponse:
        state = await run_in_threadpool(board.state)
        return JSONResponse({"detail": str(exc), "touched": exc.touched, "current": state}, 409)

    @app.exception_handler(InputError)
    async def on_input(_r: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 422)

    @app.exception_handler(WorkspaceBusyError)
    async def on_busy(_r: Request, exc: WorkspaceBusyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 503, headers={"Retry-After": "2"})

    @app.exception_handler(ValuestreamError)
    async def on_domain(_r: Request, exc: ValuestreamError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 422)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        ]
        return JSONResponse({"detail": "; ".join(problems)[:2000]}, 422)

    # -- pages ------------------------------------------------------------------------------

    def page(name: str, request: Request) -> HTMLResponse:
        text = (HERE / "templates" / name).read_text(encoding="utf-8")
        csrf = guard.csrf_for(request.state.sid) if request.state.sid else ""
        return HTMLResponse(text.replace("{{csrf}}", csrf), headers={"Cache-Control": "no-store"})

    for route, name in PAGES.items():

        def show(request: Request, _name: str = name) -> HTMLResponse:
            return page(_name, request)

        app.get(route, include_in_schema=False, response_class=HTMLResponse)(show)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response((HERE / "static" / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    @app.get("/login", include_in_schema=False, response_class=HTMLResponse)
    def login_page(request: Request) -> HTMLResponse:
        return page("login.html", request)

    @app.post("/api/login", tags=["session"])
    async def login(body: api.LoginIn) -> JSONResponse:
        """Trade the access token for a session cookie; answers the session's CSRF token."""
        if not guard.login_ok(body.token):
            await asyncio.sleep(0.5)  # slows guessing
            return JSONResponse({"detail": "wrong access token"}, 401)
        cookie = guard.new_session()
        sid = guard.session_id(cookie)
        assert sid is not None
        response = JSONResponse({"csrf": guard.csrf_for(sid)})
        _set_session(response, cookie, secure=tls)
        return response

    @app.get("/api/session", tags=["session"])
    def session(request: Request) -> dict[str, str]:
        """This session's CSRF token, for scripts (send it as the X-CSRF-Token header)."""
        return {"csrf": guard.csrf_for(request.state.sid)}

    # -- the map ----------------------------------------------------------------------------

    async def edited(kind: str, payload: dict[str, Any], base: int, text: str | None = None) -> dict[str, Any]:
        saved = await run_in_threadpool(board.edit, base, kind, payload, text=text)
        state = await run_in_threadpool(lambda: board.state(after_edit=saved.new))
        publish()
        return {"version": saved.version, "new": saved.new, "state": state}

    def publish() -> None:
        """Send every page the latest map. One broadcast at a time: edits that land while one is
        on its way are all in the next (each message is the whole map, so none is skipped)."""
        live["dirty"] = True
        task = live.get("publisher")
        if task is None or task.done():
            live["publisher"] = asyncio.create_task(_publisher())

    async def _publisher() -> None:
        while live["dirty"]:
            live["dirty"] = False
            await send_map(await run_in_threadpool(lambda: board.state(after_edit=True)))

    async def send_map(state: dict[str, Any], *, data_changed: bool = False) -> None:
        """Send every page this map, unless they have it already: an edit that landed while the
        last message was on its way, or the watcher seeing our own save, would send one version
        twice. New data (an import) changes the figures, so the same version goes out again then."""
        if not data_changed and state.get("version") == live.get("sent_version"):
            return
        live["sent_version"] = state.get("version")
        # the stream file's text is for downloads and versions, not for every page each time
        await hub.broadcast({"type": "map", "state": {k: v for k, v in state.items() if k != "yaml"}})

    @app.get("/api/map", tags=["map"])
    async def get_map() -> dict[str, Any]:
        """The latest map version with its figures: totals, constraint, %C&A, measured beside estimated."""
        return await run_in_threadpool(board.state)

    @app.get("/api/map/svg", tags=["map"], response_class=Response)
    async def get_svg(version: int | None = None) -> Response:
        """The map picture (SVG) that ``valuestream map --out`` draws, for the latest or a given version."""
        svg = await run_in_threadpool(board.svg, version)
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @app.get("/api/map/stream.yaml", tags=["map"], response_class=PlainTextResponse)
    async def download(version: int | None = None) -> PlainTextResponse:
        """The map as its stream file (latest version, or the one asked for)."""
        text = await run_in_threadpool(board.text, version)
        return PlainTextResponse(
            text,
            media_type="application/yaml",
            headers={"Content-Disposition": 'attachment; filename="stream.yaml"'},
        )

    @app.post("/api/map/steps", tags=["map"])
    async def add_step(body: api.StepAdd) -> dict[str, Any]:
        """Add a step (at a place, or last)."""
        return await edited("add_step", {"step": body.step.file_form(), "at": body.at}, body.base_version)

    @app.put("/api/map/steps/{name}", tags=["map"])
    async def update_step(name: str, body: api.StepUpdate) -> dict[str, Any]:
        """Replace a step's fields (renaming it renames its rework loops and scope too)."""
        return await edited("update_step", {"name": name, "step": body.step.file_form()}, body.base_version)

    @app.delete("/api/map/steps/{name}", tags=["map"])
    async def delete_step(name: str, base_version: int) -> dict[str, Any]:
        """Remove a step, with the rework loops that name it."""
        return await edited("delete_step", {"name": name}, base_version)

    @app.post("/api/map/steps/{name}/move", tags=["map"])
    async def move_step(name: str, body: api.StepMove) -> dict[str, Any]:
        """Move a step to another place in the flow."""
        return await edited("move_step", {"name": name, "to": body.to}, body.base_version)

    @app.put("/api/map/scope", tags=["map"])
    async def set_scope(body: api.ScopeIn) -> dict[str, Any]:
        """Where the stream starts and finishes."""
        scope = {k: v for k, v in (("start", body.start), ("finish", body.finish)) if v}
        return await edited("set", {"scope": scope}, body.base_version)

    @app.put("/api/map/header", tags=["map"])
    async def set_header(body: api.HeaderIn) -> dict[str, Any]:
        """The stream's name and the product or slice it is about."""
        return await edited("set", {"name": body.name, "product": body.product}, body.base_version)

    @app.put("/api/map/rework", tags=["map"])
    async def set_rework(body: api.ReworkIn) -> dict[str, Any]:
        """Every rework loop: from a step back to an earlier one, with the share sent back."""
        loops = [loop.model_dump(by_alias=True) for loop in body.loops]
        return await edited("set", {"rework": loops or None}, body.base_version)

    @app.put("/api/map/workflow", tags=["map"])
    async def set_workflow(body: api.WorkflowIn) -> dict[str, Any]:
        """How tracker states map onto the stream (start, finish, touch, wait, blocked states)."""
        wf = None if body.workflow is None else body.workflow.model_dump(exclude_defaults=True)
        return await edited("set", {"workflow": wf}, body.base_version)

    @app.put("/api/map/yaml", tags=["map"])
    async def upload(body: api.YamlIn) -> dict[str, Any]:
        """Replace the map with a whole stream file (an upload), kept as written."""
        stream = await run_in_threadpool(_parse, body.yaml)
        return await edited("replace", {"data": stream}, body.base_version, text=body.yaml)

    @app.get("/api/templates", tags=["map"])
    def list_templates() -> dict[str, str]:
        """Starter maps an empty board can begin with, by name, as stream files."""
        return templates()

    @app.post("/api/map/template", tags=["map"])
    async def use_template(body: api.TemplateIn) -> dict[str, Any]:
        """Fill the board with a starter map."""
        text = templates().get(body.name)
        if text is None:
            raise HTTPException(404, f"no template named '{body.name}'")
        return await edited("replace", {"data": _parse(text)}, body.base_version, text=text)

    @app.post("/api/map/discover", tags=["map"])
    async def from_data(body: api.BaseOnly) -> dict[str, Any]:
        """Fill a draft board from the imported histories ('Start from the data')."""
        data = await run_in_threadpool(board.discovered)
        return await edited("replace", {"data": data}, body.base_version)

    @app.get("/api/map/versions", tags=["versions"])
    async def versions() -> list[dict[str, Any]]:
        """Every saved version of the map, newest first."""
        return await run_in_threadpool(board.versions)

    @app.get("/api/map/versions/{number}", tags=["versions"])
    async def one_version(number: int) -> dict[str, Any]:
        """One saved version: its stream file and figures."""
        return await run_in_threadpool(board.version_state, number)

    @app.post("/api/map/versions/{number}/restore", tags=["versions"])
    async def restore(number: int, body: api.BaseOnly) -> dict[str, Any]:
        """Make an old version the latest again (as a new version: nothing is lost)."""
        old = await run_in_threadpool(board.version, number)
        return await edited("replace", {"data": _parse(old.content)}, body.base_version, text=old.content)

    # -- the agenda -------------------------------------------------------------------------

    def agenda_now() -> dict[str, Any]:
        return {**live["agenda"].to_dict(time.time()), "sent_at": time.time()}

    @app.get("/api/agenda", tags=["agenda"])
    def get_agenda() -> dict[str, Any]:
        """The session clock: elapsed seconds, the phase, its prompt, the guardrails."""
        return agenda_now()

    @app.post("/api/agenda/{action}", tags=["agenda"])
    async def drive_agenda(action: str) -> dict[str, Any]:
        """The facilitator's controls: start, pause, next (phase) or reset."""
        now = time.time()
        clock: Agenda = live["agenda"]
        moves = {"start": clock.start, "pause": clock.pause, "next": clock.next}
        if action == "reset":
            live["agenda"] = clock.reset()
        elif action in moves:
            live["agenda"] = moves[action](now)
        else:
            raise HTTPException(404, "the agenda's actions are start, pause, next and reset")
        await run_in_threadpool(ws.set_meta, "agenda", json.dumps(live["agenda"].to_saved(now)))
        state = agenda_now()
        await hub.broadcast({"type": "agenda", "agenda": state})
        return state

    # -- from map to one experiment ---------------------------------------------------------

    @app.get("/api/experiments", tags=["experiment"])
    async def ranked(arrivals_per_week: float | None = None) -> dict[str, Any]:
        """Candidate changes ranked by simulated days saved, as ``valuestream experiments`` ranks them."""
        if arrivals_per_week is not None and not 0 < arrivals_per_week <= 100_000:
            raise HTTPException(422, "arrivals_per_week: expected a number above 0 (items per week)")
        return await run_in_threadpool(board.experiments, arrivals_per_week, EXPERIMENT_ITEMS, EXPERIMENT_REPLICATIONS)

    @app.post("/api/experiments/choose", tags=["experiment"])
    async def choose(body: api.ChooseIn) -> dict[str, Any]:
        """Write the chosen change to the events log on its day (it starts a new chart period)."""
        from valuestream.events import add_event

        day = body.date or dt.date.today()
        event = await run_in_threadpool(
            lambda: add_event(ws, f"Experiment: {body.change.strip()}", day, kind="experiment")
        )
        await hub.broadcast({"type": "events"})
        return _event_dict(event)

    @app.post("/api/baselines", tags=["experiment"])
    async def baselines(body: api.BaselinesIn) -> dict[str, Any]:
        """Record the lead time, flow efficiency and throughput baselines in the events log."""
        out = await run_in_threadpool(board.record_baselines, body.date or dt.date.today(), body.throughput_per_week)
        await hub.broadcast({"type": "events"})
        return out

    # -- the dashboard ----------------------------------------------------------------------

    @app.get("/dashboard/report", include_in_schema=False, response_class=HTMLResponse)
    async def report() -> HTMLResponse:
        text = await run_in_threadpool(board.report_html)
        return HTMLResponse(text, headers={"Content-Security-Policy": REPORT_CSP, "Cache-Control": "no-store"})

    @app.get("/api/workspace", tags=["dashboard"])
    async def stamp() -> dict[str, int]:
        """A cheap stamp of the workspace: it changes when data is imported or an event logged."""
        return await run_in_threadpool(ws.stamp)

    @app.get("/api/events", tags=["dashboard"])
    async def events() -> list[dict[str, Any]]:
        """The events log and the map's own events, oldest day first (id 0: only in the map)."""
        return [_event_dict(e) for e in await run_in_threadpool(board.events)]

    @app.post("/api/events", tags=["dashboard"])
    async def add(body: api.EventIn) -> dict[str, Any]:
        """Name a change on the day you make it."""
        from valuestream.events import add_event

        event = await run_in_threadpool(
            lambda: add_event(ws, body.title, body.date, kind=body.kind, new_period=body.new_period)
        )
        await hub.broadcast({"type": "events"})
        return _event_dict(event)

    @app.delete("/api/events/{event_id}", tags=["dashboard"])
    async def remove(event_id: int) -> dict[str, Any]:
        """Take an event out of the log."""
        from valuestream.events import remove_event

        if not 0 < event_id < 2**62:
            raise HTTPException(404, f"there is no event {event_id}")
        event = await run_in_threadpool(remove_event, ws, event_id)
        await hub.broadcast({"type": "events"})
        return _event_dict(event)

    @app.get("/api/check", tags=["dashboard"])
    async def check() -> dict[str, Any]:
        """The weekly check as ``valuestream check`` words it (not recorded: the CLI records it)."""
        return await run_in_threadpool(board.weekly_check)

    # -- live -------------------------------------------------------------------------------

    @app.websocket("/ws")
    async def socket(sock: WebSocket) -> None:
        origin = sock.headers.get("origin")
        host_header = sock.headers.get("host", "")
        if origin is not None and origin.split("://", 1)[-1] != host_header:
            await sock.close(code=4403)
            return
        if not guard.host_ok(host_header) or (
            token is not None and guard.session_id(sock.cookies.get(SESSION_COOKIE)) is None
        ):
            await sock.close(code=4401)
            return
        await sock.accept()
        await hub.send(sock, {"type": "map", "state": await run_in_threadpool(board.state)})
        await hub.send(sock, {"type": "agenda", "agenda": agenda_now()})
        await hub.join(sock)
        try:
            while True:
                message = await sock.receive_text()
                if message == "ping":
                    await hub.send(sock, {"type": "pong", "agenda": agenda_now()})
        except WebSocketDisconnect:
            pass
        finally:
            await hub.leave(sock)

    async def _watch() -> None:
        """Tell every page when another process changed the workspace (an import, the CLI's map)."""
        while True:
            await asyncio.sleep(poll_seconds)
            try:
                now = await run_in_threadpool(ws.stamp)
            except ValuestreamError:
                continue
            before = live["stamp"]
            if now != before:
                live["stamp"] = now
                if now["maps"] != before["maps"] or now["imports"] != before["imports"]:
                    state = await run_in_threadpool(board.state)
                    await send_map(state, data_changed=now["imports"] != before["imports"])
                data = ("imports", "transitions", "events", "checks")
                if any(now[k] != before[k] for k in data):  # the map has its own messages
                    await hub.broadcast({"type": "workspace", "stamp": now})

    return app


def _parse(text: str) -> dict[str, Any]:
    from valuestream.model import parse_stream

    try:
        stream = parse_stream(text, "the uploaded stream file")
    except ValuestreamError as exc:
        raise Refused(str(exc)) from None
    return json.loads(stream.model_dump_json(by_alias=True, exclude_defaults=True))


def _event_dict(event: Any) -> dict[str, Any]:
    return {
        "id": event.id,
        "date": event.date.isoformat(),
        "title": event.title,
        "kind": event.kind,
        "new_period": event.new_period,
    }


def _set_session(response: Response, cookie: str, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, cookie, httponly=True, samesite="strict", secure=secure, max_age=12 * 3600
    )


__all__ = ["create_app"]
