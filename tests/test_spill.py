"""DuckDB's spill files of every connection we open land in a folder of ours, never ``./.tmp``.

An in-memory DuckDB connection spills into ``.tmp`` in the working folder by default and leaves
it there after a crash; the sources' own connections (CSV values for ``pbc --file``, the XES
family's CSV reader, re-keying joined histories) now spill where the workspace's do (tests/
test_faults.py forces a spill through both and checks the folder is gone after an error).
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def test_no_other_in_memory_connection_is_opened_bare():
    # flow/engine.py's connection attaches the workspace, which points its spill files at ours
    allowed = {SRC / "valuestream/sources/spill.py", SRC / "valuestream/flow/engine.py"}
    bare = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if p not in allowed and re.search(r"duckdb\.connect\(\s*(\":memory:\")?\s*\)", p.read_text(encoding="utf-8"))
    ]
    assert bare == ["valuestream/flow/spark.py"]  # turns a Spark answer into pandas; nothing to spill
