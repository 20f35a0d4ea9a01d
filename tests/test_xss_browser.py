"""Hostile text stays text: script probes in every user text field, through every HTML and SVG we
write, opened in headless Chromium (Debian's package, driven by Playwright).

The probes sit in an item id, item titles, a state, a step name and an event name. Each payload
both opens a dialog and sets ``window.__xss``: a page passes when no dialog opened and the flag is
still unset after it has drawn.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.sample import write_sample
from valuestream.views.report import CHART_NAMES

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

SCRIPT = "</script><script>window.__xss=1;alert(1)</script>"
IMG = '<img src=x onerror="window.__xss=1;alert(1)">'
runner = CliRunner()


def _hostile_sample(d: Path) -> None:
    """The sample stream, every third item kept, with the probes in ids, titles, a state, a step and events."""
    log, stream_path = write_sample(d)
    with log.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    items = sorted({r["item"] for r in rows})
    kept = set(items[::3])
    hostile_id = items[6]
    rows = [r for r in rows if r["item"] in kept]
    for r in rows:
        if r["item"] == hostile_id:
            r["item"] = f"VS-{IMG}"
        if r["item"].endswith(("0", "5")):
            r["title"] = f"Title {SCRIPT} {IMG}"
        if r["state"] == "Legal Review":
            r["state"] = f"Legal Review {SCRIPT}"
    with log.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = stream_path.read_text(encoding="utf-8")
    state, step = json.dumps(f"Legal Review {SCRIPT}"), json.dumps(f"Legal {IMG}")
    text = text.replace("Legal Review", state).replace("Legal language", step)
    text = text.replace("title: Release daily instead of bi-weekly batches", f"title: {json.dumps('Release daily ' + SCRIPT + IMG)}")
    stream_path.write_text(text, encoding="utf-8")


def _outputs(d: Path) -> list[Path]:
    def run(*args: str) -> None:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, (args, result.output)

    run("import", "events.csv", "-q")
    run("event", "add", f"Probe {IMG} {SCRIPT}", "--date", "2026-05-04")
    run("report", "--out", "report.html")
    for name in CHART_NAMES:
        run("chart", name, "--out", f"chart-{name}.html")
    run("chart", "map", "--out", "chart-map.svg")
    run("map", "--out", "map.svg")
    run("pbc", "lead", "--out", "pbc-lead.html", "--scatter", "pbc-scatter.html")
    run("aging", "--out", "aging.html")
    run("forecast", "when", "--items", "5", "--out", "forecast.html")
    return sorted(p for p in d.iterdir() if p.suffix in (".html", ".svg"))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    d = tmp_path_factory.mktemp("xss")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(d)
        _hostile_sample(d)
        yield _outputs(d)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def test_every_output_was_written(outputs: list[Path]):
    names = {p.name for p in outputs}
    assert {"report.html", "map.svg", "chart-map.svg", "pbc-lead.html", "pbc-scatter.html", "aging.html", "forecast.html"} <= names
    assert {f"chart-{n}.html" for n in CHART_NAMES} <= names
    # the probes reached the pages as data (else the test below proves nothing)
    assert all("alert(1)" in p.read_text(encoding="utf-8") for p in outputs if p.name in ("report.html", "map.svg", "aging.html"))


def test_no_probe_runs_in_any_output(browser, outputs: list[Path]):  # type: ignore[no-untyped-def]
    ran: dict[str, list[str]] = {}
    for path in outputs:
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog, seen=dialogs: (seen.append(dialog.message), dialog.dismiss()))
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # the charts draw after load
        flag = page.evaluate("() => window.__xss")
        if dialogs or flag is not None:
            ran[path.name] = [*dialogs, f"window.__xss={flag}"]
        page.close()
    assert ran == {}


# -- the web app: board, presenter and dashboard on the same hostile workspace ----------------

WEB_PAGES = ("/", "/?facilitator", "/presenter", "/dashboard")


def _ran(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The flag in the page and in every frame it holds (the dashboard's report is an iframe)."""
    flags = [frame.evaluate("() => window.__xss") for frame in page.frames]
    return [f"window.__xss={f} in a frame" for f in flags if f is not None]


def test_no_probe_runs_in_the_web_app(browser, outputs: list[Path]):  # type: ignore[no-untyped-def]
    pytest.importorskip("fastapi")
    from web_server import Server

    d = outputs[0].parent
    ran: dict[str, list[str]] = {}
    shown: dict[str, str] = {}
    with Server(d / "valuestream.duckdb", stream=d / "stream.yaml") as server:
        for path in WEB_PAGES:
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda dialog, seen=dialogs: (seen.append(dialog.message), dialog.dismiss()))
            page.goto(server.url + path)
            page.wait_for_selector("#live.live, .badge.live", timeout=30000)
            if path == "/dashboard":
                report = page.frame_locator("#report")
                report.locator("svg.valuestream-map").wait_for(timeout=90000)
                page.wait_for_selector(".events-list li", timeout=30000)
                page.wait_for_selector("#check .verdicts li", timeout=60000)
                # a hostile event added through the page's own form is shown as text too
                page.fill("#ev-title", f"Form {IMG} {SCRIPT}")
                page.fill("#ev-date", "2026-05-11")
                page.click("#ev-add")
                page.wait_for_selector(".events-list >> text=Form <img", timeout=60000)
                report.locator("text=Form <img").first.wait_for(timeout=90000)
            else:
                page.wait_for_selector("#picture svg", timeout=60000)
            page.wait_for_timeout(500)  # charts and pictures draw after load
            shown[path] = page.evaluate("() => document.body.innerText")
            problems = [*dialogs, *_ran(page)]
            if problems:
                ran[path] = problems
            page.close()
    assert ran == {}
    # the probes reached the pages as text (else this proves nothing): a step name on the board
    # and the presenter, the events and the item titles on the dashboard
    for path in ("/", "/?facilitator", "/presenter"):
        assert "Legal <img src=x" in shown[path], path
    assert "Probe <img src=x" in shown["/dashboard"] and "Form <img src=x" in shown["/dashboard"]
