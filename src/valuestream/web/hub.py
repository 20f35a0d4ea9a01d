"""The WebSocket hub: every open page, and one message sent to all of them at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import WebSocket

SEND_TIMEOUT = 5.0
"""A page that takes longer than this to take one message is dropped (it reconnects)."""


class Hub:
    """The pages connected now; :meth:`broadcast` sends to each without waiting on the slowest."""

    def __init__(self) -> None:
        self.sockets: set[WebSocket] = set()

    def __len__(self) -> int:
        return len(self.sockets)

    async def join(self, ws: WebSocket) -> None:
        self.sockets.add(ws)
        await self.broadcast({"type": "presence", "count": len(self.sockets)})

    async def leave(self, ws: WebSocket) -> None:
        self.sockets.discard(ws)
        await self.broadcast({"type": "presence", "count": len(self.sockets)})

    async def send(self, ws: WebSocket, message: dict[str, Any] | str) -> bool:
        text = message if isinstance(message, str) else json.dumps(message, default=str)
        try:
            await asyncio.wait_for(ws.send_text(text), SEND_TIMEOUT)
        except Exception:  # noqa: BLE001 - a closed or stuck page: forget it, it will reconnect
            self.sockets.discard(ws)
            with contextlib.suppress(Exception):
                await ws.close()
            return False
        return True

    async def broadcast(self, message: dict[str, Any]) -> None:
        text = json.dumps(message, default=str)
        await asyncio.gather(*(self.send(ws, text) for ws in list(self.sockets)))


__all__ = ["Hub"]
