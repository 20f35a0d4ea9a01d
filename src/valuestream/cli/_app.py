"""The Typer application every command module adds its commands to."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="valuestream",
    help="See where work waits from opportunity to adoption: map, measure, name the constraint, "
    "make one change, measure the difference.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
