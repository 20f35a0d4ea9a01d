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
    app()


__all__ = ["app", "main"]
