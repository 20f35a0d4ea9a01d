"""One item across sources: rewrite a source's item ids to the key the stream is tracked by.

The workspace joins histories by item id: transitions of ``ABC-12`` from Jira, from GitHub and
from a spreadsheet of legal approvals make one history, ordered by time. Jira keys are the usual
common key, but GitHub knows its pull requests as ``owner/repo#17``; a :class:`KeyPattern` finds
the Jira key in a pull request's title or branch name, and :func:`rekey` rewrites the ids.

Several pull requests can carry the same key. Their histories are then folded into one: each
state keeps its first entry (the first "PR opened", the first review), except the states in
``last_states`` (merged, deployed, closed), which keep their last, because the item is done when
its last pull request is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from valuestream.errors import InputError
from valuestream.sources import JIRA_KEY
from valuestream.sources.base import FLAGS, ITEMS, TRANSITIONS, Histories
from valuestream.sources.spill import in_memory

LAST_STATES = ("merged", "deployed", "closed", "PR closed", "issue closed")
KEYS = pa.schema([("item", pa.string()), ("key", pa.string())])


@dataclass(frozen=True)
class KeyPattern:
    """A regular expression that finds an item's key in text (group 1 if it has one, else the match)."""

    pattern: str = JIRA_KEY
    upper: bool = True
    """Upper-case what is found: branch names are often written ``abc-12-fix`` for key ABC-12."""

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise InputError(f"--key-pattern: not a valid regular expression ({exc})") from None

    def find(self, *texts: str | None) -> str | None:
        """The key found in the first text that has one, or None."""
        compiled = re.compile(self.pattern)
        for text in texts:
            if not text:
                continue
            m = compiled.search(text)
            if m:
                key = m.group(1) if compiled.groups else m.group(0)
                return key.upper() if self.upper else key
        return None

    def keys(self, texts: Mapping[str, Iterable[str | None]]) -> dict[str, str]:
        """Item id -> key for every item whose texts (title, branch...) hold one."""
        found = {item: self.find(*t) for item, t in texts.items()}
        return {item: key for item, key in found.items() if key}


# Transitions under their new key. A key fed by one original item keeps its history as it was
# (closing and reopening included); a key fed by several folds them: first entry of each state,
# last entry of the states where the last one marks the end.
SQL_REKEY = """
WITH mapped AS (
    SELECT coalesce(k.key, t.item) AS key, t.item AS origin, t.state, t.entered_at, t.seq,
           count(DISTINCT t.item) OVER (PARTITION BY coalesce(k.key, t.item)) AS origins
    FROM _rk_t t
    LEFT JOIN _rk_keys k ON k.item = t.item
    WHERE k.key IS NOT NULL OR $keep
)
SELECT key AS item, state, entered_at, seq
FROM mapped WHERE origins = 1
UNION ALL
SELECT key AS item, state,
       CASE WHEN list_contains($last, state) THEN max(entered_at) ELSE min(entered_at) END AS entered_at,
       min(seq) AS seq
FROM mapped WHERE origins > 1
GROUP BY key, state
ORDER BY item, entered_at, seq
"""


def rekey(
    histories: Histories,
    keys: Mapping[str, str],
    *,
    keep_unmatched: bool = True,
    last_states: Iterable[str] = LAST_STATES,
) -> Histories:
    """Histories with item ids rewritten by ``keys`` (original id -> key).

    Items without a key keep their own id, or are dropped when ``keep_unmatched`` is False. Items
    folded into one key keep the first one's title and type; their original ids are listed in the
    attribute ``joined``.
    """
    con = in_memory()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("_rk_t", histories.transitions)
        con.register(
            "_rk_keys", pa.table({"item": list(keys), "key": list(keys.values())}, schema=KEYS)
        )
        params = {"keep": keep_unmatched, "last": list(last_states)}
        transitions = con.sql(SQL_REKEY, params=params).to_arrow_table().cast(TRANSITIONS)
        flags = None
        if histories.flags is not None:
            con.register("_rk_f", histories.flags)
            flags = (
                con.sql(
                    "SELECT coalesce(k.key, f.item) AS item, f.raised_at, f.cleared_at FROM _rk_f f"
                    " LEFT JOIN _rk_keys k ON k.item = f.item WHERE k.key IS NOT NULL OR $keep",
                    params={"keep": keep_unmatched},
                )
                .to_arrow_table()
                .cast(FLAGS)
            )
    finally:
        con.close()
    items = _rekey_items(histories, keys, keep_unmatched) if histories.items is not None else None
    return Histories(transitions=transitions, items=items, flags=flags, roles=histories.roles)


def _rekey_items(histories: Histories, keys: Mapping[str, str], keep_unmatched: bool) -> pa.Table:
    assert histories.items is not None
    merged: dict[str, dict[str, object]] = {}
    for row in histories.items.to_pylist():
        origin = row["item"]
        key = keys.get(origin)
        if key is None and not keep_unmatched:
            continue
        key = key or origin
        attributes = json.loads(row["attributes"]) if row.get("attributes") else {}
        if key in merged:
            joined = json.loads(str(merged[key]["attributes"]))
            joined["joined"].append(origin)
            merged[key]["attributes"] = json.dumps(joined)
            continue
        attributes = {**attributes, "joined": [origin]} if key != origin else attributes
        merged[key] = {
            "item": key,
            "title": row.get("title"),
            "type": row.get("type"),
            "attributes": json.dumps(attributes),
        }
    return pa.Table.from_pylist(list(merged.values()), schema=ITEMS)
