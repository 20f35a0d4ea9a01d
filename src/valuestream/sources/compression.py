"""Compressed inputs: gzip, bzip2, xz and Zstandard, recognised by their first bytes.

A file's compression is read from its magic number, whatever its name says, so that
``export.csv`` that is really gzip, or ``log.xes.zst``, reads like any other file. Readers that
stream (the XES parser, the CSV header sniffing) open the decompressed bytes directly; DuckDB
decompresses gzip and Zstandard itself, and for anything else :func:`plain_copy` writes the
decompressed file to a temporary folder of our own that is removed afterwards, on errors too.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import zstandard

from valuestream.errors import InputError

__all__ = ["SUFFIXES", "compression", "inner_name", "open_bytes", "open_text", "plain_copy"]

# Each compression's magic number (the first bytes of every file it writes).
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
SUFFIXES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd", ".zstd": "zstd"}
DUCKDB_READS = frozenset({"gzip", "zstd"})
"""What DuckDB's CSV and JSON readers decompress themselves (its ``compression`` option)."""
DECOMPRESSION_ERRORS = (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError)
"""What reading a corrupt or truncated compressed file raises."""


def compression(path: Path) -> str | None:
    """``gzip``, ``bzip2``, ``xz`` or ``zstd`` by the file's first bytes; ``None`` for a plain file."""
    try:
        with path.open("rb") as fh:
            head = fh.read(6)
    except OSError:
        return None
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def inner_name(path: Path) -> str:
    """The file name without its compression suffix: ``sepsis.csv.xz`` -> ``sepsis.csv``."""
    name = path.name
    lower = name.lower()
    for suffix in SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def open_bytes(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed as it streams when it is compressed."""
    kind = compression(path)
    if kind == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(path.open("rb"), closefd=True)  # type: ignore[return-value]
    return path.open("rb")


def open_text(path: Path) -> IO[str]:
    """The file as UTF-8 text (undecodable bytes replaced), decompressed as it streams."""
    return io.TextIOWrapper(open_bytes(path), encoding="utf-8", errors="replace", newline="")


@contextlib.contextmanager
def plain_copy(
    path: Path, *, keep: frozenset[str] = frozenset()
) -> Iterator[tuple[Path, str | None]]:
    """(a file the reader can open, the compression it still has) for the block.

    A file whose compression is in ``keep`` (what the reader decompresses itself), or that is not
    compressed, is given as it is; anything else is decompressed into a temporary folder that is
    deleted when the block ends, however it ends.
    """
    kind = compression(path)
    if kind is None or kind in keep:
        yield path, kind
        return
    folder = Path(tempfile.mkdtemp(prefix="valuestream-"))
    try:
        plain = folder / inner_name(path)
        try:
            with open_bytes(path) as src, plain.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except DECOMPRESSION_ERRORS as exc:
            raise InputError(f"cannot be decompressed ({kind}): {exc}", file=path) from None
        yield plain, None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
