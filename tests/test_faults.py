"""Faults of the machine and of the user, each ending in one clear line: storage, options, output.

Every case is a real one: a text file or a folder given as the workspace, a file another process
holds, a read-only workspace (checked by a process without the right to override permissions),
an unwritable HOME, a missing output folder, a bug (one line naming the file with the traceback).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import typer
from conftest import ISSUE_MAP, WORKFLOW_YAML, write_log
from typer.testing import CliRunner

from valuestream.cli import app
from valuestream.cli._common import neutralised
from valuestream.errors import WorkspaceBusyError, WorkspaceFileError
from valuestream.views.charts import chart_page, json_in_script
from valuestream.workspace import Workspace

runner = CliRunner()
SRC = Path(__file__).resolve().parents[1] / "src"
ROWS = [
    ("A-1", "Backlog", "2026-01-01T00:00:00Z"), ("A-1", "Dev", "2026-01-02T00:00:00Z"),
    ("A-1", "Done", "2026-01-04T00:00:00Z"), ("A-2", "Backlog", "2026-01-02T00:00:00Z"),
    ("A-2", "Dev", "2026-01-03T00:00:00Z"),
]  # fmt: skip


def one_error_line(output: str) -> str:
    """The single 'error:' line of a failed command (and that there is no traceback)."""
    assert "Traceback" not in output, output
    lines = [ln for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, output
    return errors[0]


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stream.yaml").write_text(WORKFLOW_YAML)
    write_log(tmp_path / "log.csv", ROWS)
    result = runner.invoke(app, ["import", "log.csv", "-q"])
    assert result.exit_code == 0, result.output
    return tmp_path


# -- the workspace file ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_text("item,state\nA,Dev\n"), "not a valuestream workspace"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.mkdir(), "folder"),
    ],
    ids=["text-file", "empty-file", "directory"],
)
@pytest.mark.parametrize("command", [["items"], ["import", "log.csv"], ["event", "add", "x"]])
def test_a_path_that_is_no_workspace_gets_one_line(place: Path, make, words: str, command: list[str]):
    bad = place / "bad.duckdb"
    make(bad)
    before = sorted(p.name for p in place.iterdir())
    result = runner.invoke(app, [*command, "--workspace", str(bad)])
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert str(bad) in line and words in line
    assert sorted(p.name for p in place.iterdir()) == before  # nothing created beside it


def test_someone_elses_duckdb_file_is_not_taken_over(place: Path):
    other = place / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE sales AS SELECT 1 AS amount")
    con.close()
    result = runner.invoke(app, ["import", "log.csv", "--workspace", str(other)])
    assert result.exit_code == 2
    assert "not a valuestream workspace" in one_error_line(result.output)
    con = duckdb.connect(str(other), read_only=True)
    assert [r[0] for r in con.execute("SHOW TABLES").fetchall()] == ["sales"]
    con.close()


def _hold(path: Path) -> subprocess.Popen[str]:
    """Another process holding the workspace open for writing (DuckDB locks the file)."""
    code = f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_locked_workspace_gets_one_line_after_the_wait(place: Path, monkeypatch: pytest.MonkeyPatch):
    proc = _hold(place / "valuestream.duckdb")
    try:
        with pytest.raises(WorkspaceBusyError):
            Workspace(place / "valuestream.duckdb", busy_timeout=0.2).counts()
        monkeypatch.setenv("VALUESTREAM_BUSY_TIMEOUT", "0.2")
        result = runner.invoke(app, ["metrics"])
        assert result.exit_code == 2
        assert "locked by another process" in one_error_line(result.output)
    finally:
        proc.kill()
        proc.wait()


def _without_override() -> list[str]:
    """A command prefix under which file permissions apply (root overrides them otherwise)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be made to apply")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner"]


