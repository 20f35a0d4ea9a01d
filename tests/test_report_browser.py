"""The report in a real browser: headless Chromium (Debian's package) driven by Playwright.

The network is blocked: every request other than the report file itself is aborted and recorded,
and none may be attempted. The page must draw every chart without a console error, show a tooltip
on hover, and print to A4.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from valuestream.events import merge_stream_events
from valuestream.model import load_stream
from valuestream.sample import write_sample
from valuestream.views.report import write_report
from valuestream.workspace import Workspace

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECTIONS = [
    "overview", "constraint", "experiments", "scatter", "xmr", "cfd", "rates", "aging", "forecast",
    "events",
]  # fmt: skip
LOOK_AT = Path("/tmp/valuestream-report.png")
"""A full-page screenshot kept after the run, for a person to look at."""

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed at /usr/bin/chromium (CI installs it: apt-get install chromium)",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("browser")
    log, stream_path = write_sample(d)
    ws = Workspace(d / "valuestream.duckdb")
    ws.import_file(log)
    stream = load_stream(stream_path)
    merge_stream_events(ws, stream)
    path = d / "report.html"
    write_report(path, ws, stream)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def opened(browser, report_file: Path):  # type: ignore[no-untyped-def]
    """The report loaded at laptop size with the network blocked; yields (page, blocked, errors)."""
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    url = report_file.resolve().as_uri()
    blocked: list[str] = []
    errors: list[str] = []

    def route(r) -> None:  # type: ignore[no-untyped-def]
        if r.request.url == url:
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: blocked.append(r.url) if r.url != url else None)
    page.goto(url)
    page.wait_for_selector("body[data-charts=drawn]", state="attached", timeout=60_000)
    yield page, blocked, errors
    page.close()


def test_opens_offline_with_every_section_and_no_console_error(opened, tmp_path: Path):
    page, blocked, errors = opened
    assert blocked == [], f"the page tried to reach the network: {blocked}"
    assert errors == []
    for key in SECTIONS:
        assert page.locator(f"#{key}").is_visible(), key
    charts = page.locator(".chart[data-chart]")
    assert charts.count() >= 12
    assert page.locator(".chart.failed").count() == 0
    # Every chart was drawn as SVG by Vega.
    assert page.locator(".chart.drawn svg.marks").count() == charts.count()
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    page.screenshot(path=str(LOOK_AT), full_page=True)
    page.screenshot(path=str(LOOK_AT.with_name("valuestream-report-top.png")))


def test_hover_shows_the_item_and_its_dates(opened):
    page, _, errors = opened
    scatter = page.locator('[data-chart="scatter"]')
    scatter.scroll_into_view_if_needed()
    point = scatter.locator("g.mark-symbol path").first
    point.hover(force=True)
    tooltip = page.locator("#vg-tooltip-element")
    tooltip.wait_for(state="visible", timeout=5_000)
    text = tooltip.inner_text()
    assert "VS-" in text
    assert "entered" in text and "finished" in text
    assert errors == []


def test_the_map_shows_the_constraint_beside_the_measures(opened):
    page, _, _ = opened
    map_box = page.locator("#map svg.valuestream-map").bounding_box()
    measures = page.locator(".measures").bounding_box()
    assert map_box is not None and measures is not None
    # Beside it at laptop width: the measures start right of the map, at the same height.
    assert measures["x"] >= map_box["x"] + map_box["width"] - 1
    assert abs(measures["y"] - map_box["y"]) < 120
    assert page.locator("#map text.constraint-label").text_content() == "CONSTRAINT"
    verdicts = page.locator(".measure .verdict").all_inner_texts()
    assert len(verdicts) == 3 and all(v.strip() for v in verdicts)


def test_prints_to_a4(opened, tmp_path: Path):
    page, _, _ = opened
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf[:5] == b"%PDF-"
    pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    # The overview and nine sections on a handful of pages, not one chart per sheet.
    assert 3 <= pages <= 14
    (tmp_path / "report.pdf").write_bytes(pdf)
    LOOK_AT.with_suffix(".pdf").write_bytes(pdf)
