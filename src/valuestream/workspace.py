"""The workspace: one embedded DuckDB file holding item histories, saved maps and the events log.

Connections are short-lived: every operation opens the file, does its work in one transaction and
closes it, retrying while another process (the CLI, the web server) holds the lock. Analyses take a
snapshot into memory (:meth:`Workspace.snapshot`) so that no reader keeps the file locked.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import hashlib
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from valuestream.errors import InputError, WorkspaceBusyError, WorkspaceFileError
from valuestream.sources.base import (
    INCREMENTAL_OVERLAP,
    Checkpoint,
    Histories,
    Progress,
    Run,
    Source,
    _no_progress,
)
from valuestream.sources.checks import TimeRange
from valuestream.sources.staging import Staged, stage_tables

DEFAULT_PATH = Path("valuestream.duckdb")
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR
);
-- One row per state change of an item; seq keeps the source's order for identical times.
CREATE TABLE IF NOT EXISTS transitions (
    source     VARCHAR     NOT NULL,
    item       VARCHAR     NOT NULL,
    state      VARCHAR     NOT NULL,
    entered_at TIMESTAMPTZ NOT NULL,
    seq        BIGINT      NOT NULL
);
-- Blocked flags raised on an item whatever its state (Jira's "Flagged", say).
CREATE TABLE IF NOT EXISTS flags (
    source     VARCHAR     NOT NULL,
    item       VARCHAR     NOT NULL,
    raised_at  TIMESTAMPTZ NOT NULL,
    cleared_at TIMESTAMPTZ
);
-- What a source knows of its states' roles (touch, wait, finish...), used when no workflow is given:
-- an XES log's lifecycle, say.
CREATE TABLE IF NOT EXISTS state_roles (
    source VARCHAR NOT NULL,
    state  VARCHAR NOT NULL,
    role   VARCHAR NOT NULL,
    PRIMARY KEY (source, state)
);
CREATE TABLE IF NOT EXISTS items (
    source     VARCHAR NOT NULL,
    item       VARCHAR NOT NULL,
    title      VARCHAR,
    type       VARCHAR,
    attributes JSON,
    PRIMARY KEY (source, item)
);
CREATE SEQUENCE IF NOT EXISTS import_ids;
CREATE TABLE IF NOT EXISTS imports (
    id          BIGINT PRIMARY KEY,
    source      VARCHAR NOT NULL,
    location    VARCHAR NOT NULL,
    rows_read   BIGINT,
    duplicates  BIGINT,
    added       BIGINT,
    removed     BIGINT,
    items       BIGINT,
    imported_at TIMESTAMPTZ NOT NULL
);
-- Every saved version of the map; saving appends a version, never overwrites one.
CREATE TABLE IF NOT EXISTS maps (
    version  INTEGER PRIMARY KEY,
    saved_at TIMESTAMPTZ NOT NULL,
    name     VARCHAR,
    content  VARCHAR NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS event_ids;
CREATE TABLE IF NOT EXISTS events (
    id         BIGINT PRIMARY KEY,
    date       DATE    NOT NULL,
    title      VARCHAR NOT NULL,
    kind       VARCHAR NOT NULL,
    new_period BOOLEAN NOT NULL,
    added_at   TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS checks (
    ran_at  TIMESTAMPTZ NOT NULL,
    summary JSON
);
"""


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
    """A fresh folder for one connection's spill files, inside this process's own temporary folder.

    DuckDB spills to ``.tmp`` beside the database (or in the working folder) by default, and leaves
    it there when the process dies. Ours live under the system's temporary folder, are removed when
    the process exits (after an error too), and a later run removes those of processes that died.
    """
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
    con.execute(f"SET temp_directory = '{_sql_path(spill_directory())}'")
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


