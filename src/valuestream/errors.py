"""The exceptions valuestream raises: one base class, and errors that say where input went wrong."""

from __future__ import annotations

import errno
from pathlib import Path


class ValuestreamError(Exception):
    """Base class of every error valuestream raises on purpose."""


class InputError(ValuestreamError):
    """Input that cannot be used, with where it is: file, row (1-based data row), line, column."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.line = line
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class StreamFileError(InputError):
    """A stream file (stream.yaml) that does not describe a valid stream; one entry per problem."""

    def __init__(self, file: str | Path, problems: list[tuple[int | None, str]]) -> None:
        self.problems = problems
        lines = [f"line {ln}: {msg}" if ln else msg for ln, msg in problems]
        super().__init__(
            "; ".join(lines) if len(lines) == 1 else "\n  " + "\n  ".join(lines), file=file
        )


class WorkspaceBusyError(ValuestreamError):
    """The workspace file stayed locked by another process for longer than we were willing to wait."""


class WorkspaceFileError(InputError):
    """A workspace path that is not a usable valuestream workspace (a text file, a directory...)."""


def os_error(exc: OSError, doing: str) -> InputError:
    """An operating-system failure (no such folder, permission, disk full) as one line naming the path."""
    reason = exc.strerror or str(exc)
    advice = {
        "ENOSPC": "free some space and run it again; nothing was saved",
        "EFBIG": "the file would grow past the size this process may write; nothing was saved",
        "EACCES": "check the permissions, or choose another path",
        "EROFS": "the file system is read-only; choose another path",
        "ENOENT": "the folder does not exist; create it first or choose another path",
    }
    hint = advice.get(errno.errorcode.get(exc.errno or 0, ""), "")
    return InputError(
        f"cannot {doing}: {reason}" + (f"; {hint}" if hint else ""), file=exc.filename
    )
