"""Event logs in flat files: CSV (or TSV), Parquet and JSON Lines, one row per transition.

The file is read by DuckDB in the workspace's own transaction: every value is read as text first,
then checked, so that the first bad value is reported with its row, line and column, and nothing is
written when any row is wrong.
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from valuestream.errors import InputError
from valuestream.sources.checks import (
    Faults,
    TimeRange,
    check_timezone,
    check_transitions,
    find_faults,
)
from valuestream.sources.compression import (
    DECOMPRESSION_ERRORS,
    DUCKDB_READS,
    inner_name,
    open_bytes,
    open_text,
    plain_copy,
)
from valuestream.sources.encoding import first_undecodable, from_bom, utf8_copy
from valuestream.sources.staging import Staged, dedupe_staged

REQUIRED = ("item", "state", "entered_at")
ITEM_FIELDS = ("title", "type")
FORMATS = ("csv", "parquet", "jsonl")


def detect_format(path: Path) -> str:
    """The format a file's name claims: .csv/.tsv/.txt, .parquet, .jsonl/.ndjson/.json (each
    optionally compressed: .gz, .bz2, .xz, .zst)."""
    name = inner_name(path).lower()
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise InputError(
        "cannot tell the format from the file name; name it with --input-format csv|parquet|jsonl|xes", file=path
    )


def time_expression(column: str, time_format: str) -> str:
    """SQL turning text ``column`` into TIMESTAMPTZ; naive times are read in the session's time zone."""
    col = f"trim({column})"
    if time_format == "auto":
        # A date alone, else ISO 8601 with or without offset, else epoch seconds.
        return f"coalesce({date_expression(col)}, TRY_CAST({col} AS TIMESTAMPTZ), {epoch_expression(col, 1)})"
    if time_format == "epoch":
        return epoch_expression(col, 1)
    if time_format == "epoch_ms":
        return epoch_expression(col, 1000)
    if time_format == "iso":
        return f"coalesce({date_expression(col)}, TRY_CAST({col} AS TIMESTAMPTZ))"
    fmt = time_format.replace("'", "''")
    if not _TIME_OF_DAY.search(time_format):
        return f"timezone('UTC', try_strptime({col}, '{fmt}'))"  # dates only: see date_expression
    return f"CAST(try_strptime({col}, '{fmt}') AS TIMESTAMPTZ)"


def epoch_expression(col: str, per_second: int) -> str:
    """SQL for epoch seconds (or milliseconds) as TIMESTAMPTZ; NULL for NaN, infinity and numbers
    past the timestamps DuckDB holds, which its to_timestamp would fail the whole statement on
    (later years than 9999 are then refused by the time range).

    The number is written once: DuckDB computes an expression written several times in one
    SELECT once for every row, even inside a coalesce that needs it only for the rows that are
    not ISO times (ten million rows: 0.7 s of CPU).
    """
    return f"try(to_timestamp(TRY_CAST({col} AS DOUBLE) / {per_second}))"


# strptime directives that read a time of day or an offset: a format without any reads dates.
_TIME_OF_DAY = re.compile(r"%[HIklMSfpzZcXTRrs]")


def date_expression(col: str) -> str:
    """SQL for a value that is a date alone (2026-03-29): that date at 00:00 UTC, else NULL.

    A date is a calendar date, not an instant in the file's time zone: read as local midnight,
    two dates around a change to summer time would be 23 hours short of whole days (30.96 days
    from 1 March to 1 April in Berlin). At 00:00 UTC every difference of dates is whole days, and
    the day shown is the date written, whatever ``--tz`` says.
    """
    # strlen first: it rules out almost every value before the (costlier) regular expression runs.
    return f"CASE WHEN strlen({col}) = 10 AND regexp_full_match({col}, '\\d{{4}}-\\d{{2}}-\\d{{2}}') THEN timezone('UTC', CAST(TRY_CAST({col} AS DATE) AS TIMESTAMP)) END"


def _expected_time(time_format: str) -> str:
    if time_format in ("auto", "iso"):
        return "an ISO 8601 time such as 2026-03-01T09:30:00+01:00 (or epoch seconds); name another format with --time-format"
    if time_format.startswith("epoch"):
        return f"a number ({time_format.replace('_', ' ')})"
    return f"a time in the format '{time_format}'"


def _open_text(path: Path) -> IO[str]:
    return open_text(path)