def storage_fault(exc: duckdb.Error, path: Path | None = None) -> InputError | None:
    """A DuckDB I/O failure that is the machine's or the user's, not ours, as one clear error (else None)."""
    text = str(exc)
    where = str(path) if path else None
    faults = (
        (
            "No space left on device",
            "the disk is full; free some space and run it again (nothing was saved)",
        ),
        (
            "File too large",
            "the file would grow past the size this process may write (nothing was saved)",
        ),
        (
            "Read-only file system",
            "the file system is read-only: read commands work, this one writes",
        ),
        (
            "Permission denied",
            "no permission to write it: read commands work; this one needs write access",
        ),
        (
            "not a valid DuckDB database file",
            "this is not a valuestream workspace (not a DuckDB file); name yours with --workspace",
        ),
        ("Is a directory", "this is a folder, not a workspace file; name a file with --workspace"),
        (
            "created with an",
            "this workspace was written by another DuckDB version than this valuestream's; upgrade valuestream",
        ),
    )
    for marker, message in faults:
        if marker in text:
            return WorkspaceFileError(message, file=where)
    return None


def _busy_timeout() -> float:
    """Seconds to wait for a workspace another process holds: VALUESTREAM_BUSY_TIMEOUT, else 60."""
    given = os.environ.get("VALUESTREAM_BUSY_TIMEOUT", "")
    try:
        seconds = float(given) if given else 60.0
    except ValueError:
        raise InputError(f"VALUESTREAM_BUSY_TIMEOUT: expected seconds, got '{given}'") from None
    if not 0 <= seconds <= 86_400:
        raise InputError(f"VALUESTREAM_BUSY_TIMEOUT: expected 0 to 86400 seconds, got {given}")
    return seconds


def _is_lock_error(exc: Exception) -> bool:
    """Whether the file is busy: another process holds its lock, or (in a server, where threads
    share one process) another thread of ours has it open in the other mode for a moment."""
    text = str(exc).lower()
    if "different configuration than existing connections" in text or (
        "unique file handle conflict" in text
    ):
        return True
    return "lock" in text and (
        "conflicting" in text or "could not set" in text or "lock on file" in text
    )


class ImportResult(dict[str, Any]):
    """Counts of one import: rows read, duplicates ignored, transitions added and removed, items."""


