"""The answer cache: asking again on unchanged data costs a file read, not a rebuild.

Every ``Flow`` answer is a query over the derived tables of ``tables.py``, and those depend only
on what the key below holds. So an answer, once computed, is kept beside the workspace
(``valuestream.duckdb.cache/``) and reused while nothing it depends on has changed.

**Key.** A flow's key is a hash of everything its derived tables are built from:

- the workspace's content stamp (``workspace.content_stamp``): a random token that every import
  replaces in its own transaction, with row counts, the last import's id and a hash of the state
  roles as a guard against writes that bypassed the token;
- the text of the BUILD statements and their fragments (so a rewrite of the SQL invalidates
  every old entry), and a hash of the source of the modules that compute the answers (flow/,
  model.py), with the valuestream, DuckDB, pandas and pyarrow versions;
- the stream file's workflow and steps, the calendar (holidays included), the filters, the time
  zone and the as-of instant.

An answer's key is the flow's key with the query's text; a query that reads the events log adds
the log's own stamp, so logging an event invalidates exactly the answers that read it.

**Storage.** One Arrow IPC file per answer, named by its key's hash, written under a temporary
name and renamed into place (atomic on POSIX), so a reader in another process sees a whole entry
or none, and no process ever waits for another: DuckDB allows one writing process per database
file, which is why the cache is not one. Each file carries its key, and is checked on reading; a
file that does not read back (truncated, corrupt, another key) is removed and the answer is
computed again. Reading an entry refreshes its time; past ``VALUESTREAM_CACHE_MB`` (default
1024 MB) the least recently used entries go first.

**Off.** ``VALUESTREAM_NO_CACHE=1`` (``valuestream --no-cache``) bypasses it; a folder that cannot
be written (a read-only workspace, say) means no cache and the same answers; ``valuestream cache
clear`` removes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from valuestream.errors import ValuestreamError
from valuestream.workspace import content_stamp

if TYPE_CHECKING:
    from valuestream.flow.core import Flow
    from valuestream.flow.engine import DuckDBEngine
    from valuestream.workspace import Workspace

FORMAT = 1
"""The layout of an entry; changing it invalidates every entry."""
SUFFIX = ".arrow"
MARK = ".flow"
KEY_FIELD = b"valuestream.cache.key"
DEFAULT_MB = 1024
STALE_TEMP_S = 3600.0
MAX_ENTRIES = 4096
# Entries of histories an import has since replaced are never asked for again (their token is
# gone for good); they go once they are this old, which leaves a process still answering from the
# old histories time to finish.
SUPERSEDED_S = 600.0
# Modules whose code computes the cached answers: a change to any of them is a new key.
CODE = (
    "flow/core.py",
    "flow/tables.py",
    "flow/engine.py",
    "flow/cache.py",
    "model.py",
    "workspace.py",
)
_READS_EVENTS = re.compile(r"\bevents\b", re.IGNORECASE)
_code_hash: str | None = None


class WorkspaceChangedError(ValuestreamError):
    """The workspace changed between answering from the cache and computing a further answer."""


def disabled() -> bool:
    """Whether ``VALUESTREAM_NO_CACHE`` asks to bypass the cache."""
    return os.environ.get("VALUESTREAM_NO_CACHE", "").strip().lower() not in (
        "",
        "0",
        "false",
        "no",
    )


def folder_of(workspace: Workspace) -> Path:
    """Where a workspace's answers are kept: beside it, ``<workspace file>.cache``."""
    return workspace.path.with_name(workspace.path.name + ".cache")


def _limit_bytes() -> int:
    given = os.environ.get("VALUESTREAM_CACHE_MB", "").strip()
    try:
        mb = float(given) if given else DEFAULT_MB
    except ValueError:
        mb = DEFAULT_MB
    return int(max(mb, 0) * 1024 * 1024)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def code_stamp() -> str:
    """The valuestream version and a hash of the source of the modules behind every answer."""
    global _code_hash
    if _code_hash is None:
        import pyarrow

        from valuestream import __version__

        root = Path(__file__).resolve().parents[1]
        h = hashlib.sha256()
        for name in CODE:
            with contextlib.suppress(OSError):
                h.update(name.encode() + b"\0" + (root / name).read_bytes())
        versions = f"valuestream {__version__}; duckdb {duckdb.__version__}; pandas {pd.__version__}; pyarrow {pyarrow.__version__}"
        _code_hash = f"{versions}; {h.hexdigest()}"
    return _code_hash


def _history(stamp: dict[str, Any]) -> dict[str, Any]:
    """The part of the content stamp the derived tables read (all but the events log)."""
    return {k: v for k, v in stamp.items() if k != "events"}


def data_tag(stamp: dict[str, Any]) -> str:
    """A short name for the histories an entry was computed from."""
    return _digest(json.dumps(_history(stamp), sort_keys=True, default=str))[:12]