def _delimiter(path: Path) -> str:
    """The delimiter of a delimited text file, judged from its header line."""
    with _open_text(path) as fh:
        header = fh.readline()
    return max((",", ";", "\t", "|"), key=header.count)


def _ragged_row(path: Path, delim: str) -> tuple[int, int, int] | None:
    """The first data row whose field count differs from the header's: (row, fields, expected)."""
    with _open_text(path) as fh:
        rows = csv.reader(fh, delimiter=delim)
        header = next(rows, [])
        for row_no, fields in enumerate(rows, start=1):
            if fields and len(fields) != len(header):
                return row_no, len(fields), len(header)
    return None


def _reader(path: Path, fmt: str, *, delimiter: str | None = None, packed: str | None = None) -> str:
    p = str(path).replace("'", "''")
    # Always say the compression: DuckDB would otherwise trust a '.gz' in the name of a plain file.
    packing = f", compression = '{packed or 'none'}'"
    if fmt == "csv":
        delim = (delimiter or _delimiter(path)).replace("\t", "\\t").replace("'", "''")
        return f"read_csv('{p}', all_varchar = true, header = true, skip = 0, delim = E'{delim}', quote = '\"'{packing})"
    if fmt == "parquet":
        return f"read_parquet('{p}')"
    if fmt == "jsonl":
        return f"read_json('{p}', format = 'newline_delimited'{packing})"
    raise InputError(f"unknown format '{fmt}'; expected one of {', '.join(FORMATS)}", file=path)


def parse_delimiter(delimiter: str | None) -> str | None:
    """``--delimiter`` as one character (``tab`` or ``\\t`` for a tab); None to judge it from the header."""
    if delimiter is None:
        return None
    if delimiter.lower() in ("tab", "\\t", "\t"):
        return "\t"
    if len(delimiter) != 1 or delimiter in "\"\r\n":
        raise InputError(f"--delimiter: expected one character such as ';' or '|', or 'tab', got '{delimiter}'")
    return delimiter


@contextlib.contextmanager
def _readable(path: Path, fmt: str, encoding: str | None) -> Iterator[tuple[Path, str | None]]:
    """(a UTF-8 file DuckDB can read, the compression it still has) for the block: decompressed
    into a temporary file of ours unless DuckDB decompresses it itself, and rewritten as UTF-8 when
    the file is in another encoding (``--encoding``, or UTF-16 by its byte-order mark)."""
    if fmt == "parquet":
        yield path, None
        return
    encoding = encoding or from_bom(path)
    if encoding is None:
        with plain_copy(path, keep=DUCKDB_READS) as found:
            yield found
        return
    with utf8_copy(path, encoding) as plain:
        yield plain, None


class _Rows:
    """A file's rows as SQL for the staging statements: ``plain`` (the file's columns), ``numbered``
    (the same with ``_row``, the 1-based row), ``why``, the error to raise when a statement
    reading them fails on the file's content, and ``header``, the file's column names."""

    def __init__(self, plain: str, numbered: str, why: Callable[[duckdb.Error], InputError], con: duckdb.DuckDBPyConnection) -> None:
        self.plain, self.numbered, self.why = plain, numbered, why
        self.header = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {plain}").fetchall() if r[0] != "_row"]


@contextlib.contextmanager
def _rows(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    fmt: str,
    delimiter: str | None,
    encoding: str | None = None,
    required: frozenset[str] = frozenset(),
) -> Iterator[_Rows]:
    """The file's rows for the block, decompressed as needed.

    A CSV is read where it lies by each statement that scans it: staging reads it once, and only
    an error's message or the item attributes read it again. Parquet and JSON Lines are read once
    into the temp table ``_raw`` (with ``_row``) and checked for nested values. DuckDB decompresses
    gzip and zstd CSV and JSON itself; anything else is decompressed into a temporary file of ours
    for the block, and removed after it, on errors too.
    """
    with _readable(path, fmt, encoding) as (readable, packed):

        def why(exc: duckdb.Error) -> InputError:
            try:
                return _why_unreadable(exc, path, readable, fmt, delimiter, packed)
            except DECOMPRESSION_ERRORS as cut:
                return _cut_short(path, cut)

        try:
            if fmt != "parquet" and _is_blank(readable):
                raise InputError("the file is empty: expected a header line and one row per transition", file=path)
            if fmt == "csv":
                _check_header(readable, path, delimiter or _delimiter(readable))
            elif fmt == "parquet":
                _check_parquet_names(path)
            reader = _reader(readable, fmt, delimiter=delimiter, packed=packed)
            if fmt == "jsonl":
                reader = _times_as_text(con, reader)
            if fmt == "csv":
                rows = _Rows(reader, f"(SELECT row_number() OVER () AS _row, * FROM {reader})", why, con)
            else:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT row_number() OVER () AS _row, * FROM {reader}")
        except duckdb.Error as exc:
            raise why(exc) from None
        except DECOMPRESSION_ERRORS as exc:
            raise _cut_short(path, exc) from None
        if fmt != "csv":
            _check_nested(con, path, fmt, required)
            rows = _Rows("_raw", "_raw", why, con)
        yield rows


