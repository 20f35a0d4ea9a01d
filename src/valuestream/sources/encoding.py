"""Text encodings of flat files: UTF-8 by default, UTF-16 by its byte-order mark, others by name.

DuckDB reads UTF-8. A file in another encoding (named with ``--encoding``, or UTF-16 recognised
by its byte-order mark) is rewritten as UTF-8 into a temporary folder of ours for the read, and
removed afterwards, on errors too. When a read fails, :func:`first_undecodable` says which byte of
which line is not UTF-8, so the message can name it.
"""

from __future__ import annotations

import codecs
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from valuestream.errors import InputError
from valuestream.sources.compression import DECOMPRESSION_ERRORS, inner_name, open_bytes

__all__ = ["check_encoding", "first_undecodable", "from_bom", "utf8_copy"]

_UTF8 = {"utf-8", "utf8", "utf_8"}
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def check_encoding(name: str | None) -> str | None:
    """The codec name ``--encoding`` gave (None for UTF-8), or an error naming the option."""
    if name is None:
        return None
    try:
        found = codecs.lookup(name).name
    except (LookupError, ValueError):
        raise InputError(f"--encoding: unknown encoding '{name}'; expected one such as utf-8, latin-1, cp1252 or utf-16") from None
    return None if found in _UTF8 else found


def from_bom(path: Path) -> str | None:
    """``utf-16`` or ``utf-32`` when the (decompressed) file starts with that byte-order mark."""
    try:
        with open_bytes(path) as fh:
            head = fh.read(4)
    except (*DECOMPRESSION_ERRORS, ValueError):
        return None
    return next((name for bom, name in _BOMS if head.startswith(bom)), None)


@contextlib.contextmanager
def utf8_copy(path: Path, encoding: str) -> Iterator[Path]:
    """The (decompressed) file rewritten from ``encoding`` to UTF-8, in a temporary folder for the block."""
    folder = Path(tempfile.mkdtemp(prefix="valuestream-"))
    try:
        plain = folder / inner_name(path)
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        done, line = 0, 1
        try:
            with open_bytes(path) as src, plain.open("w", encoding="utf-8", newline="") as dst:
                while chunk := src.read(1 << 20):
                    try:
                        text = decoder.decode(chunk)
                    except UnicodeDecodeError as exc:
                        bad = bytes(exc.object)
                        at = max(done + exc.start - (len(bad) - len(chunk)), 0)
                        line += _lines_before(bad, exc.start, encoding)
                        raise InputError(
                            f"byte {at:,} (0x{bad[exc.start]:02x}) cannot be read as {encoding}; name the file's encoding with --encoding",
                            file=path,
                            line=line,
                        ) from None
                    dst.write(text)
                    line += text.count("\n")
                    done += len(chunk)
                dst.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            raise InputError(f"the file ends in the middle of a character ({encoding}); is it cut short?", file=path) from None
        except DECOMPRESSION_ERRORS as exc:
            raise InputError(f"cannot be decompressed: {exc}; is the file cut short?", file=path) from None
        yield plain
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _lines_before(chunk: bytes, end: int, encoding: str) -> int:
    return chunk[:end].decode(encoding, errors="replace").count("\n")


def first_undecodable(path: Path) -> tuple[int, int, int] | None:
    """(byte offset, line, the byte) of the first byte of a plain UTF-8 file that is not UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    done, line = 0, 1
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = bytes(exc.object)
                at = max(done + exc.start - (len(bad) - len(chunk)), 0)
                return at, line + bad[: exc.start].count(b"\n"), bad[exc.start]
            line += chunk.count(b"\n")
            done += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return done, line, 0
    return None