def flow_key(flow: Flow, stamp: dict[str, Any]) -> str:
    """The key of a flow's derived tables: see the module docstring for what it holds and why."""
    from valuestream.flow import tables

    # Every statement and fragment the derived tables are built from, whatever their names.
    build_sql = [
        *tables.BUILD,
        *(
            f"{k}={v}"
            for k, v in sorted(vars(tables).items())
            if k.isupper() and isinstance(v, str)
        ),
    ]
    calendar = flow.calendar
    holiday_codes = [h for h in calendar.holidays if isinstance(h, str)]
    material = {
        "format": FORMAT,
        "code": code_stamp(),
        "holidays_package": _holidays_version() if holiday_codes else None,
        "data": _history(stamp),
        "build": _digest("\n;\n".join(build_sql)),
        "stream": flow.stream.model_dump_json() if flow.stream is not None else None,
        "workflow": flow.workflow.model_dump_json() if flow.workflow is not None else None,
        "calendar": calendar.model_dump_json(),
        "filters": list(flow.filters),
        "timezone": flow.timezone,
        "as_of": flow.as_of.isoformat(),
        "tables": flow._tables,
    }
    return _digest(json.dumps(material, sort_keys=True, default=str))


def _holidays_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("holidays")
    except PackageNotFoundError:
        return None


class AnswerCache:
    """A folder of answers, one Arrow IPC file each, shared safely by any number of processes."""

    def __init__(self, folder: Path, *, limit_bytes: int | None = None) -> None:
        self.folder = folder
        self.limit_bytes = _limit_bytes() if limit_bytes is None else limit_bytes

    @classmethod
    def beside(cls, workspace: Workspace) -> AnswerCache | None:
        """The workspace's cache, or None when it is switched off or its folder cannot be made."""
        if disabled():
            return None
        folder = folder_of(workspace)
        try:
            folder.mkdir(exist_ok=True)
        except OSError:
            return None
        return cls(folder) if folder.is_dir() else None

    def _path(self, key: str, suffix: str = SUFFIX) -> Path:
        return self.folder / f"{key}{suffix}"

    # -- entries ------------------------------------------------------------------------------

    def get(self, key: str) -> pd.DataFrame | None:
        """The answer stored under ``key``, or None (absent, unreadable or someone else's)."""
        import pyarrow as pa
        import pyarrow.ipc

        path = self._path(key)
        try:
            with pa.OSFile(str(path), "rb") as source:
                table = pyarrow.ipc.open_file(source).read_all()
        except FileNotFoundError:
            return None
        except (OSError, pa.ArrowException, ValueError):
            self._discard(path)
            return None
        meta = table.schema.metadata or {}
        if meta.get(KEY_FIELD) != key.encode():
            self._discard(path)
            return None
        try:
            frame = table.to_pandas()
        except (pa.ArrowException, ValueError, TypeError):
            self._discard(path)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: the last to go
        return frame

    def put(self, key: str, frame: pd.DataFrame) -> bool:
        """Store an answer (whole or not at all); False when it could not be (nothing is raised)."""
        import pyarrow as pa
        import pyarrow.ipc

        path = self._path(key)
        temp = self.folder / f".{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            table = pa.Table.from_pandas(frame, preserve_index=None)
            table = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), KEY_FIELD: key.encode()}
            )
            with (
                pa.OSFile(str(temp), "wb") as sink,
                pyarrow.ipc.new_file(sink, table.schema) as writer,
            ):
                writer.write_table(table)
            if temp.stat().st_size > self.limit_bytes:
                temp.unlink()
                return False
            os.replace(temp, path)
        except (OSError, pa.ArrowException, ValueError, TypeError):
            with contextlib.suppress(OSError):
                temp.unlink()
            return False
        self.prune(key.partition("-")[0] if "-" in key else None)
        return True

    def known(self, flow: str) -> bool:
        """Whether answers of this flow were stored (so it may be answered without building it)."""
        return self._path(flow, MARK).exists()

    def mark(self, flow: str) -> None:
        with contextlib.suppress(OSError):
            self._path(flow, MARK).touch()

    def _discard(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()

    # -- the folder ---------------------------------------------------------------------------

    def _entries(self) -> Iterator[tuple[Path, os.stat_result]]:
        with contextlib.suppress(OSError), os.scandir(self.folder) as it:
            for entry in it:
                with contextlib.suppress(OSError):
                    yield Path(entry.path), entry.stat()

    def prune(self, current: str | None = None) -> None:
        """Remove the least recently used entries past the size limit (or ``MAX_ENTRIES``), the
        entries of superseded histories (a tag other than ``current``, the key's part before
        "-"), and temporary files that a process which stopped midway left behind."""
        now = time.time()
        entries = []
        for path, st in self._entries():
            age = now - st.st_mtime
            tag = path.stem.partition("-")[0] if "-" in path.stem else None
            if path.name.endswith(".tmp"):
                if age > STALE_TEMP_S:
                    self._discard(path)
            elif (
                path.suffix in (SUFFIX, MARK)
                and current
                and tag
                and tag != current
                and age > SUPERSEDED_S
            ):
                self._discard(path)
            elif path.suffix == SUFFIX:
                entries.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in entries)
        count = len(entries)
        for _, size, path in sorted(entries):
            if total <= self.limit_bytes and count <= MAX_ENTRIES:
                break
            self._discard(path)
            total -= size
            count -= 1

    def info(self) -> dict[str, Any]:
        """How many answers are kept and their size."""
        sizes = [st.st_size for path, st in self._entries() if path.suffix == SUFFIX]
        return {
            "folder": str(self.folder),
            "answers": len(sizes),
            "bytes": sum(sizes),
            "limit_bytes": self.limit_bytes,
        }

    def clear(self) -> int:
        """Remove every entry (and the folder when it is left empty); returns the answers removed."""
        removed = 0
        for path, _ in list(self._entries()):
            if path.suffix in (SUFFIX, MARK) or path.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += path.suffix == SUFFIX
        with contextlib.suppress(OSError):
            self.folder.rmdir()
        return removed


