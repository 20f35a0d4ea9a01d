"""The ``valuestream`` command: thin commands over the library, one module per group."""

from __future__ import annotations

from valuestream.cli import demo, flow  # noqa: F401  (each module registers its commands)
from valuestream.cli import forecast  # noqa: F401
from valuestream.cli import sources  # noqa: F401
from valuestream.cli import pbc  # noqa: F401
from valuestream.cli import mapping  # noqa: F401
from valuestream.cli import experiment  # noqa: F401
from valuestream.cli._app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
