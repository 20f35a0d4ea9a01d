"""The board, the agenda and the dashboard in a real browser: headless Chromium via Playwright.

Every request other than to the server itself is aborted and recorded (no CDN: none may be
attempted). Screenshots go to /tmp/shots/ for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web_server import Server

from valuestream.sample import write_sample
from valuestream.workspace import Workspace

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
XSS = "<script>alert(1)</script>"
START = """\
name: Checkout stream
product: Web shop
steps:
  - {name: Discovery, owner: Product, touch_days: 2, wait_days: [3, 8]}
  - {name: Build, owner: Engineering, touch_days: 4, wait_days: 3}
  - {name: QA, owner: QA, touch_days: 1, wait_days: 6}
rework:
  - {from: QA, to: Build, share: 0.2}
"""

pytest.importorskip("fastapi")
# Debian's chromium and its launch flags, as the report's browser test uses them (it skips the
# module when chromium is missing).
from test_report_browser import ARGS, CHROMIUM, sync_api  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    SHOTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def board_server(tmp_path: Path) -> Iterator[Server]:
    stream = tmp_path / "start.yaml"
    stream.write_text(START)
    # --rehearse 300: one second of the clock is five session minutes
    with Server(tmp_path / "w.duckdb", stream=stream, args=("--rehearse", "300")) as server:
        yield server


class Page:
    """A page on the server with the network outside it blocked, and dialogs and errors recorded."""

    def __init__(self, browser, server: Server, path: str, size: tuple[int, int] = (1600, 1000)) -> None:  # type: ignore[no-untyped-def]
        self.context = browser.new_context(viewport={"width": size[0], "height": size[1]})
        self.page = self.context.new_page()
        self.blocked: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []

        def route(r) -> None:  # type: ignore[no-untyped-def]
            if r.request.url.startswith(server.url) or r.request.url.startswith(server.url.replace("http", "ws")):
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        self.page.route("**/*", route)

        def on_dialog(d) -> None:  # type: ignore[no-untyped-def]
            self.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        self.page.on("dialog", on_dialog)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # a 409 is the clash the page shows on purpose; any other error is a fault
        self.page.on(
            "console",
            lambda m: m.type == "error" and "status of 409" not in m.text and self.errors.append(m.text),
        )
        self.page.goto(server.url + path)
        self.page.wait_for_selector("#live.live, .badge.live", timeout=15000)

    def steps(self) -> list[str]:
        return self.page.locator("#wall .step .name").all_inner_texts()

    def close(self) -> None:
        self.context.close()


def add_step(p: Page, name: str, *, touch: str = "", wait: str = "", notes: str = "") -> None:
    page = p.page
    page.click("#add-step")
    page.fill("#f-name", name)
    if touch:
        page.select_option("#f-touch-form", "number")
        page.fill("#f-touch", touch)
    if wait:
        page.select_option("#f-wait-form", "range" if "-" in wait else "number")
        page.fill("#f-wait", wait)
    if notes:
        page.fill("#f-notes", notes)
    page.click("#step-save")


def test_two_people_edit_the_same_board_and_end_with_the_same_map(browser, board_server: Server) -> None:  # type: ignore[no-untyped-def]
    a = Page(browser, board_server, "/?facilitator")
    b = Page(browser, board_server, "/")
    try:
        for p in (a, b):
            p.page.wait_for_selector("#wall .step")
        assert a.steps() == b.steps() == ["Discovery", "Build", "QA"]
        add_step(a, "Legal review", touch="0.5", wait="7-14")
        add_step(b, "Release", touch="0.1", wait="3")
        for p in (a, b):
            p.page.wait_for_function("() => document.querySelectorAll('#wall .step').length === 5", timeout=10000)
        assert sorted(a.steps()) == sorted(b.steps())
        assert set(a.steps()) == {"Discovery", "Build", "QA", "Legal review", "Release"}
        # both change the same step from the same version: the second sees the clash and resolves it
        version = a.page.evaluate("window.vsBoard.state().version")
        b.page.wait_for_function(f"() => window.vsBoard.state().version === {version}")
        a.page.locator("#wall .step", has_text="QA").click()
        b.page.locator("#wall .step", has_text="QA").click()
        a.page.fill("#f-owner", "Quality team")
        b.page.fill("#f-owner", "Testers")
        a.page.click("#step-save")
        a.page.wait_for_function(f"() => window.vsBoard.state().version === {version + 1}")
        b.page.click("#step-save")
        b.page.wait_for_selector("#conflict-dialog[open]", timeout=10000)
        assert "step QA" in b.page.inner_text("#conflict-text")
        assert "Quality team" in b.page.inner_text("#conflict-theirs")
        b.page.screenshot(path=str(SHOTS / "board-conflict.png"))
        b.page.click("#conflict-mine-btn")
        for p in (a, b):
            p.page.wait_for_function(f"() => window.vsBoard.state().version === {version + 2}", timeout=10000)
            p.page.wait_for_selector("#wall .step:has-text('Testers')")
        assert a.page.evaluate("JSON.stringify(window.vsBoard.state().stream)") == b.page.evaluate(
            "JSON.stringify(window.vsBoard.state().stream)"
        )
        # drag Release before Legal review: both boards show the new order
        a.page.drag_and_drop("#wall .step[data-name='Release']", "#wall .step[data-name='Legal review']")
        for p in (a, b):
            p.page.wait_for_function(
                "() => [...document.querySelectorAll('#wall .step .name')].map(n => n.textContent).join() === 'Discovery,Build,QA,Release,Legal review'",
                timeout=10000,
            )
        a.page.wait_for_selector("#picture svg")
        a.page.screenshot(path=str(SHOTS / "board.png"), full_page=True)
        assert a.blocked == b.blocked == []
        assert a.errors == [] and b.errors == []
    finally:
        a.close()
        b.close()


def test_a_sticky_note_holding_a_script_shows_as_text(browser, board_server: Server) -> None:  # type: ignore[no-untyped-def]
    p = Page(browser, board_server, "/")
    try:
        p.page.wait_for_selector("#wall .step")
        add_step(p, XSS, touch="1", notes='<img src=x onerror="alert(2)">')
        p.page.wait_for_selector("#wall .step .name >> text=<script>")
        assert XSS in p.steps()
        assert '<img src=x onerror="alert(2)">' in p.page.inner_text("#wall .step:last-of-type")
        p.page.wait_for_selector("#picture svg")
        p.page.reload()
        p.page.wait_for_selector("#picture svg", timeout=15000)
        p.page.wait_for_timeout(500)
        assert p.dialogs == []  # no alert ever ran: not on the wall, not in the map picture
        assert p.page.locator("script:not([src])").count() == 0
        # the SVG holds it as text too (its tooltip has the whole name)
        assert XSS in p.page.evaluate("() => document.getElementById('picture').textContent")
        assert p.page.locator("#picture script").count() == 0
    finally:
        p.close()


def test_the_timer_runs_changes_phase_and_the_presenter_sees_the_same_clock(browser, board_server: Server) -> None:  # type: ignore[no-untyped-def]
    board = Page(browser, board_server, "/?facilitator")
    presenter = Page(browser, board_server, "/presenter", size=(1920, 1080))
    try:
        assert "Align scope" in board.page.inner_text("#phase-title")
        board.page.click("#agenda-start")
        # 300x: minute 10 arrives after two seconds
        board.page.wait_for_function("() => document.getElementById('phase-title').textContent.includes('Outline flow')", timeout=15000)
        presenter.page.wait_for_function("() => document.getElementById('phase-title').textContent.includes('Outline flow')", timeout=15000)
        board.page.click("#agenda-pause")
        board.page.wait_for_function("() => document.getElementById('phase-title').textContent.includes('paused')")
        shown = board.page.inner_text("#clock")
        board.page.wait_for_timeout(1200)
        assert board.page.inner_text("#clock") == shown  # paused: the clock stands still
        board.page.click("#agenda-next")
        for p in (board, presenter):
            p.page.wait_for_function("() => document.getElementById('phase-title').textContent.includes('Quantify reality')", timeout=10000)
        assert "touch and wait" in presenter.page.inner_text("#prompt")
        assert "One stream, one queue, one experiment." in presenter.page.inner_text("#guardrails")
        presenter.page.wait_for_selector("#picture svg")
        presenter.page.screenshot(path=str(SHOTS / "presenter.png"))
        board.page.screenshot(path=str(SHOTS / "board-agenda.png"))
        assert board.errors == [] and presenter.errors == []
        assert board.blocked == presenter.blocked == []
    finally:
        board.close()
        presenter.close()


def test_the_dashboard_renders_with_data_and_logs_an_event(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log, stream = write_sample(tmp_path)
    ws = Workspace(tmp_path / "w.duckdb")
    ws.import_file(log)
    with Server(ws.path, stream=stream) as server:
        p = Page(browser, server, "/dashboard", size=(1600, 1000))
        try:
            frame = p.page.frame_locator("#report")
            frame.locator("svg.valuestream-map").wait_for(timeout=60000)
            frame.locator("text=LEAD TIME").first.wait_for(timeout=30000)
            p.page.wait_for_selector("#check .verdicts li", timeout=30000)
            assert "Lead time:" in p.page.inner_text("#check .verdicts")
            assert "Weekly check" in p.page.inner_text("#check")
            p.page.fill("#ev-title", "Pairing hour at the constraint")
            p.page.fill("#ev-date", "2026-11-02")
            p.page.click("#ev-add")
            p.page.wait_for_selector(".events-list >> text=Pairing hour at the constraint", timeout=15000)
            # the report rebuilds with the new event in it
            frame.locator("text=Pairing hour at the constraint").first.wait_for(timeout=60000)
            # the CLI imports again (another process, as a team does each morning): the page follows
            before = p.page.inner_text("#updated")
            p.page.wait_for_timeout(1100)  # the badge shows seconds: let one pass
            ws.import_file(log)
            p.page.wait_for_function(f"() => document.getElementById('updated').textContent !== {before!r}", timeout=30000)
            frame.locator("svg.valuestream-map").wait_for(timeout=60000)
            p.page.wait_for_timeout(1500)
            p.page.screenshot(path=str(SHOTS / "dashboard.png"))
            assert p.blocked == [] and p.errors == []
        finally:
            p.close()