class Workspace:
    """A valuestream workspace file (DuckDB), created on first use."""

    def __init__(self, path: str | Path = DEFAULT_PATH, *, busy_timeout: float | None = None) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout if busy_timeout is not None else _busy_timeout()
        self._ready = False

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    # -- connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the workspace for one unit of work, waiting while another process holds it."""
        self._check_file()
        if read_only and not self.path.exists():
            self.ensure()
        spill = spill_directory()
        config: dict[str, str | bool | int | float | list[str]] = {"temp_directory": str(spill)}
        limit = memory_limit()
        if limit:
            config["memory_limit"] = limit
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only, config=config)
                con.execute("SET TimeZone = 'UTC'")
                break
            except (duckdb.IOException, duckdb.ConnectionException, duckdb.ResourceInUseException) as exc:
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    shutil.rmtree(spill, ignore_errors=True)
                    if _is_lock_error(exc):
                        raise WorkspaceBusyError(
                            f"{self.path} stayed locked by another process for {self.busy_timeout:.0f} s"
                        ) from None
                    raise (storage_fault(exc, self.path) or exc) from None
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
        try:
            if not read_only and not self._ready:
                self._migrate(con)
            yield con
        except duckdb.IOException as exc:
            raise (storage_fault(exc, self.path) or exc) from None
        finally:
            con.close()
            shutil.rmtree(spill, ignore_errors=True)

    def _check_file(self) -> None:
        """Refuse, in one clear line, a path that cannot be a workspace (before DuckDB tries it)."""
        if self.path.is_dir():
            raise WorkspaceFileError(
                "this is a folder, not a workspace file; name a file with --workspace",
                file=self.path,
            )
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise WorkspaceFileError(
                "this file is empty, not a valuestream workspace; remove it or name another with --workspace",
                file=self.path,
            )

    def ensure(self) -> None:
        """Create the file and its tables if they are not there yet."""
        with self.connect():
            pass

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
        }
        if tables and "meta" not in tables:
            # Someone else's DuckDB database: adding our tables to it would be a surprise.
            raise WorkspaceFileError(
                "this DuckDB file is not a valuestream workspace (it has no meta table); name yours with --workspace",
                file=self.path,
            )
        con.execute(_SCHEMA)
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        elif int(row[0]) > SCHEMA_VERSION:
            raise InputError(
                f"this workspace was written by a newer valuestream (schema {row[0]}); upgrade valuestream",
                file=self.path,
            )
        self._ready = True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One all-or-nothing unit of work: committed when the block ends, rolled back on error.

        A failed unit leaves the file as it was and also its size: DuckDB writes a large
        transaction's blocks into the file before it commits, and a rollback (after a full disk,
        say) frees them without giving the space back; see :func:`_settled_size`.
        """
        with self.connect() as con:
            size = _settled_size(con, self.path)
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                _shrink_back(self.path, size)
                raise

    # -- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.connect(read_only=True) as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.connect() as con:
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    # -- the weekly checks ----------------------------------------------------------------------

    def last_check(self) -> tuple[Any, str | None] | None:
        """When the last weekly check ran and the summary it stored (JSON), or None before the first."""
        with self.connect(read_only=True) as con:
            row = con.execute(
                "SELECT ran_at, summary FROM checks ORDER BY ran_at DESC LIMIT 1"
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def record_check(self, ran_at: Any, summary: str) -> None:
        """Remember one weekly check (its time and JSON summary), so the next reports only what is new."""
        with self.transaction() as con:
            con.execute("INSERT INTO checks VALUES (?, ?)", [ran_at, summary])

    # -- imports -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _nothing_left_on_error(self) -> Iterator[None]:
        """A workspace file that an import created is removed again when the import fails."""
        existed = self.path.exists()
        try:
            yield
        except BaseException:
            if not existed:
                self._ready = False
                for leftover in (self.path, self.path.with_name(self.path.name + ".wal")):
                    with contextlib.suppress(OSError):
                        leftover.unlink(missing_ok=True)
            raise

    def import_file(self, path: str | Path, **options: Any) -> ImportResult:
        """Import an event log file: a table of transitions (CSV, Parquet, JSON Lines; see
        :func:`valuestream.sources.tabular.stage_file`) or an event log (XES, a process-mining CSV
        export; see :func:`valuestream.sources.xes.read_log`), compressed or not."""
        with self._nothing_left_on_error():
            return self._import_file(path, **options)

    def _import_file(self, path: str | Path, **options: Any) -> ImportResult:
        from valuestream.sources import tabular

        source = options.pop("source", "log")
        on_stage = options.get("on_stage") or (lambda stage: None)
        from valuestream.sources import xes

        kind = xes.log_kind(path, format=options.get("format"), columns=options.get("columns"), delimiter=options.get("delimiter"))
        if kind and options.get("encoding"):
            raise InputError("--encoding is for CSV and JSON Lines tables; an XES log names its own encoding", file=path)
        if kind:  # an XES log, or a process-mining tool's CSV export of one
            log = xes.read_log(
                path,
                on_stage=on_stage,
                kind=kind,
                state=(options.get("columns") or {}).get("state"),
                timezone=options.get("timezone", "UTC"),
                delimiter=options.get("delimiter"),
            )
            on_stage("saving")
            return self.import_table(
                log.transitions, items=log.items, roles=log.roles, source=source, location=str(path),
                time_range=options.get("time_range"),
            )  # fmt: skip
        with self.transaction() as con:
            staged = tabular.stage_file(con, path, **options)
            on_stage("saving")
            return apply_staged(con, source=source, location=str(path), staged=staged)

    def import_table(
        self,
        transitions: pa.Table,
        *,
        source: str,
        location: str,
        items: pa.Table | None = None,
        flags: pa.Table | None = None,
        roles: dict[str, str] | None = None,
        time_range: TimeRange | None = None,
    ) -> ImportResult:
        """Import histories that a connector already read into Arrow tables.

        ``transitions``: item, state, entered_at (timestamp with time zone) and optionally seq.
        ``items``: item, and optionally title, type, attributes (a JSON string).
        ``flags``: item, raised_at, cleared_at (null while still flagged).
        ``roles``: state -> touch, wait, blocked or finish, as the source knows them (used when the
        analysis has no workflow). Every item present in ``transitions`` has its history from
        ``source`` replaced. Times outside ``time_range`` (default: 1970 to a year from now) and
        control characters in ids and states are refused, naming the item.
        """
        with self._nothing_left_on_error(), self.transaction() as con:
            staged = stage_tables(con, transitions, items=items, flags=flags, time_range=time_range, location=location)
            result = apply_staged(con, source=source, location=location, staged=staged)
            for state, role in (roles or {}).items():
                con.execute(
                    "INSERT OR REPLACE INTO state_roles VALUES (?, ?, ?)", [source, state, role]
                )
            return result

    # -- reads -------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self.connect(read_only=True) as con:
            row = con.execute(
                "SELECT (SELECT count(*) FROM transitions), (SELECT count(DISTINCT item) FROM transitions),"
                " (SELECT count(*) FROM events), (SELECT count(*) FROM maps)"
            ).fetchone()
        assert row is not None
        return dict(
            zip(("transitions", "items", "events", "maps"), (int(v) for v in row), strict=True)
        )

    def stamp(self) -> dict[str, int]:
        """What changed since last asked, cheaply: the last import, events, map version, checks.

        A server polls it to refresh its pages when the CLI imports data or logs an event.
        """
        if not self.path.exists():
            return dict.fromkeys(("imports", "transitions", "events", "maps", "checks"), 0)
        with self.connect(read_only=True) as con:
            row = con.execute(
                "SELECT (SELECT coalesce(max(id), 0) FROM imports), (SELECT count(*) FROM transitions),"
                " (SELECT coalesce(max(id), 0) * 100000 + count(*) FROM events),"
                " (SELECT coalesce(max(version), 0) FROM maps), (SELECT count(*) FROM checks)"
            ).fetchone()
        assert row is not None
        return dict(
            zip(("imports", "transitions", "events", "maps", "checks"), (int(v) for v in row), strict=True)
        )

    @contextlib.contextmanager
    def attached(self, con: duckdb.DuckDBPyConnection, alias: str = "ws") -> Iterator[None]:
        """Attach the workspace read-only to another (in-memory) connection for the block.

        A workspace that exists is never opened for writing here, so a read-only file serves every
        analysis.
        """
        self._check_file()
        if not self.path.exists():
            self.ensure()
        use_spill_directory(con)
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                con.execute(f"ATTACH '{_sql_path(self.path)}' AS {alias} (READ_ONLY)")
                break
            except duckdb.Error as exc:
                if not _is_lock_error(exc):
                    raise (storage_fault(exc, self.path) or exc) from None
                if time.monotonic() > deadline:
                    raise WorkspaceBusyError(
                        f"{self.path} stayed locked by another process"
                    ) from None
                time.sleep(0.05 + random.random() * 0.1)
        try:
            yield
        finally:
            con.execute(f"DETACH {alias}")


def _settled_size(con: duckdb.DuckDBPyConnection, path: Path) -> int | None:
    """The file's size once every committed change is checkpointed into it (None if that cannot be
    done now). Past that size nothing refers to any block: the write-ahead log is empty and the
    file's header describes the checkpoint, so bytes a failed transaction appended are its own."""
    try:
        con.execute("CHECKPOINT")
        return path.stat().st_size
    except (duckdb.Error, OSError):
        return None


