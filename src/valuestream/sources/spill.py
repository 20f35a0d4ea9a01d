"""DuckDB's spill files, in folders of ours that go away with the process.

DuckDB spills to ``.tmp`` beside the database, or in the working folder for an in-memory
connection, and leaves it there when the process dies. Every connection valuestream opens (the
workspace's, the analyses', the sources' own in-memory ones) spills under the system's temporary
folder instead, in one folder per process that is removed when it exits (after an error too); a
later run removes those of processes that died.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

import duckdb

from valuestream.errors import InputError

_SPILL_PREFIX = "valuestream-spill-"
_spill_root: Path | None = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spill_directory() -> Path:
    """A fresh folder for one connection's spill files, inside this process's own temporary folder."""
    global _spill_root
    if _spill_root is None:
        base = Path(tempfile.gettempdir())
        for old in base.glob(f"{_SPILL_PREFIX}*"):
            pid = old.name.removeprefix(_SPILL_PREFIX).partition("-")[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        _spill_root = Path(tempfile.mkdtemp(prefix=f"{_SPILL_PREFIX}{os.getpid()}-"))
        atexit.register(shutil.rmtree, _spill_root, True)
    return Path(tempfile.mkdtemp(dir=_spill_root))


def use_spill_directory(con: duckdb.DuckDBPyConnection) -> None:
    """Point an (in-memory) connection's spill files at a folder of ours (see :func:`spill_directory`),
    and hold it to the memory the user allows (``VALUESTREAM_MEMORY_LIMIT``)."""
    where = str(spill_directory()).replace("'", "''")
    con.execute(f"SET temp_directory = '{where}'")
    limit = memory_limit()
    if limit:
        con.execute(f"SET memory_limit = '{limit}'")


def memory_limit() -> str | None:
    """The most memory DuckDB may use, from VALUESTREAM_MEMORY_LIMIT (as "2GB" or "1500MB"): past it,
    sorts and aggregations spill to disk. None: DuckDB's own default (80% of the machine's memory)."""
    given = os.environ.get("VALUESTREAM_MEMORY_LIMIT", "").strip()
    if not given:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT])(i?)B", given, re.IGNORECASE)
    if match is None:
        raise InputError(f"VALUESTREAM_MEMORY_LIMIT: expected an amount such as 2GB or 1500MB, got '{given}'")
    number, unit, binary = float(match.group(1)), match.group(2).upper(), match.group(3)
    size = number * (1024 if binary else 1000) ** "KMGT".index(unit, 0) * (1024 if binary else 1000)
    if size < 100e6:
        raise InputError(f"VALUESTREAM_MEMORY_LIMIT: at least 100MB, got '{given}'")
    return f"{match.group(1)}{unit}{'i' if binary else ''}B"


def in_memory() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that spills into a folder of ours, never ``./.tmp``."""
    con = duckdb.connect(":memory:")
    use_spill_directory(con)
    return con
