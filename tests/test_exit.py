"""The console entry point leaves without unloading the interpreter (``valuestream.cli.main``).

What must survive the quick exit, through the real entry point in a fresh process each time: the
whole answer on stdout (also when it goes down a pipe), every file a command writes, the exit code
of success, of a user's mistake (2) and of a usage error, and the removal of the process's spill
folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WORKFLOW_YAML, write_log

SRC = Path(__file__).resolve().parents[1] / "src"
ROWS = [
    ("A-1", "Backlog", "2026-01-01T00:00:00Z"), ("A-1", "Dev", "2026-01-02T00:00:00Z"),
    ("A-1", "Done", "2026-01-04T00:00:00Z"), ("A-2", "Backlog", "2026-01-02T00:00:00Z"),
    ("A-2", "Dev", "2026-01-03T00:00:00Z"), ("A-2", "Done", "2026-01-08T00:00:00Z"),
]  # fmt: skip


def cli(place: Path, *args: str, tmp: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200", "VALUESTREAM_NO_CACHE": "1"}
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return subprocess.run(
        [sys.executable, "-m", "valuestream", *args], cwd=place, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def place(tmp_path: Path) -> Path:
    (tmp_path / "stream.yaml").write_text(WORKFLOW_YAML)
    write_log(tmp_path / "log.csv", ROWS)
    done = cli(tmp_path, "import", "log.csv", "-q")
    assert done.returncode == 0, done.stderr
    return tmp_path


def test_the_whole_answer_is_printed_and_the_spill_folder_removed(place: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("tmpdir")
    done = cli(place, "metrics", "--format", "json", tmp=tmp)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)  # the whole document, flushed before the exit
    assert answer["finished"] == 2
    assert answer["lead_p50"] == pytest.approx(4.5)  # lead times 3 and 6 days: the median is 4.5
    assert list(tmp.iterdir()) == []  # the exit handlers ran: no spill folder left behind


def test_a_file_written_is_whole(place: Path):
    done = cli(place, "map", "--out", "map.svg")
    assert done.returncode == 0, done.stderr
    picture = (place / "map.svg").read_text(encoding="utf-8")
    assert picture.lstrip().startswith("<svg") or picture.lstrip().startswith("<?xml")
    assert picture.rstrip().endswith("</svg>")


def test_exit_codes_are_kept(place: Path):
    mistake = cli(place, "metrics", "--stream", "missing.yaml")
    assert mistake.returncode == 2
    assert "Traceback" not in mistake.stderr and "missing.yaml" in mistake.stderr
    assert cli(place, "no-such-command").returncode == 2  # a usage error, as Click gives it
    assert cli(place, "--help").returncode == 0


def test_an_answer_piped_to_a_reader_that_leaves_early_is_no_traceback(tmp_path: Path):
    # 3,000 items: some 400 KB of CSV, far more than a pipe holds, so the pipe does break
    rows = [(f"A-{i}", state, at) for i in range(3000) for state, at in zip(
        ("Backlog", "Dev", "Done"), ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-04T00:00:00Z"), strict=True)]
    (tmp_path / "stream.yaml").write_text(WORKFLOW_YAML)
    write_log(tmp_path / "log.csv", rows)
    assert cli(tmp_path, "import", "log.csv", "-q").returncode == 0
    place = tmp_path
    reader = "import sys; sys.stdin.readline()"  # reads one line, then goes
    env = {**os.environ, "PYTHONPATH": str(SRC), "VALUESTREAM_NO_CACHE": "1"}
    pipeline = f"{sys.executable} -m valuestream items --format csv | {sys.executable} -c '{reader}'"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], cwd=place, env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
