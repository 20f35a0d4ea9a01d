"""``valuestream cache``: the answers kept beside the workspace (see ``valuestream.flow.cache``)."""

from __future__ import annotations

import typer

from valuestream.cli._app import app
from valuestream.cli._common import (
    DEFAULT_WORKSPACE,
    Format,
    FormatOpt,
    WorkspaceOpt,
    console,
    emit_mapping,
    user_errors,
)

cache_app = typer.Typer(
    no_args_is_help=True,
    help="The answer cache: a repeat question on unchanged data is answered from it, not recomputed.",
)
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info(workspace: WorkspaceOpt = DEFAULT_WORKSPACE, fmt: FormatOpt = Format.table) -> None:
    """Where the workspace's answers are kept, how many and how much space they take."""
    from valuestream.flow.cache import AnswerCache, disabled, folder_of
    from valuestream.workspace import Workspace

    with user_errors():
        info = AnswerCache(folder_of(Workspace(workspace))).info()
        info["switched_off"] = disabled()
        emit_mapping(info, fmt, title="Answer cache")


@cache_app.command("clear")
def cache_clear(workspace: WorkspaceOpt = DEFAULT_WORKSPACE) -> None:
    """Remove every kept answer; the next command computes afresh (and keeps its answers again)."""
    from valuestream.flow.cache import AnswerCache, folder_of
    from valuestream.workspace import Workspace

    with user_errors():
        cache = AnswerCache(folder_of(Workspace(workspace)))
        removed = cache.clear()
        console.print(f"Removed {removed} kept answers from {cache.folder}.", highlight=False)
