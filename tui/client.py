"""The admin API client: JSON over loopback with the admin Bearer token.

Every call returns a `Reply` instead of raising, so a screen can show the service's error
(or "disconnected") and carry on. httpx reconnects on the next call by itself; the client
only remembers whether the last call reached the service.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import httpx

DISCONNECTED = "disconnected - retrying"


@dataclass(slots=True)
class Reply:
    """The outcome of one admin call: `data` when ok, else `error` (status 0: unreachable)."""
    status: int
    data: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def error_message(response: httpx.Response) -> str:
    """The service's error message ({"error": {"message": ...}}), or the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class AdminClient:
    """Async client for /admin/*; `on_connection(bool)` fires when reachability changes."""

    def __init__(self, base_url: str, token: str = "", timeout: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"admin URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.connected: bool | None = None
        self.on_connection: Callable[[bool], None] | None = None
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            headers["X-Airlock-Actor"] = f"console:{_user()}"   # named in the audit log
            self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=self.timeout)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            if self.on_connection:
                self.on_connection(connected)

    async def request(self, method: str, path: str, *, params: dict | None = None,
                      json: Any = None, timeout: float | None = None) -> Reply:
        try:
            response = await self._client().request(
                method, path, params=params, json=json, timeout=timeout or self.timeout)
        except httpx.TimeoutException:
            self._set_connected(True)
            return Reply(0, error=f"{method} {path} timed out")
        except httpx.TransportError:
            self._set_connected(False)
            return Reply(0, error=DISCONNECTED)
        self._set_connected(True)
        if response.is_error:
            return Reply(response.status_code, error=error_message(response))
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = response.text
        return Reply(response.status_code, data=data)

    # The admin API, one method per endpoint (docs/architecture.md, "Admin API").

    async def stats(self) -> Reply:
        return await self.request("GET", "/admin/stats")

    async def fleet(self) -> Reply:
        """Every node on the service's database, as each last reported itself."""
        return await self.request("GET", "/admin/fleet")

    async def metrics(self) -> Reply:
        """The Prometheus text of GET /metrics (latency histograms)."""
        return await self.request("GET", "/metrics")

    async def models(self) -> Reply:
        return await self.request("GET", "/admin/models")

    async def import_model(self, path: str, name: str | None = None) -> Reply:
        body = {"path": path} | ({"name": name} if name else {})
        return await self.request("POST", "/admin/models/import", json=body, timeout=600)

    async def load_model(self, model: str, quantization: str) -> Reply:
        body = {"model": model, "quantization": quantization}
        return await self.request("POST", "/admin/models/load", json=body, timeout=600)

    async def routes(self) -> Reply:
        return await self.request("GET", "/admin/routes")

    async def unload_model(self, model: str) -> Reply:
        return await self.request("POST", "/admin/models/unload", json={"model": model}, timeout=120)

    async def plan(self, model: str, quantization: str, context: int, concurrency: int) -> Reply:
        params = {"model": model, "quantization": quantization,
                  "context": context, "concurrency": concurrency}
        return await self.request("GET", "/admin/plan", params=params)

    async def plan_config(self, config: dict, quantization: str, context: int, concurrency: int) -> Reply:
        body = {"config": config, "quantization": quantization,
                "context": context, "concurrency": concurrency}
        return await self.request("POST", "/admin/plan", json=body)

    async def cache_policy(self) -> Reply:
        return await self.request("GET", "/admin/cache/policy")

    async def set_cache_policy(self, policy: dict) -> Reply:
        return await self.request("PUT", "/admin/cache/policy", json=policy)

    async def cache_stats(self) -> Reply:
        return await self.request("GET", "/admin/cache/stats")

    async def pins(self) -> Reply:
        return await self.request("GET", "/admin/cache/pins")

    async def add_pin(self, prompt: str, model: str, tenant: str | None = None) -> Reply:
        body = {"model": model, "prompt": prompt} | ({"tenant": tenant} if tenant else {})
        return await self.request("POST", "/admin/cache/pins", json=body)

    async def remove_pin(self, pin_id: str) -> Reply:
        return await self.request("DELETE", f"/admin/cache/pins/{pin_id}")

    async def flush_cache(self, model: str | None = None) -> Reply:
        return await self.request("POST", "/admin/cache/flush", json={"model": model} if model else {})

    async def keys(self) -> Reply:
        return await self.request("GET", "/admin/keys")

    async def create_key(self, fields: dict) -> Reply:
        return await self.request("POST", "/admin/keys", json=fields)

    async def update_key(self, key_id: str, fields: dict) -> Reply:
        return await self.request("PATCH", f"/admin/keys/{key_id}", json=fields)

    async def revoke_key(self, key_id: str) -> Reply:
        return await self.request("DELETE", f"/admin/keys/{key_id}")

    async def usage(self, period: str = "day", group: str = "key") -> Reply:
        params = {"period": period, "group": group, "format": "json"}
        return await self.request("GET", "/admin/usage", params=params)

    async def tco(self) -> Reply:
        return await self.request("GET", "/admin/tco")

    async def set_tco(self, inputs: dict) -> Reply:
        return await self.request("PUT", "/admin/tco", json=inputs)

    async def frontier(self, model: str | None = None) -> Reply:
        return await self.request("GET", "/admin/frontier", params={"model": model} if model else None)

    async def alerts(self, limit: int = 200) -> Reply:
        return await self.request("GET", "/admin/alerts", params={"limit": limit})

    async def acknowledge_alert(self, event_id: int) -> Reply:
        return await self.request("POST", f"/admin/alerts/events/{event_id}/ack", json={})
