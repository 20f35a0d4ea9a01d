"""The Typer application every command module adds its commands to."""

from __future__ import annotations

import os

import typer

app = typer.Typer(
    name="valuestream",
    help="See where work waits from opportunity to adoption: map, measure, name the constraint, "
    "make one change, measure the difference.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


@app.callback()
def _everywhere(
    ctx: typer.Context,
    no_cache: bool = typer.Option(
        False,
        "--no-cache",
        help="Compute every answer afresh: neither read nor keep answers in the cache beside the "
        "workspace (also VALUESTREAM_NO_CACHE=1).",
    ),
) -> None:
    """Options for every command (given before it: valuestream --no-cache metrics)."""
    if no_cache and "VALUESTREAM_NO_CACHE" not in os.environ:
        os.environ["VALUESTREAM_NO_CACHE"] = "1"
        ctx.call_on_close(lambda: os.environ.pop("VALUESTREAM_NO_CACHE", None))
