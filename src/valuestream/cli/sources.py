"""Connectors under ``valuestream import``: ``jira`` and ``github``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from valuestream.cli._common import (
    DEFAULT_WORKSPACE,
    Format,
    FormatOpt,
    TimeRangeOpt,
    WorkspaceOpt,
    console,
    err_console,
    parse_time_range,
    print_json,
    user_errors,
)
from valuestream.cli.flow import import_app
from valuestream.errors import InputError
from valuestream.sources import DEFAULT_TOTAL_TIMEOUT, JIRA_KEY
from valuestream.sources import GITHUB_API as API

if TYPE_CHECKING:
    from valuestream.sources.base import Progress as ProgressFn
    from valuestream.sources.jira import JiraSource
    from valuestream.workspace import ImportResult, Workspace

CredentialsOpt = Annotated[
    Path | None,
    typer.Option(
        "--credentials",
        help="Credentials file (TOML) \\[default: ~/.config/valuestream/credentials.toml].",
    ),
]
FullOpt = Annotated[
    bool,
    typer.Option("--full", help="Read everything, not only what changed since the last import."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=1,
        max=3600,
        help="Seconds to wait for any one answer, retries included, before giving up with the pages fetched kept.",
    ),
]


@contextmanager
def _progress(what: str, quiet: bool) -> Iterator[tuple[ProgressFn, Callable[[str], None]]]:
    """A progress bar on stderr ('12 of 340 items fetched') while a connector reads, and a function
    that shows what it is waiting for (a slow answer, a retry) in the bar's description."""
    show = not quiet and sys.stderr.isatty()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} of {task.fields[of]} items fetched"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not show,
    ) as bar:
        task = bar.add_task(what, total=None, of="?")

        def update(done: int, total: int | None) -> None:
            bar.update(
                task, completed=done, total=total, of=f"{total:,}" if total is not None else "?"
            )

        def waiting(text: str) -> None:
            bar.update(task, description=f"{what}: {text}")

        yield update, waiting


def _report(result: ImportResult, ws: Workspace, quiet: bool, fmt: Format) -> None:
    if quiet:
        return
    if fmt is Format.json:
        print_json(dict(result))
        return
    since = f" changed since {result['since']}" if result.get("since") else ""
    if not result["items"]:
        console.print(
            f"Nothing{since} in {result['location']}; {ws.path} is unchanged.", highlight=False
        )
        return
    console.print(
        f"Imported [bold]{result['items']:,}[/] items{escape(since)} from {escape(str(result['location']))} "
        f"into {escape(str(ws.path))}: {result['added']:,} transitions added, {result['removed']:,} removed.",
        highlight=False,
        markup=True,
    )