class FlowAnswers:
    """One flow's view of the cache: answers by query text, under the flow's key."""

    def __init__(self, cache: AnswerCache, key: str, stamp: dict[str, Any]) -> None:
        self.cache = cache
        self.stamp = stamp
        # Every name starts with a tag of the histories, so that entries of superseded ones can go.
        self.tag = data_tag(stamp)
        self.key = f"{self.tag}-{key}"

    def _answer_key(self, sql: str) -> str:
        events = self.stamp.get("events") if _READS_EVENTS.search(sql) else None
        return self.tag + "-" + _digest(f"{self.key}\n{events}\n{sql}")

    def known(self) -> bool:
        return self.cache.known(self.key)

    def get(self, sql: str) -> pd.DataFrame | None:
        return self.cache.get(self._answer_key(sql))

    def put(self, sql: str, frame: pd.DataFrame) -> None:
        if self.cache.put(self._answer_key(sql), frame):
            self.cache.mark(self.key)


def open_answers(workspace: Workspace, engine: DuckDBEngine) -> CachedFlow | None:
    """The cache for a flow about to be made on ``engine`` (the workspace attached as ``ws``), or
    None when there is none: switched off, a folder that cannot be written, a workspace without a
    token."""
    cache = AnswerCache.beside(workspace)
    if cache is None:
        return None
    stamp = read_stamp(engine, "ws")
    return None if stamp is None else CachedFlow(cache, workspace, engine, stamp)


class CachedFlow:
    """The hook between ``Flow.of`` and the cache: a deferred engine, then the flow's answers."""

    def __init__(
        self, cache: AnswerCache, workspace: Workspace, engine: DuckDBEngine, stamp: dict[str, Any]
    ) -> None:
        self.cache = cache
        self.workspace = workspace
        self.stamp = stamp
        self.engine = DeferredEngine(engine)

    def bind(self, flow: Flow, build: Callable[[], None]) -> None:
        """Give ``flow`` its answers; run ``build`` (which needs the workspace attached as ``ws``)
        now when none are kept, else the first time the engine itself is needed."""
        answers = FlowAnswers(self.cache, flow_key(flow, self.stamp), self.stamp)
        flow._cache = answers
        if not answers.known():
            self.engine.build = build
            self.engine._ready()
            return
        inner, workspace, stamp = self.engine.inner, self.workspace, self.stamp

        def later() -> None:
            with workspace.attached(inner.con, "ws"):
                if read_stamp(inner, "ws") != stamp:
                    raise WorkspaceChangedError(
                        f"{workspace.path} changed while this analysis was open (an import finished meanwhile); ask again"
                    )
                build()

        self.engine.build = later


def read_stamp(engine: DuckDBEngine, schema: str) -> dict[str, Any] | None:
    """The attached workspace's content stamp, or None when it has no token (then nothing is cached:
    a workspace gets its token the first time valuestream writes to it)."""
    stamp = content_stamp(engine.con, schema)
    return stamp if stamp.get("token") else None


class DeferredEngine:
    """The engine of a flow whose answers may all be in the cache: the derived tables are built
    the first time anything asks the engine itself (an answer not in the cache, raw SQL)."""

    dialect = "duckdb"
    deferred = True

    def __init__(self, inner: DuckDBEngine, made: tuple[str, ...] = ("items", "events")) -> None:
        self.inner = inner
        self.build: Callable[[], None] | None = None
        self.made = made  # tables the build always makes: asking whether they exist needs no build

    def _ready(self) -> DuckDBEngine:
        build, self.build = self.build, None
        if build is not None:
            try:
                build()
            except BaseException:
                self.build = build
                raise
        return self.inner

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self._ready().con

    def execute(self, sql: str) -> None:
        self._ready().execute(sql)

    def frame(self, sql: str) -> pd.DataFrame:
        return self._ready().frame(sql)

    def load(self, name: str, df: pd.DataFrame) -> None:
        self._ready().load(name, df)

    def set_timezone(self, timezone: str) -> None:
        self._ready().set_timezone(timezone)

    def has_table(self, name: str) -> bool:
        return (self.build is not None and name in self.made) or self._ready().has_table(name)