def _shrink_back(path: Path, size: int | None) -> None:
    """Cut the blocks a rolled-back transaction appended (the connection writes nothing more after a
    rollback with an empty write-ahead log, so the file ends where the checkpoint left it)."""
    if size is None:
        return
    with contextlib.suppress(OSError):
        if path.stat().st_size > size:
            os.truncate(path, size)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def apply_staged(
    con: duckdb.DuckDBPyConnection, *, source: str, location: str, staged: Staged
) -> ImportResult:
    """Replace the histories of the staged items from ``source``; the caller holds the transaction."""
    if staged["rows"] == 0:
        raise InputError("no rows to import", file=location)
    con.execute("CREATE OR REPLACE TEMP TABLE _touched AS SELECT DISTINCT item FROM _new_t")
    n_items = int(con.execute("SELECT count(*) FROM _touched").fetchone()[0])  # type: ignore[index]
    existing = con.execute(
        "SELECT count(*) FROM transitions WHERE source = $source", {"source": source}
    ).fetchone()
    if existing is None or existing[0] == 0:
        # The first import from this source: everything is new, nothing to compare or delete.
        added, removed = staged["rows"] - staged["duplicates"], 0
    else:
        diff = con.execute(
            """
            WITH old AS (
                SELECT t.item, t.state, t.entered_at
                FROM transitions t SEMI JOIN _touched USING (item)
                WHERE t.source = $source
            )
            SELECT
                (SELECT count(*) FROM (SELECT item, state, entered_at FROM _new_t EXCEPT SELECT * FROM old)),
                (SELECT count(*) FROM (SELECT * FROM old EXCEPT SELECT item, state, entered_at FROM _new_t))
            """,
            {"source": source},
        ).fetchone()
        assert diff is not None
        added, removed = int(diff[0]), int(diff[1])
        con.execute(
            "DELETE FROM transitions WHERE source = $source AND item IN (SELECT item FROM _touched)",
            {"source": source},
        )
    con.execute(
        "INSERT INTO transitions SELECT $source, item, state, entered_at, seq FROM _new_t",
        {"source": source},
    )
    con.execute(
        "DELETE FROM flags WHERE source = $source AND item IN (SELECT item FROM _touched)",
        {"source": source},
    )
    con.execute(
        "INSERT INTO flags SELECT $source, item, raised_at, cleared_at FROM _new_flags",
        {"source": source},
    )
    con.execute(
        "INSERT OR REPLACE INTO items SELECT $source, item, title, type, attributes FROM _new_items",
        {"source": source},
    )
    con.execute(
        "INSERT INTO imports VALUES (nextval('import_ids'), $source, $location, $rows, $dups, $added, $removed, $items, now())",
        {
            "source": source,
            "location": location,
            "rows": staged["rows"],
            "dups": staged["duplicates"],
            "added": added,
            "removed": removed,
            "items": n_items,
        },
    )
    for table in ("_new_t", "_new_items", "_new_flags", "_touched"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return ImportResult(
        source=source,
        location=location,
        rows=staged["rows"],
        duplicates=staged["duplicates"],
        added=added,
        removed=removed,
        items=n_items,
    )


# -- importing from a source ------------------------------------------------------------------


def checkpoint_folder(
    workspace: Workspace, source_name: str, location: str, since: dt.datetime | None
) -> Path:
    """Where a run keeps its pages: beside the workspace, one folder per source, query and cut-off."""
    key = hashlib.sha256(f"{source_name}\n{location}\n{since}".encode()).hexdigest()[:16]
    return workspace.path.with_name(workspace.path.name + ".partial") / f"{source_name}-{key}"


def last_run_key(source_name: str, location: str) -> str:
    return f"last_run:{source_name}:{location}"


def import_source(
    workspace: Workspace,
    source: Source,
    *,
    source_name: str | None = None,
    full: bool = False,
    progress: Progress | None = None,
    transform: Callable[[Histories], Histories] | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    time_range: TimeRange | None = None,
) -> ImportResult:
    """Read a source and save what it read in one transaction; nothing is saved if anything fails.

    Incremental: the time of the last successful run of this source and location is kept in the
    workspace's meta table, and the next run asks only for what changed since (``full`` reads
    everything). Pages fetched by an interrupted run are kept beside the workspace and reused by
    the next run with the same query. ``transform`` rewrites the histories before they are saved
    (joining item keys, say). Times outside ``time_range`` (default: 1970 to a year from now)
    are refused, naming the item.
    """
    name = source_name or source.name
    location = source.location
    key = last_run_key(name, location)
    mark = None if full else workspace.get_meta(key)
    since = dt.datetime.fromisoformat(mark) - INCREMENTAL_OVERLAP if mark else None
    checkpoint = Checkpoint(checkpoint_folder(workspace, name, location, since))
    started = checkpoint.started(now())
    run = Run(since=since, checkpoint=checkpoint, progress=progress or _no_progress)
    histories = Histories.concat(source.read(run))
    if transform is not None:
        histories = transform(histories)
    if histories.transitions.num_rows == 0:
        if since is None:
            raise InputError(f"{location}: found no item histories to import")
        result = ImportResult(
            source=name, location=location, rows=0, duplicates=0, added=0, removed=0, items=0
        )
    else:
        result = workspace.import_table(
            histories.transitions,
            source=name,
            location=location,
            items=histories.items,
            flags=histories.flags,
            roles=dict(histories.roles) or None,
            time_range=time_range,
        )
    # Written after the import's own transaction: if we stop in between, the next run merely
    # re-reads a little more than it needed to.
    workspace.set_meta(key, started.isoformat())
    checkpoint.clear()
    result["since"] = since.isoformat() if since else None
    return result