_TEMPORAL = ("DATE", "TIME", "TIMESTAMP")


def _times_as_text(con: duckdb.DuckDBPyConnection, reader: str) -> str:
    """DuckDB's JSON reader, with the columns it would type as times read as the text they hold.

    It takes text that looks like a time for a time, and the text is gone: ``+25:00`` read as an
    offset of a day and an hour, say. Our own reading of times checks them as written.
    """
    found = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    if not any(kind.startswith(_TEMPORAL) for _, kind, *_ in found):
        return reader
    columns = ", ".join(
        f"{_literal(name)}: {_literal('VARCHAR' if kind.startswith(_TEMPORAL) else kind)}" for name, kind, *_ in found
    )
    return f"{reader[:-1]}, columns = {{{columns}}})"


def _cut_short(path: Path, exc: BaseException) -> InputError:
    return InputError(f"cannot be decompressed: {exc}; is the file cut short?", file=path)


def _is_blank(path: Path) -> bool:
    with open_bytes(path) as fh:
        head = fh.read(1 << 16)
    return not head.strip(b" \t\r\n\xef\xbb\xbf")


def _check_header(readable: Path, path: Path, delim: str) -> None:
    """A header naming one column twice would have DuckDB rename the second: refuse it instead."""
    with _open_text(readable) as fh:
        header = next(csv.reader(fh, delimiter=delim), [])
    seen: dict[str, int] = {}
    for n, name in enumerate(header, start=1):
        if name.strip() in seen:
            raise InputError(
                f"the header names column '{name.strip()}' twice (fields {seen[name.strip()]} and {n}); give each column its own name",
                file=path,
                line=1,
            )
        seen[name.strip()] = n


def _check_parquet_names(path: Path) -> None:
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot be read as PARQUET: {exc}", file=path) from None
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"the file names column '{twice[0]}' twice; give each column its own name", file=path)


_NESTED_TYPE = re.compile(r"STRUCT|MAP|UNION|\[\]|\[\d+\]")


def _check_nested(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, required: frozenset[str]) -> None:
    """Lists, structs and JSON objects are refused with their place (they would be stored as their
    repr); a JSON column that mixes text and numbers in the columns we read is named at its first
    row that differs from the first. JSON values that are plain are then read as their text."""
    line = (lambda row: row) if fmt == "jsonl" else (lambda row: None)
    plain_json = []
    for name, kind, *_ in con.execute("DESCRIBE _raw").fetchall():
        col = _quote(name)
        if _NESTED_TYPE.search(kind):
            found = con.execute(f"SELECT min(_row) FROM _raw WHERE {col} IS NOT NULL").fetchall()[0]
            if found and found[0] is not None:
                what = "a list" if "[" in kind else "an object" if fmt == "jsonl" else "a struct"
                raise InputError(
                    f"{what} where a plain value (text, number or time) was expected", file=path, row=int(found[0]), line=line(int(found[0])), column=name
                )
        elif kind == "JSON":
            first = con.execute(
                f"""
                SELECT min(_row) FILTER (WHERE json_type({col}) IN ('OBJECT', 'ARRAY')),
                       arg_min(_kind, _row) FILTER (WHERE _kind IS NOT NULL)
                FROM (SELECT _row, {col}, CASE WHEN json_type({col}) IN ('VARCHAR') THEN 'text'
                      WHEN json_type({col}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN 'number' END AS _kind FROM _raw)
                """
            ).fetchall()[0]
            assert first is not None
            if first[0] is not None:
                raise InputError(
                    "an object or a list where a plain value (text, number or time) was expected",
                    file=path, row=int(first[0]), line=int(first[0]), column=name,
                )  # fmt: skip
            if first[1] is not None and name in required:
                other = con.execute(
                    f"""
                    SELECT min(_row) FROM _raw
                    WHERE json_type({col}) IN ({"'VARCHAR'" if first[1] == 'number' else "'BIGINT', 'UBIGINT', 'DOUBLE'"})
                    """
                ).fetchall()[0]
                if other and other[0] is not None:
                    has = "text" if first[1] == "number" else "a number"
                    raise InputError(
                        f"{has} where the first rows have {'numbers' if first[1] == 'number' else 'text'}; write every value of this column the same way",
                        file=path, row=int(other[0]), line=int(other[0]), column=name,
                    )  # fmt: skip
            plain_json.append(name)
    if plain_json:
        replaced = ", ".join(f"json_extract_string({_quote(n)}, '$') AS {_quote(n)}" for n in plain_json)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * REPLACE ({replaced}) FROM _raw")


