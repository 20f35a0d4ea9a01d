"""``valuestream serve``: the live board, the presenter view and the dashboard on one workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from valuestream.cli._app import app
from valuestream.cli._common import DEFAULT_WORKSPACE, StreamOpt, WorkspaceOpt, console, user_errors
from valuestream.errors import InputError


@app.command()
def serve(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    stream: StreamOpt = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; anything but loopback needs --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="VALUESTREAM_TOKEN",
            help="Access token participants type once to log in (required off loopback).",
        ),
    ] = None,
    certfile: Annotated[
        Path | None, typer.Option("--ssl-certfile", help="Serve over TLS with this certificate (PEM).")
    ] = None,
    keyfile: Annotated[
        Path | None, typer.Option("--ssl-keyfile", help="The certificate's private key (PEM).")
    ] = None,
    rehearse: Annotated[
        float,
        typer.Option(
            "--rehearse",
            min=1.0,
            max=600.0,
            help="Run the agenda clock this many times faster, to rehearse the session.",
        ),
    ] = 1.0,
) -> None:
    """Run the live mapping board and the team dashboard in the browser, on this workspace.

    The board's map is the workspace's saved map: every change is a new version, as 'map --save' writes; an empty workspace starts from --stream (or ./stream.yaml) when given.
    """
    with user_errors():
        try:
            import uvicorn

            from valuestream.web.app import create_app
            from valuestream.web.security import check_bind
        except ImportError as exc:
            raise InputError(
                f"'valuestream serve' needs the web extra ({exc.name} is missing): "
                "pip install 'valuestream[web]'"
            ) from None
        check_bind(host, token)
        if (certfile is None) != (keyfile is None):
            raise InputError("--ssl-certfile and --ssl-keyfile go together")
        text = None
        path = stream if stream is not None else (Path("stream.yaml") if Path("stream.yaml").is_file() else None)
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise InputError(f"cannot read the stream file: {exc.strerror}", file=path) from None
        web_app = create_app(
            workspace, stream_text=text, token=token, host=host, tls=certfile is not None,
            agenda_speed=rehearse,
        )  # fmt: skip
        scheme = "https" if certfile else "http"
        shown = f"[{host}]" if ":" in host else host
        console.print(
            f"Board:     {scheme}://{shown}:{port}/\nPresenter: {scheme}://{shown}:{port}/presenter\n"
            f"Dashboard: {scheme}://{shown}:{port}/dashboard\nWorkspace: {workspace} (Ctrl+C stops)",
            highlight=False,
        )
        uvicorn.run(
            web_app,
            host=host,
            port=port,
            log_level="warning",
            ssl_certfile=str(certfile) if certfile else None,
            ssl_keyfile=str(keyfile) if keyfile else None,
            ws="websockets-sansio",
        )
