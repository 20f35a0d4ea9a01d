"""Who may use the server, and the checks every request passes.

- Bound to a loopback address (the default), anyone on this machine may use it; the Host header
  must name a loopback address too, so a web page elsewhere cannot reach it by DNS rebinding.
- Bound to anything else, an access token the operator chose is required: the login page trades
  it for a session cookie (HttpOnly, SameSite=Strict, and Secure when served over TLS).
- Every change (POST, PUT, PATCH, DELETE) carries the session's CSRF token in a header; the pages
  read it from their own markup. WebSockets must come from the server's own origin.
- Request bodies are refused above a size limit before they are read.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from valuestream.errors import InputError

SESSION_COOKIE = "valuestream_session"
CSRF_HEADER = "x-csrf-token"
MAX_BODY = 1_048_576
"""1 MiB: a stream file of a few hundred steps is well under 100 KiB."""
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without an access token."""
    if not is_loopback(host) and not token:
        raise InputError(
            f"--host {host} opens the board to the network: set an access token with --token "
            "or VALUESTREAM_TOKEN (participants type it once to log in)"
        )
    if token is not None and len(token) < 8:
        raise InputError("--token: use at least 8 characters (a passphrase the room can type)")


@dataclass
class Guard:
    """Sessions and CSRF tokens, signed with a secret that lives as long as the server."""

    token: str | None
    loopback: bool
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def sign(self, value: str) -> str:
        return hmac.new(self.secret, value.encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        sid = secrets.token_urlsafe(18)
        return f"{sid}.{self.sign('session:' + sid)}"

    def session_id(self, cookie: str | None) -> str | None:
        """The session's id if the cookie is one this server signed, else None."""
        if not cookie or "." not in cookie:
            return None
        sid, _, mac = cookie.rpartition(".")
        return sid if hmac.compare_digest(mac, self.sign("session:" + sid)) else None

    def csrf_for(self, sid: str) -> str:
        return self.sign("csrf:" + sid)

    def login_ok(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def host_ok(self, host_header: str | None) -> bool:
        if not self.loopback:
            return True
        if not host_header:
            return False
        name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        if host_header.startswith("["):
            name = host_header[1:].split("]", 1)[0]
        return is_loopback(name)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: Any, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _plain(send, 413, f"request body over {self.limit} bytes")
            return
        seen = 0

        async def counted() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _plain(send, 413, f"request body over {self.limit} bytes")


class _TooLarge(Exception):
    pass


async def _plain(send: Send, status: int, text: str) -> None:
    body = ('{"detail": "' + text + '"}').encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = ["CSRF_HEADER", "MAX_BODY", "SESSION_COOKIE", "BodyLimit", "Guard", "check_bind", "is_loopback"]