def _why_unreadable(
    exc: duckdb.Error, path: Path, readable: Path, fmt: str, delimiter: str | None, packed: str | None
) -> InputError:
    """The reason DuckDB could not read a file, as one line with its place: an undecodable byte,
    an unclosed quote, a row of the wrong width, a file cut short; else DuckDB's own first line."""
    first = str(exc).strip().splitlines()[0]
    if packed is None and fmt != "parquet":
        bad = first_undecodable(readable)
        if bad:
            offset, line, byte = bad
            return InputError(
                f"byte {offset:,} (0x{byte:02x}) is not UTF-8; name the file's encoding with --encoding (latin-1, cp1252, utf-16...)",
                file=path,
                line=line,
            )
    if fmt != "csv":
        return InputError(f"cannot be read as {fmt.upper()}: {first}", file=path)
    used = delimiter or _delimiter(readable)
    opened = _unclosed_quote(readable, used)
    if opened:
        return InputError("a quoted field opened here is never closed (a '\"' is missing)", file=path, line=opened)
    ragged = _ragged_row(readable, used)
    if ragged:
        row, got, expected = ragged
        hint = "" if delimiter else f" (separated by {used!r}, judged from the header; name another with --delimiter)"
        return InputError(
            f"cannot be read as CSV: {got} fields where the header has {expected}{hint}", file=path, row=row, line=row + 1
        )
    if packed and ("Aborted" in first or "gzip" in first.lower() or "zstd" in first.lower()):
        return InputError(f"cannot be decompressed ({packed}): {first}; is the file cut short?", file=path)
    return InputError(f"cannot be read as CSV: {first}", file=path)


def _unclosed_quote(path: Path, delim: str) -> int | None:
    """The line where a quoted field starts that no quote closes before the end of the file."""
    with _open_text(path) as fh:
        reader = csv.reader(fh, delimiter=delim, strict=True)
        start = 1
        try:
            for _ in reader:
                start = reader.line_num + 1
        except csv.Error as exc:
            if "unexpected end of data" in str(exc) or "EOF" in str(exc):
                return start
    return None


# An ISO 8601 offset after a time of day: +hh:mm, +hhmm or +hh.
_OFFSET = r"\d[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*[+-](\d{2}):?(\d{2})?$"


