"""The ``valuestream`` command: thin commands over the library, one module per group."""

from __future__ import annotations

# Each module registers its commands on the app when imported.
from valuestream.cli import (  # noqa: F401
    cache,
    demo,
    experiment,
    flow,
    forecast,
    mapping,
    pbc,
    report,  # noqa: F401
    serve,
    sources,
)
from valuestream.cli._app import app


def main() -> None:
    """The console entry point: run the command, then leave without tearing the interpreter down.

    Unloading pandas, NumPy, Arrow and DuckDB module by module takes a fifth of a second, longer
    than a repeat question takes to answer from the cache. Everything a command writes is written
    and closed (every file in a ``with`` block, every workspace connection in ``Workspace.connect``)
    before it returns, so once the exit handlers have run (the spill folders' cleanup among them)
    and the output is flushed there is nothing left to do. With another thread still running, or a
    command that ended in an exception, the exit is Python's usual one.
    """
    import atexit
    import contextlib
    import os
    import sys
    import threading

    try:
        app()
        code: str | int | None = 0
    except SystemExit as exc:
        code = exc.code
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if others:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    with contextlib.suppress(BrokenPipeError):  # the reader left (`| head`): it has what it wanted
        sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)


__all__ = ["app", "main"]
