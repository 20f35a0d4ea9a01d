"""Run ``valuestream serve`` as a child process on a free loopback port, for the web tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``valuestream serve`` process; ``url`` once started. Stop it with :meth:`stop`."""

    def __init__(self, workspace: Path, *, stream: Path | None = None, args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        self.workspace = workspace
        self.stream = stream
        self.args = args
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Server:
        cmd = [sys.executable, "-m", "valuestream", "serve", "-w", str(self.workspace), "--port", str(self.port), *self.args]
        if self.stream is not None:
            cmd += ["--stream", str(self.stream)]
        env = {**os.environ, "PYTHONPATH": str(SRC), **self.env}
        self.log = self.workspace.parent / f"server-{self.port}.log"
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/api/agenda", timeout=2).status_code in (200, 401):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer in {timeout} s: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as a crash or ``kill -9`` would."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    @contextlib.contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """An HTTP client with this server's session cookie and CSRF header."""
        with httpx.Client(base_url=self.url, timeout=30) as c:
            c.headers["X-CSRF-Token"] = c.get("/api/session").json()["csrf"]
            yield c

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
