"""A Jira board's columns as a starter stream file: the board says which statuses are which step.

Jira answers two questions in two saved responses:

- the **board configuration** (``GET /rest/agile/1.0/board/{id}/configuration``): the columns,
  left to right, each with the ids of the statuses it holds (``columnConfig.columns``);
- the **statuses** (``GET /rest/api/2/status``, or ``/rest/api/3/statuses/search``, or a
  project's ``/rest/api/2/project/{key}/statuses``): each id's name and status category
  (To Do = ``new``, In Progress = ``indeterminate``, Done = ``done``).

From them a starter stream: the leading To Do columns are before the stream, the Done columns
finish it, and every column in between is a step whose statuses are touch (work) or wait (a
queue: "Ready for ...", "Waiting ...", "... Done" inside the flow), judged from the column's name
for the team to correct in the workshop.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuestream.errors import InputError
from valuestream.model import CATEGORIES, parse_stream

__all__ = ["Board", "Column", "Status", "read_board", "saved_kind", "starter_stream"]

# Column names that say items wait there rather than being worked on.
_WAITING = re.compile(
    r"\b(ready|waiting|wait|queued?|backlog|selected|pending|awaiting|to do|todo|parked|done)\b",
    re.I,
)
_BLOCKED = re.compile(r"\b(blocked|on hold|impeded|stuck)\b", re.I)
_APPROVAL = re.compile(
    r"\b(approval|approve|sign[- ]?off|legal|compliance|security review)\b", re.I
)
_RELEASE = re.compile(r"\b(release|deploy|deployment|ship)\b", re.I)


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str
    """new (To Do), indeterminate (In Progress) or done."""


@dataclass(frozen=True)
class Column:
    name: str
    statuses: tuple[Status, ...]
    wip_limit: int | None = None

    @property
    def category(self) -> str:
        """done or new when all its statuses are; otherwise in progress."""
        kinds = {s.category for s in self.statuses}
        return kinds.pop() if len(kinds) == 1 and kinds <= {"new", "done"} else "indeterminate"


@dataclass(frozen=True)
class Board:
    name: str
    columns: tuple[Column, ...]
    file: Path


# -- recognising saved responses ------------------------------------------------------------------


def is_board_configuration(data: Any) -> bool:
    config = data.get("columnConfig") if isinstance(data, dict) else None
    return isinstance(config, dict) and isinstance(config.get("columns"), list)


def status_entries(data: Any) -> list[dict[str, Any]] | None:
    """The status objects in one saved response, or None if it holds none."""
    if isinstance(data, dict) and isinstance(data.get("values"), list):
        data = data["values"]  # /rest/api/3/statuses/search
    if not isinstance(data, list) or not data or not all(isinstance(d, dict) for d in data):
        return None
    if all("statuses" in d and "statusCategory" not in d for d in data):
        # /rest/api/2/project/{key}/statuses: per issue type, its statuses
        nested = [s for d in data for s in (d.get("statuses") or []) if isinstance(s, dict)]
        return nested if nested and all("statusCategory" in s for s in nested) else None
    return data if all("statusCategory" in d and "id" in d for d in data) else None


def saved_kind(data: Any) -> str | None:
    """What a saved Jira response that holds no issues is: a board configuration, statuses, or None."""
    if is_board_configuration(data):
        return "a board configuration"
    if status_entries(data) is not None:
        return "statuses"
    return None


def category_of(raw: Any) -> str:
    if isinstance(raw, dict):
        raw = raw.get("key") or raw.get("name")
    return CATEGORIES.get(str(raw or "").strip().lower(), "indeterminate")


def _statuses(entries: Iterable[Mapping[str, Any]]) -> dict[str, Status]:
    return {
        str(e["id"]): Status(
            str(e["id"]), str(e.get("name") or e["id"]), category_of(e.get("statusCategory"))
        )
        for e in entries
    }


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", file=path) from None


# -- reading a board -------------------------------------------------------------------------------


def read_board(path: str | Path, statuses: str | Path | None = None) -> Board:
    """A board configuration with its statuses named: from ``statuses``, or from the JSON files
    beside the board configuration that hold statuses."""
    path = Path(path)
    data = _load(path)
    if not is_board_configuration(data):
        raise InputError(
            "not a Jira board configuration: expected the response of "
            "/rest/agile/1.0/board/ID/configuration, with columnConfig.columns",
            file=path,
        )
    known: dict[str, Status] = {}
    if statuses is not None:
        entries = status_entries(_load(Path(statuses)))
        if entries is None:
            raise InputError(
                "no statuses here: expected the response of /rest/api/2/status", file=statuses
            )
        known.update(_statuses(entries))
    else:
        for neighbour in sorted(path.parent.glob("*.json")):
            try:
                known.update(_statuses(status_entries(_load(neighbour)) or []))
            except InputError:
                continue  # not ours to judge: only statuses are looked for here
    columns = []
    missing: list[str] = []
    for raw in data["columnConfig"]["columns"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise InputError("a board column without a name", file=path)
        ids = [str(s.get("id")) for s in raw.get("statuses") or [] if isinstance(s, dict)]
        missing += [i for i in ids if i not in known]
        limit = raw.get("max")
        columns.append(
            Column(
                raw["name"],
                tuple(known[i] for i in ids if i in known),
                int(limit) if isinstance(limit, int | float) and limit > 0 else None,
            )
        )
    if missing:
        where = f"in {statuses}" if statuses else f"beside it in {path.parent}"
        raise InputError(
            f"the board names statuses by id, and {len(missing)} of them ({', '.join(missing[:5])}) "
            f"are not {where}; save /rest/api/2/status as statuses.json next to it, or give --statuses FILE",
            file=path,
        )
    return Board(str(data.get("name") or "Jira board"), tuple(columns), path)


# -- the starter stream ----------------------------------------------------------------------------


def _role(column: Column) -> tuple[str, str]:
    """(role of its statuses, kind of step) for a column inside the stream."""
    if _BLOCKED.search(column.name):
        return "blocked", "queue"
    if column.category == "new" or _WAITING.search(column.name):
        return "wait", "queue"
    if _APPROVAL.search(column.name):
        return "touch", "approval"
    if _RELEASE.search(column.name):
        return "touch", "release_gate"
    return "touch", "work"


def _q(text: str) -> str:
    """A YAML scalar: JSON's double-quoted strings are valid YAML."""
    return json.dumps(text, ensure_ascii=False)


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _parts(board: Board) -> tuple[list[Column], list[Column], list[Column], list[Column]]:
    """(before, in the stream, finish, empty) columns."""
    filled = [c for c in board.columns if c.statuses]
    empty = [c for c in board.columns if not c.statuses]
    start = next((i for i, c in enumerate(filled) if c.category != "new"), len(filled))
    done = [c for c in filled[start:] if c.category == "done"]
    inside = [c for c in filled[start:] if c.category != "done"]
    return filled[:start], inside, done, empty


