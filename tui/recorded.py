"""Recorded admin replies: a client that records real replies to a JSON file, and one that
replays them. Replay gives the console a frozen, deterministic state for snapshot tests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tui.client import AdminClient, Reply


def reply_key(method: str, path: str, params: dict | None) -> str:
    query = urlencode(sorted((params or {}).items()))
    return f"{method} {path}" + (f"?{query}" if query else "")


class RecordingClient(AdminClient):
    """Talks to the real service and keeps each reply, keyed by method, path and query."""

    def __init__(self, base_url: str, token: str = "", timeout: float = 30.0) -> None:
        super().__init__(base_url, token, timeout)
        self.replies: dict[str, dict[str, Any]] = {}

    async def request(self, method: str, path: str, *, params: dict | None = None,
                      json: Any = None, timeout: float | None = None) -> Reply:
        reply = await super().request(method, path, params=params, json=json, timeout=timeout)
        self.replies[reply_key(method, path, params)] = {
            "status": reply.status, "data": reply.data, "error": reply.error}
        return reply

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.replies, indent=1, sort_keys=True) + "\n")


class ReplayClient(AdminClient):
    """Answers from a recording; a call that was not recorded gets a 404 reply."""

    def __init__(self, recording: Path) -> None:
        super().__init__("http://127.0.0.1:0")
        self.base_url = f"recorded {Path(recording).name}"
        self.replies: dict[str, dict[str, Any]] = json.loads(Path(recording).read_text())

    async def request(self, method: str, path: str, *, params: dict | None = None,
                      json: Any = None, timeout: float | None = None) -> Reply:
        key = reply_key(method, path, params)
        recorded = self.replies.get(key)
        if recorded is None:
            return Reply(404, error=f"not recorded: {key}")
        self._set_connected(recorded["status"] != 0)
        return Reply(recorded["status"], recorded.get("data"), recorded.get("error"))
