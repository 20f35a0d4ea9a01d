#!/usr/bin/env python3
"""Cut the small real extracts under tests/data/ from the full public logs.

Usage: python scripts/cut-test-data.py FOLDER_WITH_THE_FULL_LOGS

Each extract is the first N cases of its log in file order, byte for byte as published: the XML
header (extensions, globals, classifiers) is kept, except log-level ``meta_*`` statistics that
describe the whole log and would be wrong for an extract; CSV rows are kept with the header line.
Standard library only, so that anyone can re-cut the files and compare them with ours.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "data"

# file in the full set -> (file written here, cases kept)
XES_CUTS = {
    "running-example.xes": ("running-example.xes", None),
    "interval_event_log.xes": ("interval_event_log-150.xes", 150),
    "helpdesk.xes.gz": ("helpdesk-500.xes.gz", 500),
    "bpic2012.xes.gz": ("bpic2012-300.xes.gz", 300),
}
CSV_CUTS = {
    "running-example.csv": ("running-example.csv", None),
    "receipt.csv": ("receipt-100.csv", 100),
}

_TRACE = re.compile(r"[ \t]*<trace>.*?</trace>[ \t]*\r?\n", re.S)
_OPEN = re.compile(r"<(?![/?!])[^>]*?(?<!/)>")
_CLOSE = re.compile(r"</[^>]*>")


def read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def drop_log_statistics(header: str) -> str:
    """The header without log-level ``meta_*`` attributes (and all that is nested in them).

    These headers hold one element per line, so a line-by-line depth count finds where each ends.
    """
    out: list[str] = []
    depth = 0  # elements open, counted from <log>
    skip_from: int | None = None  # the depth at which a skipped statistic opened
    for line in header.splitlines(keepends=True):
        before = depth
        depth += len(_OPEN.findall(line)) - len(_CLOSE.findall(line))
        if skip_from is None and before == 1 and 'key="meta_' in line:
            skip_from = before
        if skip_from is None:
            out.append(line)
        elif depth <= skip_from:
            skip_from = None
    return "".join(out)


def cut_xes(text: str, cases: int | None) -> str:
    """The header, the first ``cases`` traces and the end of the log."""
    first = _TRACE.search(text)
    assert first is not None, "no <trace> in the log"
    header = text[: first.start()]
    header = drop_log_statistics(header)
    traces = [m.group(0) for m in itertools.islice(_TRACE.finditer(text), cases)]
    return header + "".join(traces) + "</log>\n"


def cut_csv(text: str, cases: int | None) -> str:
    """The header line and every row of the first ``cases`` case ids met in the file."""
    if cases is None:
        return text
    lines = text.splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    case = header.index("case:concept:name")
    kept: set[str] = set()
    out = [lines[0]]
    for line, row in zip(lines[1:], csv.reader(io.StringIO("".join(lines[1:]))), strict=True):
        if row[case] not in kept:
            if len(kept) == cases:
                continue
            kept.add(row[case])
        out.append(line)
    return "".join(out)


def write(name: str, text: str) -> None:
    data = text.encode("utf-8")
    path = OUT / name
    if name.endswith(".gz"):
        # mtime=0: the same input gives the same bytes, so a re-cut shows no diff.
        path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    else:
        path.write_bytes(data)
    print(f"{name}: {path.stat().st_size:,} bytes")


def main(source: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for full, (name, cases) in XES_CUTS.items():
        write(name, cut_xes(read_text(source / full), cases))
    for full, (name, cases) in CSV_CUTS.items():
        write(name, cut_csv(read_text(source / full), cases))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