def _cli(args: list[str], cwd: Path, prefix: list[str] = (), **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200", **env}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "valuestream", *args],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_read_only_workspace_serves_every_read_command(place: Path):
    ws = place / "valuestream.duckdb"
    runner.invoke(app, ["event", "add", "WIP limit 3", "--date", "2026-01-02"])
    ws.chmod(0o444)
    place.chmod(0o555)  # no write-ahead log, no spill folder beside it either
    try:
        prefix = _without_override()
        for command in (["items"], ["metrics"], ["steps"], ["wip"], ["event", "list"], ["map", "versions"], ["constraint"]):
            done = _cli(command, place, prefix)
            assert done.returncode == 0, (command, done.stderr)
            assert "Traceback" not in done.stderr
        done = _cli(["event", "add", "another", "--date", "2026-01-03"], place, prefix)
        assert done.returncode == 2, done.stderr
        line = one_error_line(done.stderr)
        assert "valuestream.duckdb" in line and "read commands work" in line
    finally:
        place.chmod(0o755)
        ws.chmod(0o644)


# -- genuine bugs ------------------------------------------------------------------------------


def test_a_bug_shows_one_line_and_keeps_the_traceback_in_a_file(
    place: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
):
    crashes = tmp_path_factory.mktemp("crashes")
    monkeypatch.setenv("TMPDIR", str(crashes))
    monkeypatch.setattr("tempfile.tempdir", None)

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a deliberate bug")

    monkeypatch.setattr("valuestream.flow.Flow.items", broken)
    result = runner.invoke(app, ["items"])
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert "ZeroDivisionError: a deliberate bug" in line and "bug in valuestream" in line
    (saved,) = crashes.glob("valuestream-crash-*.txt")
    assert str(saved) in line.replace("\n", "")
    text = saved.read_text()
    assert "Traceback (most recent call last)" in text and "def broken" not in text and "broken" in text


# -- output paths and text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--out", "/nonexistent/dir/r.html"],
        ["chart", "scatter", "--out", "/nonexistent/dir/c.html"],
        ["aging", "--out", "/nonexistent/dir/a.html"],
    ],
)
def test_an_output_in_a_missing_folder_gets_one_line(place: Path, command: list[str]):
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "--out" in result.output and "/nonexistent/dir" in result.output


FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def test_csv_export_neutralises_formula_prefixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    rows = [(f"X-{i}", state, "2026-01-01T00:00:00Z") for i, state in enumerate(["Backlog"] * len(FORMULAS))]
    with (tmp_path / "log.csv").open("w", newline="", encoding="utf-8") as fh:
        import csv

        writer = csv.writer(fh)
        writer.writerow(["item", "state", "entered_at", "title"])
        writer.writerows([(*row, title) for row, title in zip(rows, FORMULAS, strict=True)])
    assert runner.invoke(app, ["import", "log.csv", "-q"]).exit_code == 0
    result = runner.invoke(app, ["items", "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(__import__("io").StringIO(result.stdout), keep_default_na=False)
    # OWASP: a cell a spreadsheet would evaluate starts with a single quote instead
    assert sorted(table["title"]) == sorted("'" + f for f in FORMULAS)


def test_neutralising_leaves_numbers_and_plain_text_alone():
    df = pd.DataFrame({"n": [-5, 3], "x": [-1.5, 2.0], "t": ["plain", "-minus"]})
    out = neutralised(df)
    assert out["n"].tolist() == [-5, 3] and out["x"].tolist() == [-1.5, 2.0]
    assert out["t"].tolist() == ["plain", "'-minus"]


def test_a_chart_page_keeps_script_text_inert():
    probe = "</script><script>alert(1)</script><!--&"
    spec = {"title": probe, "data": {"values": [{"a": probe}]}, "mark": "point", "encoding": {"x": {"field": "a"}}}
    page = chart_page(spec)
    assert "<script>alert(1)" not in page and "<!--&" not in page
    assert "&lt;/script&gt;" in page  # the page title, escaped as HTML
    start = page.index('<script type="application/json" id="chart-spec">') + len('<script type="application/json" id="chart-spec">')
    import json

    assert json.loads(page[start : page.index("</script>", start)]) == spec  # the same data, read back
    assert json_in_script('"\u2028"') == '"\\u2028"'


# -- options -----------------------------------------------------------------------------------


def _numeric_options() -> list[tuple[str, typing.Any]]:
    found = []

    def walk(command: typing.Any, path: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        for param in command.params:
            described = getattr(param, "type_descriptor", None)
            kinds = typing.get_args(described.annotation) or (described.annotation,) if described else ()
            if any(k in (int, float) for k in kinds):
                found.append((" ".join([*path, param.opts[0]]), param))

    walk(typer.main.get_command(app), [])
    return found


def test_every_numeric_option_has_a_range_shown_in_its_help():
    options = _numeric_options()
    assert len(options) > 20
    unbounded = [name for name, param in options if param.min is None or param.max is None]
    assert unbounded == []


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["forecast", "when", "--items", "10", "--trials", "1000000000"], "--trials"),
        (["forecast", "when", "--items", "0"], "--items"),
        (["metrics", "--days", "0"], "--days"),
        (["metrics", "--days", "-5"], "--days"),
        (["metrics", "--days", "100000000"], "--days"),
        (["simulate", "--items", "1000000000"], "--items"),
        (["aging", "--percentile", "100"], "--percentile"),
    ],
)
def test_an_option_out_of_range_names_the_option(place: Path, command: list[str], option: str):
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    assert "Traceback" not in result.output and option in result.output


def test_a_window_of_more_days_than_the_bound_is_refused(place: Path):
    result = runner.invoke(app, ["wip", "--from", "1971-01-01", "--to", "2200-01-01"])
    assert result.exit_code == 2
    assert "--from/--to" in one_error_line(result.output)


