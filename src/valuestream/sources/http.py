"""The one HTTP client every connector shares: retries with backoff, rate limits, secret credentials.

Retried: 429 (waiting as long as ``Retry-After`` or the rate-limit reset asks), 5xx, timeouts and
dropped connections, up to ``attempts`` tries with exponential backoff. Not retried: 401, 403
(unless it is a rate limit), 404 and answers that are not JSON; these raise :class:`SourceError`
at once with a message that says what to check.

Credentials come from environment variables or a TOML file (``~/.config/valuestream/credentials.toml``
or a path given). They live only in request headers: never in URLs, messages, logs, ``repr`` or the
workspace.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import os
import random
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from valuestream.errors import ValuestreamError

CREDENTIALS_FILE = Path("~/.config/valuestream/credentials.toml")
USER_AGENT = "valuestream (+https://github.com/valuestream)"
DEFAULT_TOTAL_TIMEOUT = 120.0
"""Seconds one request may take, retries included, before the import gives up (``--timeout``)."""


class SourceError(ValuestreamError):
    """A source that could not be read: the server refused, failed, or answered nonsense."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Credentials:
    """How to sign requests: a bearer token, or a user and a secret for HTTP basic auth."""

    token: str | None = field(default=None, repr=False)
    user: str | None = None
    secret: str | None = field(default=None, repr=False)

    def headers(self) -> dict[str, str]:
        if self.user and self.secret:
            pair = base64.b64encode(f"{self.user}:{self.secret}".encode()).decode("ascii")
            return {"Authorization": f"Basic {pair}"}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values, so that tests and redaction can look for them."""
        return tuple(s for s in (self.token, self.secret) if s)

    def __bool__(self) -> bool:
        return bool(self.token or (self.user and self.secret))


def load_credentials(
    section: str,
    *,
    env: Mapping[str, str] | None = None,
    env_token: tuple[str, ...] = (),
    env_user: tuple[str, ...] = (),
    env_secret: tuple[str, ...] = (),
    file: str | Path | None = None,
    key: str | None = None,
) -> Credentials:
    """Credentials for one service: environment variables first, then the credentials file.

    The file is TOML with one table per service, optionally one sub-table per site::

        [jira]                                   # any site
        email = "ana@example.com"
        token = "..."
        [jira."https://jira.example.com"]       # this site only (a Data Center personal token)
        token = "..."
        [github]
        token = "..."

    ``email``/``user`` with ``token`` mean basic auth (Jira Cloud); ``token`` alone means a bearer
    token. ``env_user`` + ``env_secret`` give basic auth, ``env_token`` a bearer token.
    """
    env = os.environ if env is None else env
    user = next((env[v] for v in env_user if env.get(v)), None)
    secret = next((env[v] for v in env_secret if env.get(v)), None)
    if user and secret:
        return Credentials(user=user, secret=secret)
    token = next((env[v] for v in env_token if env.get(v)), None)
    if token:
        return Credentials(token=token)
    path = Path(file).expanduser() if file else CREDENTIALS_FILE.expanduser()
    if not path.is_file():
        if file:
            raise SourceError(f"credentials file {path} does not exist")
        return Credentials()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        # The parser's message can quote the offending line, which may hold a secret: give the place only.
        where = getattr(exc, "lineno", None)
        raise SourceError(
            f"credentials file {path} is not valid TOML" + (f" (line {where})" if where else "")
        ) from None
    table = data.get(section, {})
    if not isinstance(table, dict):
        return Credentials()
    entry = table.get(key.rstrip("/"), None) if key else None
    if not isinstance(entry, dict):
        entry = table
    user = entry.get("email") or entry.get("user")
    token = entry.get("token") or entry.get("password")
    if not isinstance(token, str) or not token:
        return Credentials()
    if isinstance(user, str) and user:
        return Credentials(user=user, secret=token)
    return Credentials(token=token)


def _retry_after(response: httpx.Response, now: Callable[[], float]) -> float | None:
    """Seconds the server asks us to wait: Retry-After (seconds or HTTP date), or the rate-limit reset."""
    value = response.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            if when is not None:
                return max(0.0, when.timestamp() - now())
    if response.headers.get("x-ratelimit-remaining") == "0" and response.headers.get(
        "x-ratelimit-reset"
    ):
        try:
            return max(0.0, float(response.headers["x-ratelimit-reset"]) - now())
        except ValueError:
            return None
    return None


def _is_rate_limit(response: httpx.Response) -> bool:
    if response.status_code == 429:
        return True
    # GitHub answers 403 for both primary (remaining 0) and secondary (Retry-After) rate limits.
    return response.status_code == 403 and (
        "retry-after" in response.headers or response.headers.get("x-ratelimit-remaining") == "0"
    )


_STATUS_ADVICE = {
    400: "the server rejected the request (check the query)",
    401: "not authenticated: check the credentials (environment variable or credentials file)",
    403: "forbidden: the credentials lack permission for this resource",
    404: "not found: check the address, and that the credentials can see it",
    410: "gone: the resource was removed or is disabled",
}


@dataclass
class HttpClient:
    """A JSON-over-HTTP client for one service, with bounded retries and rate-limit waits.

    ``backoff`` is the first retry's delay in seconds (doubled each time, with jitter, up to
    ``max_backoff``); ``max_wait`` bounds how long one rate-limit wait may be before giving up.
    ``total_timeout`` bounds the time one request may take, its retries and waits included
    (``--timeout``): a server that never answers ends in one clear line, not minutes of silence.
    ``on_wait`` is told, in words, what we are waiting for (for a progress display).
    ``sleep``, ``now`` and ``clock`` are there so tests run in milliseconds.
    """

    base_url: str
    credentials: Credentials = field(default_factory=Credentials, repr=False)
    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    max_wait: float = 900.0
    timeout: float = 30.0
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT
    headers: Mapping[str, str] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time
    clock: Callable[[], float] = time.monotonic
    on_wait: Callable[[str], None] | None = None
    transport: httpx.BaseTransport | None = None
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def _open(self) -> httpx.Client:
        if self._client is None:
            headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self.headers}
            headers.update(self.credentials.headers())
            self._client = httpx.Client(
                base_url=self.base_url.rstrip("/"),
                headers=headers,
                timeout=self.timeout,
                follow_redirects=True,
                transport=self.transport,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _delay(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)

    def request(
        self, method: str, url: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> httpx.Response:
        """Send one request, retrying what is worth retrying; return a 2xx response or raise."""
        client = self._open()
        what = f"{method} {self._show(url)}"
        last = ""
        started = self.clock()

        def left() -> float:
            return self.total_timeout - (self.clock() - started)

        def out_of_time(reason: str) -> SourceError:
            return SourceError(
                f"{what}: no answer within {self.total_timeout:g} s ({reason}); the server may be down or slow; "
                "run again later or allow longer with --timeout (fetched pages are kept)"
            )

        def pause(seconds: float) -> None:
            if seconds >= left():
                raise out_of_time(last)
            self._tell(f"{what}: {last}, trying again in {seconds:.0f} s")
            self.sleep(seconds)

        for attempt in range(self.attempts):
            if left() <= 0:
                raise out_of_time(last or "nothing tried")
            self._tell(f"waiting for {what}" + (f" (attempt {attempt + 1} of {self.attempts})" if attempt else ""))
            try:
                response = client.request(
                    method, url, params=params, json=json, timeout=max(0.001, min(self.timeout, left()))
                )
            except httpx.TimeoutException:
                last = f"timed out after {min(self.timeout, self.total_timeout):g} s"
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__})"
            else:
                if response.is_success:
                    return response
                status = response.status_code
                if _is_rate_limit(response):
                    wait = _retry_after(response, self.now)
                    # Without a hint, GitHub asks clients to wait at least a minute; our backoff grows to it.
                    wait = self._delay(attempt) if wait is None else wait
                    if wait > self.max_wait:
                        raise SourceError(
                            f"{what}: rate limited; the server asks to wait {wait:.0f} s, longer than "
                            f"{self.max_wait:.0f} s; run again later (fetched pages are kept)",
                            status=status,
                        )
                    last = f"rate limited (HTTP {status})"
                    if attempt + 1 < self.attempts:
                        pause(wait)
                    continue
                if status >= 500:
                    last = f"server error HTTP {status}"
                else:
                    advice = _STATUS_ADVICE.get(status, "the server refused the request")
                    raise SourceError(f"{what}: HTTP {status}, {advice}", status=status)
            if attempt + 1 < self.attempts:
                pause(self._delay(attempt))
        raise SourceError(f"{what}: {last}; gave up after {self.attempts} attempts")

    def _tell(self, text: str) -> None:
        if self.on_wait is not None:
            self.on_wait(text)

    def get_json(
        self, url: str, params: Mapping[str, Any] | None = None
    ) -> tuple[Any, httpx.Response]:
        """GET a JSON document; the parsed body and the response (for its headers)."""
        response = self.request("GET", url, params=params)
        return self._parse(response, url), response

    def post_json(self, url: str, body: Any) -> tuple[Any, httpx.Response]:
        response = self.request("POST", url, json=body)
        return self._parse(response, url), response

    def _parse(self, response: httpx.Response, url: str) -> Any:
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise SourceError(
                f"GET {self._show(url)}: the server answered HTTP {response.status_code} with something "
                f"that is not JSON ({kind}); is the address an API endpoint, or is a proxy in the way?",
                status=response.status_code,
            ) from None

    def _show(self, url: str) -> str:
        """A URL for messages: absolute, with any query string dropped (it may quote a JQL)."""
        full = url if "://" in url else self.base_url.rstrip("/") + "/" + url.lstrip("/")
        return full.split("?", 1)[0]

    def wait_for_reset(self, response: httpx.Response) -> None:
        """Sleep until the rate-limit window resets when the last response used it up."""
        if response.headers.get("x-ratelimit-remaining") != "0":
            return
        wait = _retry_after(response, self.now)
        if wait:
            if wait > self.max_wait:
                reset = dt.datetime.fromtimestamp(self.now() + wait, dt.UTC).strftime("%H:%M UTC")
                raise SourceError(
                    f"rate limit used up until {reset}; run again then (fetched pages are kept)"
                )
            self.sleep(wait)