@import_app.command("jira")
def import_jira(
    site: Annotated[
        str | None, typer.Option(help="Jira address, e.g. https://example.atlassian.net.")
    ] = None,
    jql: Annotated[
        str, typer.Option(help='Which issues, e.g. "project = ABC AND created >= 2025-01-01".')
    ] = "",
    fields: Annotated[
        list[str] | None,
        typer.Option(
            "--fields",
            help="More fields to keep, by id or name (customfield_10016, 'Story Points'); comma-separated or repeated.",
        ),
    ] = None,
    offline: Annotated[
        Path | None,
        typer.Option(
            "--offline",
            help="Import saved API responses (a folder of .json files, or one file) instead of connecting.",
        ),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(help="cloud or server (Data Center) \\[default: cloud for *.atlassian.net]."),
    ] = None,
    board: Annotated[
        int | None,
        typer.Option(
            min=1, max=10**12, help="A board id: record its columns, so a stream file can say finish: {column: Done}."
        ),
    ] = None,
    source: Annotated[str, typer.Option(help="Name of the source in the workspace.")] = "jira",
    credentials: CredentialsOpt = None,
    full: FullOpt = False,
    timeout: TimeoutOpt = DEFAULT_TOTAL_TIMEOUT,
    time_range: TimeRangeOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    quiet: QuietOpt = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Import Jira issues with their status and flag history (JIRA_EMAIL + JIRA_API_TOKEN, or JIRA_TOKEN).

    A second run reads only the issues updated since the first. An interrupted run continues where
    it stopped, and saves nothing until everything is read.
    """
    with user_errors():
        from valuestream.sources.http import Credentials
        from valuestream.sources.jira import JiraSource, jira_credentials
        from valuestream.workspace import Workspace, import_source

        if offline is None and not jql:
            raise InputError('give the issues to read with --jql "project = ABC"')
        wanted = [f.strip() for given in fields or [] for f in given.split(",") if f.strip()]
        creds = jira_credentials(site or "", credentials) if offline is None else Credentials()
        src = JiraSource(
            site=site,
            jql=jql,
            fields=wanted,
            api=api,
            offline=offline,
            credentials=creds,
            timeout=timeout,
            board=board,
        )
        rng = parse_time_range(time_range)
        ws = Workspace(workspace)
        with _progress(f"Jira {site or offline}", quiet) as (progress, waiting):
            src.on_wait = waiting
            result = import_source(
                ws, src, source_name=source, full=full or offline is not None, progress=progress, time_range=rng
            )
        result["skipped"] = {str(path): what for path, what in src.skipped}
        result["changelog_cut_short"] = src.cut_short
        _report(result, ws, quiet, fmt)
        if not quiet and fmt is not Format.json:
            _report_offline(src)


def _report_offline(src: JiraSource) -> None:
    """Name the saved files that held no issues (and what to do with a board configuration), and
    the issues whose saved history is incomplete."""
    for path, what in src.skipped:
        hint = (
            f": start a stream file from its columns with valuestream init --from-jira-board {path}"
            if what == "a board configuration"
            else ""
        )
        err_console.print(f"Skipped {path} ({what}){hint}.", highlight=False)
    if src.cut_short:
        keys = ", ".join(src.cut_short[:10]) + (" ..." if len(src.cut_short) > 10 else "")
        err_console.print(
            f"[yellow]Incomplete history[/] for {len(src.cut_short)} issues ({escape(keys)}): the search "
            "embedded only part of their changelog; save /rest/api/2/issue/KEY/changelog as "
            "KEY.changelog.json beside the pages to read all of it.",
            highlight=False,
            markup=True,
        )


@import_app.command("github")
def import_github(
    repo: Annotated[str, typer.Option(help="The repository, owner/name.")],
    key_pattern: Annotated[
        str | None,
        typer.Option(
            "--key-pattern",
            help=f"Regular expression finding each item's key (a Jira key) in PR titles and branch names; items are saved under that key. 'jira' means {JIRA_KEY}.",
        ),
    ] = None,
    drop_unmatched: Annotated[
        bool,
        typer.Option("--drop-unmatched", help="With --key-pattern: leave out items without a key."),
    ] = False,
    include: Annotated[str, typer.Option(help="all, issues or pulls.")] = "all",
    flag_label: Annotated[
        list[str] | None,
        typer.Option("--flag-label", help="Label that marks an item blocked \\[default: blocked]."),
    ] = None,
    label_state: Annotated[
        list[str] | None,
        typer.Option(
            "--label-state",
            help="A label that is a state: 'needs-legal=waiting for legal' (repeatable).",
        ),
    ] = None,
    api_url: Annotated[
        str, typer.Option(help="API address (GitHub Enterprise: https://HOST/api/v3).")
    ] = API,
    source: Annotated[str, typer.Option(help="Name of the source in the workspace.")] = "github",
    credentials: CredentialsOpt = None,
    full: FullOpt = False,
    timeout: TimeoutOpt = DEFAULT_TOTAL_TIMEOUT,
    time_range: TimeRangeOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    quiet: QuietOpt = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Import a GitHub repository's issues and pull requests with their timeline (token: GITHUB_TOKEN)."""
    with user_errors():
        from valuestream.sources.github import GitHubSource, github_credentials
        from valuestream.sources.join import KeyPattern
        from valuestream.workspace import Workspace, import_source

        states: dict[str, str] = {}
        for pair in label_state or []:
            label, sep, state = pair.partition("=")
            if not sep or not label.strip() or not state.strip():
                raise InputError(f"--label-state: expected LABEL=STATE, got '{pair}'")
            states[label.strip()] = state.strip()
        pattern = None
        if key_pattern:
            pattern = KeyPattern(JIRA_KEY if key_pattern == "jira" else key_pattern)
        src = GitHubSource(
            repo=repo,
            key_pattern=pattern,
            keep_unmatched=not drop_unmatched,
            label_states=states,
            flag_labels=tuple(flag_label) if flag_label else ("blocked",),
            include=include,
            credentials=github_credentials(str(credentials) if credentials else None),
            api_url=api_url,
            timeout=timeout,
        )
        rng = parse_time_range(time_range)
        ws = Workspace(workspace)
        with _progress(f"GitHub {repo}", quiet) as (progress, waiting):
            src.on_wait = waiting
            result = import_source(ws, src, source_name=source, full=full, progress=progress, time_range=rng)
        _report(result, ws, quiet, fmt)