@pytest.mark.parametrize(
    "command",
    [["metrics"], ["items"], ["check", "--dry-run"], ["aging"], ["forecast", "when", "--items", "3"], ["import", "log.csv"]],
)
def test_an_unknown_time_zone_names_the_option(place: Path, command: list[str]):
    result = runner.invoke(app, [*command, "--tz", "Not/AZone"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "'--tz'" in text and "unknown time zone 'Not/AZone'" in text.replace("│ ", "")


def test_busy_timeout_from_the_environment_is_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("VALUESTREAM_BUSY_TIMEOUT", "soon")
    with pytest.raises(Exception, match="VALUESTREAM_BUSY_TIMEOUT"):
        Workspace(tmp_path / "w.duckdb")


# -- the process: HOME and temporary files -----------------------------------------------------


def test_the_program_starts_and_simulates_with_an_unwritable_home(place: Path):
    blocker = place / "not-a-folder"
    blocker.write_text("a file, so nothing can be created under it, not even by root")
    env = {"HOME": str(blocker / "home"), "XDG_CACHE_HOME": str(blocker / "cache"), "NUMBA_CACHE_DIR": str(blocker / "numba")}
    (place / "map.yaml").write_text(ISSUE_MAP)
    command = ["simulate", "--stream", "map.yaml", "--source", "map", "--arrivals", "2", "--items", "500", "-r", "2"]
    done = _cli(command, place, **env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_numba_cache_falls_back_to_a_writable_folder(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = textwrap.dedent(
        """
        import os
        from valuestream.simulate import engine
        print(engine.CACHE, os.environ.get("NUMBA_CACHE_DIR", "default"))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "HOME": str(blocker / "h"), "NUMBA_CACHE_DIR": str(blocker / "n")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cached, where = done.stdout.split()
    assert cached == "True" and not where.startswith(str(blocker))


@pytest.mark.parametrize(
    "opened",
    [
        'Workspace("valuestream.duckdb").connect()',
        # the sources' own in-memory connections (pbc --file, XES-family CSV, joins)
        "contextlib.closing(in_memory())",
    ],
)
def test_spill_files_stay_in_our_temporary_folder_and_are_removed(
    place: Path, tmp_path_factory: pytest.TempPathFactory, opened: str
):
    tmp = tmp_path_factory.mktemp("tmpdir")
    code = textwrap.dedent(
        f"""
        import contextlib, os
        from valuestream.sources.spill import in_memory
        from valuestream.workspace import Workspace
        with {opened} as con:
            con.execute("SET memory_limit = '60MB'")
            con.execute("CREATE TEMP TABLE t AS SELECT range AS a, md5(range::VARCHAR) AS b FROM range(2000000)")
            con.execute("SELECT b, count(*) FROM t GROUP BY b ORDER BY b LIMIT 1").fetchall()
            spill = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
            print(spill, len(os.listdir(spill)))
        raise SystemExit(3)  # leave as after an error
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(tmp)}
    done = subprocess.run([sys.executable, "-c", code], cwd=place, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr
    spill, files = done.stdout.split()[-2:]
    assert spill.startswith(str(tmp)) and int(files) > 0  # it did spill, into our folder
    assert not (place / ".tmp").exists() and not (place / "valuestream.duckdb.tmp").exists()
    assert list(tmp.iterdir()) == []  # the process's spill folder went with it


def test_spill_folders_of_dead_processes_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    stale = tmp_path / "valuestream-spill-999999999-abc"
    (stale / "x").mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    code = "from valuestream.workspace import spill_directory; spill_directory()"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert not stale.exists()


def test_workspace_file_errors_name_the_file(tmp_path: Path):
    (tmp_path / "d").mkdir()
    with pytest.raises(WorkspaceFileError, match="folder"):
        Workspace(tmp_path / "d").counts()


def test_the_report_of_a_log_without_rework_is_written(place: Path):
    # A log with no backward move once crashed the discovered map (an empty share column of text).
    result = runner.invoke(app, ["report", "--out", "r.html"])
    assert result.exit_code == 0, result.output
    assert (place / "r.html").stat().st_size > 10_000


def test_the_program_starts_with_home_a_read_only_folder(place: Path, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("home")
    home.chmod(0o555)
    try:
        env = {"HOME": str(home), "XDG_CACHE_HOME": "", "NUMBA_CACHE_DIR": ""}
        environment = {k: v for k, v in os.environ.items() if k not in env}
        (place / "map.yaml").write_text(ISSUE_MAP)
        command = ["simulate", "--stream", "map.yaml", "--source", "map", "--arrivals", "2", "--items", "300", "-r", "2"]
        done = subprocess.run(
            [*_without_override(), sys.executable, "-m", "valuestream", *command],
            cwd=place, env={**environment, "PYTHONPATH": str(SRC), "HOME": str(home)},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr and list(home.iterdir()) == []
    finally:
        home.chmod(0o755)