def starter_stream(board: Board) -> str:
    """The stream file text for a board, checked by the stream file's own validation.

    Every Done status finishes an item; where the workflow takes one finish state only, the first
    does, and the others are named beside it.
    """
    text = _stream_text(board, finish_many=True)
    try:
        parse_stream(text, file=board.file.name)
    except InputError:
        text = _stream_text(board, finish_many=False)
        parse_stream(text, file=board.file.name)
    return text


def _stream_text(board: Board, *, finish_many: bool) -> str:
    """The stream file text for a board: its columns as steps, its boundaries as the workflow.

    ``finish_many`` writes every Done status as a finish state (a list); when False, only the
    first, with the others named in a comment (for a workflow that takes one finish state).
    """
    before, inside, done, empty = _parts(board)
    if not inside:
        raise InputError(
            "the board has no column between To Do and Done to measure: every column's statuses are "
            "in the To Do or Done category",
            file=board.file,
        )
    if not done:
        raise InputError(
            "no column of the board holds statuses of the Done category, so nothing would finish; "
            "check the statuses file",
            file=board.file,
        )
    finish = [s.name for c in done for s in c.statuses]
    roles: dict[str, list[str]] = {"touch": [], "wait": [], "blocked": []}
    lines = [
        f"# valuestream stream file, started from the Jira board {_q(board.name)} ({board.file.name}).",
        "# Columns became steps; each column's statuses are its states. Whether a column is work",
        "# (touch) or a queue (wait) was judged from its name: correct it with the team.",
        "# Then: valuestream import jira ... ; valuestream map --stream THIS_FILE",
        "",
        f"name: {_q(board.name)}",
        "scope:",
        f"  start: {_q(inside[0].name)}",
        f"  finish: {_q(done[0].name)}",
        "steps:",
    ]
    for column in inside:
        role, kind = _role(column)
        names = [s.name for s in column.statuses]
        roles[role] += names
        lines += [
            f"  - name: {_q(column.name)}",
            f"    kind: {kind}",
            f"    states: {_list(names)}",
        ]
        if column.wip_limit:
            lines.append(f"    # WIP limit on the board: {column.wip_limit}")
    lines += ["", "workflow:", f"  start: {_q(inside[0].statuses[0].name)}"]
    if finish_many or len(finish) == 1:
        lines.append(f"  finish: {_list(finish) if len(finish) > 1 else _q(finish[0])}")
    else:
        lines.append(
            f"  finish: {_q(finish[0])}  # also Done on the board: {', '.join(finish[1:])}"
        )
    for role in ("touch", "wait", "blocked"):
        if roles[role]:
            lines.append(f"  {role}: {_list(roles[role])}")
    if before:
        lines.append(f"  before: {_list([s.name for c in before for s in c.statuses])}")
    if empty:
        lines.append(f"# Columns without statuses, left out: {', '.join(c.name for c in empty)}")
    return "\n".join(lines) + "\n"