def bad_offset(col: str) -> str:
    """SQL: whether text ``col`` ends in an impossible UTC offset (hours past 14, minutes past 59),
    which DuckDB would read (as +25:00, say). Only a value with a sign where an offset's would be
    can hold one, so the regular expressions run on few values or none."""
    sign = " OR ".join(f"{col}[{at}] IN ('+', '-')" for at in (-3, -5, -6))  # +hh, +hhmm, +hh:mm
    return (
        f"(({sign}) AND (TRY_CAST(regexp_extract({col}, '{_OFFSET}', 1) AS INTEGER) > 14"
        f" OR TRY_CAST(regexp_extract({col}, '{_OFFSET}', 2) AS INTEGER) > 59))"
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    format: str | None = None,
    columns: dict[str, str] | None = None,
    timezone: str = "UTC",
    time_format: str = "auto",
    delimiter: str | None = None,
    encoding: str | None = None,
    time_range: TimeRange | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Staged:
    """Read an event log into the staging tables, or raise :class:`InputError` at the first bad value.

    ``columns`` maps our names (item, state, entered_at, title, type) to the file's column names.
    ``delimiter`` separates a CSV's fields (judged from the header line when None). The file may
    be compressed (gzip, bzip2, xz, zstd). A value that is a date alone is that calendar date
    (see :func:`date_expression`); other times without an offset are in ``timezone``.
    Every other column is kept as an item attribute (its last value in time). ``on_stage`` is told
    what is being done (reading, checking, reading times, item attributes) for a progress display.
    ``encoding`` names a text file's encoding (UTF-8 by default, UTF-16 by its byte-order mark);
    times outside ``time_range`` (default: :meth:`TimeRange.default`) are refused.
    """
    stage = on_stage or (lambda name: None)
    path = Path(path)
    if path.is_dir():
        raise InputError("this is a folder; name the event log file inside it", file=path)
    if not path.is_file():
        raise InputError("no such file", file=path)
    fmt = format or detect_format(path)
    check_timezone(timezone)
    mapping = {name: (columns or {}).get(name, name) for name in (*REQUIRED, *ITEM_FIELDS)}

    stage("reading")
    required = frozenset(mapping[n] for n in REQUIRED)
    with _rows(con, path, fmt, parse_delimiter(delimiter), encoding, required) as rows:
        header = rows.header
        missing = [f"'{mapping[n]}'" + (f" (for {n})" if mapping[n] != n else "") for n in REQUIRED if mapping[n] not in header]
        if missing:
            raise InputError(
                f"missing column {', '.join(missing)}; the file has {', '.join(header)} (map yours with --item/--state/--time)",
                file=path,
            )
        line_offset = 1 if fmt == "csv" else 0  # the header line

        def fail(row: int, column: str, message: str) -> InputError:
            line = row + line_offset if fmt in ("csv", "jsonl") else None
            return InputError(message, file=path, row=row, line=line, column=column)

        stage("checking")
        _stage_transitions(con, rows, mapping, timezone, time_format, path)
        stage("item attributes")
        _stage_items(con, rows, header, mapping)  # before the checks: they read the items from it
        faults = _first_fault(con, rows, mapping, time_format, time_range, fail)
    con.execute("CREATE OR REPLACE TEMP TABLE _new_flags (item VARCHAR, raised_at TIMESTAMPTZ, cleared_at TIMESTAMPTZ)")
    con.execute("DROP TABLE IF EXISTS _raw")
    return dedupe_staged(con, faults, table="_read")


def _stage_transitions(
    con: duckdb.DuckDBPyConnection, rows: _Rows, mapping: dict[str, str], timezone: str, time_format: str, path: Path
) -> None:
    """The one pass over the file: trimmed ids and states, and times parsed in the user's zone
    (naive times are local), as the table ``_read``; the view ``_new_t_all`` adds each row's seq.

    A time that cannot be read, or whose UTC offset is impossible, is NULL here and named by
    :func:`_first_fault`. ``seq`` comes from the table's own row ids: CREATE TABLE AS keeps the
    file's order, so they number the rows as the file does, without a window over them.
    """
    item_c, state_c, time_c = (_quote(mapping[n]) for n in REQUIRED)
    times = time_expression(f"CAST({time_c} AS VARCHAR)", time_format)
    if time_format in ("auto", "iso"):
        times = f"CASE WHEN {bad_offset(f'trim(CAST({time_c} AS VARCHAR))')} THEN NULL ELSE {times} END"
    con.execute(f"SET TimeZone = '{timezone}'")
    try:
        try:  # binding alone (on no rows) finds a --time-format DuckDB cannot use
            con.execute(f"SELECT {times} FROM (SELECT NULL::VARCHAR AS {time_c}) WHERE false")
        except duckdb.Error as exc:
            # The transaction is aborted now: say why, and let the caller's rollback undo it.
            first = str(exc).strip().splitlines()[0]
            if time_format not in ("auto", "iso", "epoch", "epoch_ms"):
                raise InputError(f"--time-format '{time_format}' cannot read the times: {first}", file=path, column=mapping["entered_at"]) from None
            raise InputError(f"cannot read the times: {first}", file=path, column=mapping["entered_at"]) from None
        try:
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE _read AS
                SELECT trim(CAST({item_c} AS VARCHAR)) AS item,
                       trim(CAST({state_c} AS VARCHAR)) AS state,
                       {times} AS entered_at
                FROM {rows.plain}
                """
            )
        except duckdb.Error as exc:
            raise rows.why(exc) from None
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("SET TimeZone = 'UTC'")
    # Row ids number the rows in the order they were written, from a base that depends on where the
    # table lives (inside a transaction, 2**55 or so), hence the offset.
    base = con.execute("SELECT coalesce(min(rowid), 0) FROM _read").fetchone()
    assert base is not None
    con.execute(f"CREATE OR REPLACE TEMP VIEW _new_t_all AS SELECT item, state, entered_at, rowid - {int(base[0]) - 1} AS seq FROM _read")


def _first_fault(
    con: duckdb.DuckDBPyConnection,
    rows: _Rows,
    mapping: dict[str, str],
    time_format: str,
    time_range: TimeRange | None,
    fail: Callable[[int, str, str], InputError],
) -> Faults:
    """Raise for the first staged row of each kind that breaks a rule, all found in one pass:
    an empty id or state, a time that cannot be read, then what every source must satisfy.
    Returns what was found (all of it harmless)."""
    faults = find_faults(con, time_range, items="_new_items")
    empty_state = [at for at in (faults["null_state_at"], faults["blank_state_at"]) if at is not None]
    for ours, at, count in (
        ("item", faults["empty_item_at"], faults["empty_item"] or 0),
        ("state", min(empty_state, default=None), (faults["null_state"] or 0) + (faults["blank_state"] or 0)),
    ):
        if at is not None:
            what = "item id" if ours == "item" else "state"
            more = f" ({count - 1} more rows like it)" if count > 1 else ""
            raise fail(at, mapping[ours], f"empty {what}; every row needs one{more}")
    at, count = faults["null_time_at"], faults["null_time"] or 0
    if at is not None:
        col = f"trim(CAST({_quote(mapping['entered_at'])} AS VARCHAR))"
        offset = bad_offset(col) if time_format in ("auto", "iso") else "false"
        raw = con.execute(f"SELECT {col}, {offset} FROM {rows.numbered} WHERE _row = ?", [at]).fetchone()
        value, impossible = raw if raw else (None, False)
        if impossible:
            raise fail(at, mapping["entered_at"], f"'{value}' has an impossible UTC offset; offsets run from -12:00 to +14:00")
        more = f" ({count - 1} more rows like it)" if count > 1 else ""
        shown = "an empty value" if value is None or not str(value) else f"'{value}'"
        raise fail(at, mapping["entered_at"], f"cannot read {shown} as a time; expected {_expected_time(time_format)}{more}")
    return check_transitions(con, time_range, lambda row, ours, message: fail(row, mapping[ours], message), faults=faults)


def _stage_items(con: duckdb.DuckDBPyConnection, rows: _Rows, header: list[str], mapping: dict[str, str]) -> None:
    """Item attributes: title, type and every extra column, each the item's latest non-empty value
    (for a CSV, the second and last read of the file, and only when it has such columns)."""
    item_c = _quote(mapping["item"])
    used = {mapping[n] for n in REQUIRED}
    picks = []
    for name in ITEM_FIELDS:
        col = mapping[name]
        if col in header:
            used.add(col)
            picks.append(f"CAST(arg_max({_quote(col)}, _row) FILTER (WHERE {_quote(col)} IS NOT NULL) AS VARCHAR) AS {name}")
        else:
            picks.append(f"NULL::VARCHAR AS {name}")
    extras = [c for c in header if c not in used]
    if len(used) == len(REQUIRED) and not extras:
        # Nothing to keep but the ids: take them from the (narrower) staged transitions.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _new_items AS SELECT DISTINCT item, NULL::VARCHAR AS title,"
            " NULL::VARCHAR AS type, NULL::JSON AS attributes FROM _new_t_all"
        )
        return
    if extras:
        pairs = ", ".join(
            f"'{c.replace(chr(39), chr(39) * 2)}', arg_max({_quote(c)}, _row) FILTER (WHERE {_quote(c)} IS NOT NULL)"
            for c in extras
        )
        picks.append(f"json_object({pairs}) AS attributes")
    else:
        picks.append("NULL::JSON AS attributes")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _new_items AS
        SELECT trim(CAST({item_c} AS VARCHAR)) AS item, {', '.join(picks)}
        FROM {rows.numbered} GROUP BY 1
        """
    )
