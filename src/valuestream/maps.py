"""Every saved version of the map, kept in the workspace: saving appends, nothing is overwritten.

The wall changes after every session; a version history lets a team show how its picture of the
stream moved (and lets an experiment be compared with the map it started from).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from valuestream.errors import InputError
from valuestream.model import Stream, parse_stream
from valuestream.workspace import Workspace


@dataclass(frozen=True)
class SavedMap:
    """One version of the map as stored: its number, when, its name and the stream file text."""

    version: int
    saved_at: dt.datetime
    name: str | None
    content: str
    new: bool = True
    """False when the content equalled the latest version, so nothing was appended."""

    def stream(self) -> Stream:
        return parse_stream(self.content, f"map version {self.version}")


# The next version number is taken inside the inserting statement, in one transaction, so two
# saves can never get the same number; the primary key would refuse it anyway.
SQL_APPEND = """
INSERT INTO maps
SELECT coalesce(max(version), 0) + 1, now(), $name, $content FROM maps
RETURNING version, saved_at
"""

SQL_LATEST = "SELECT version, saved_at, name, content FROM maps ORDER BY version DESC LIMIT 1"


def save_map(workspace: Workspace, stream: Stream | str, *, name: str | None = None) -> SavedMap:
    """Append the map as a new version (unless it equals the latest one); returns that version.

    ``stream`` is a :class:`Stream` or the text of a stream file (kept as written, comments and
    all, after checking that it is valid).
    """
    if isinstance(stream, str):
        content = stream
        parsed = parse_stream(content)
    else:
        parsed = stream
        content = stream.to_yaml()
    name = name or parsed.name
    for _attempt in range(3):
        try:
            with workspace.transaction() as con:
                latest = con.execute(SQL_LATEST).fetchone()
                if latest is not None and latest[3] == content:
                    return SavedMap(int(latest[0]), latest[1], latest[2], latest[3], new=False)
                row = con.execute(SQL_APPEND, {"name": name, "content": content}).fetchone()
                assert row is not None
                return SavedMap(int(row[0]), row[1], name, content, new=True)
        except duckdb.ConstraintException:
            continue  # another writer took the number between our read and our insert: retry
    raise InputError("could not save the map: the workspace kept changing under us; try again")


def map_versions(workspace: Workspace) -> pd.DataFrame:
    """Every saved version, oldest first: version, saved_at, name, steps, size in characters."""
    if not workspace.path.exists():
        return pd.DataFrame(columns=["version", "saved_at", "name", "chars"])
    with workspace.connect(read_only=True) as con:
        return con.execute(
            "SELECT version, saved_at, name, length(content) AS chars FROM maps ORDER BY version"
        ).df()


def load_map(workspace: Workspace, version: int | None = None) -> SavedMap:
    """One saved version (the latest when ``version`` is None)."""
    if not workspace.path.exists():
        raise InputError(
            f"no workspace at {workspace.path}: save a map first ('valuestream map --save')"
        )
    with workspace.connect(read_only=True) as con:
        if version is None:
            row = con.execute(SQL_LATEST).fetchone()
        else:
            row = con.execute(
                "SELECT version, saved_at, name, content FROM maps WHERE version = ?", [version]
            ).fetchone()
    if row is None:
        raise InputError(
            "no map has been saved in this workspace yet"
            if version is None
            else f"there is no map version {version}"
        )
    return SavedMap(int(row[0]), row[1], row[2], row[3], new=False)


__all__ = ["SavedMap", "load_map", "map_versions", "save_map"]
