"""The admin API client: JSON over loopback with the admin Bearer token.

Every call returns a `Reply` instead of raising, so a screen can show the service's error
(or "disconnected") and carry on. httpx reconnects on the next call by itself; the client
only remembers whether the last call reached the service. A reply the console reads is parsed
once, here, into its payload (tui.payloads); a reply of another shape is an error reply.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

import httpx
from pydantic import ValidationError

from tui import payloads as p

DISCONNECTED = "disconnected - retrying"
T = TypeVar("T")


@dataclass(slots=True)
class Reply(Generic[T]):
    """The outcome of one admin call: `data` when ok, else `error` (status 0: unreachable)."""
    status: int
    data: T = None  # type: ignore[assignment]
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

    async def read(self, shape: Any, method: str, path: str, **kwargs: Any) -> Reply:
        """`request`, with the reply's data parsed into `shape` (a payload of tui.payloads)."""
        reply = await self.request(method, path, **kwargs)
        if not reply.ok:
            return reply
        try:
            return Reply(reply.status, p.parse(shape, reply.data))
        except ValidationError as exc:
            return Reply(reply.status, error=f"unexpected reply to {method} {path}: {p.problem(exc)}")

    # The admin API, one method per endpoint (docs/architecture.md, "Admin API").

    async def stats(self) -> Reply[p.Stats]:
        return await self.read(p.Stats, "GET", "/admin/stats")

    async def fleet(self) -> Reply[p.Fleet]:
        """Every node on the service's database, as each last reported itself."""
        return await self.read(p.Fleet, "GET", "/admin/fleet")

    async def metrics(self) -> Reply[str]:
        """The Prometheus text of GET /metrics (latency histograms)."""
        return await self.request("GET", "/metrics")

    async def models(self) -> Reply[p.ModelList]:
        return await self.read(p.ModelList, "GET", "/admin/models")

    async def import_model(self, path: str, name: str | None = None) -> Reply:
        body = {"path": path} | ({"name": name} if name else {})
        return await self.request("POST", "/admin/models/import", json=body, timeout=600)

    async def load_model(self, model: str, quantization: str) -> Reply:
        body = {"model": model, "quantization": quantization}
        return await self.request("POST", "/admin/models/load", json=body, timeout=600)

    async def routes(self) -> Reply[p.RouteList]:
        return await self.read(p.RouteList, "GET", "/admin/routes")

    async def unload_model(self, model: str) -> Reply:
        return await self.request("POST", "/admin/models/unload", json={"model": model}, timeout=120)

    async def speculation(self) -> Reply[dict[str, p.Speculation]]:
        """Each loaded model's speculative-decoding policy and figures."""
        return await self.read(dict[str, p.Speculation], "GET", "/admin/speculation")

    async def set_speculation(self, model: str, settings: dict) -> Reply[dict[str, p.Speculation]]:
        """Change some of a loaded model's speculation settings; answers its new policy."""
        return await self.read(dict[str, p.Speculation], "PUT", "/admin/speculation",
                               json={"model": model} | settings, timeout=600)

    async def plan(self, model: str, quantization: str, context: int, concurrency: int) -> Reply[p.PlanReport]:
        params = {"model": model, "quantization": quantization,
                  "context": context, "concurrency": concurrency}
        return await self.read(p.PlanReport, "GET", "/admin/plan", params=params)

    async def plan_config(self, config: dict, quantization: str, context: int,
                          concurrency: int) -> Reply[p.PlanReport]:
        body = {"config": config, "quantization": quantization,
                "context": context, "concurrency": concurrency}
        return await self.read(p.PlanReport, "POST", "/admin/plan", json=body)

    async def cache_policy(self) -> Reply[p.CachePolicies]:
        return await self.read(p.CachePolicies, "GET", "/admin/cache/policy")

    async def set_cache_policy(self, policy: dict) -> Reply[p.CachePolicies]:
        return await self.read(p.CachePolicies, "PUT", "/admin/cache/policy", json=policy)

    async def cache_stats(self) -> Reply[p.CacheStats]:
        return await self.read(p.CacheStats, "GET", "/admin/cache/stats")

    async def pins(self) -> Reply[list[p.Pin]]:
        """Every pinned prefix, each naming the model it is pinned in."""
        reply = await self.read(p.Pins, "GET", "/admin/cache/pins")
        if reply.ok:
            reply.data = [pin.model_copy(update={"model": model}) for model, pins in reply.data.items()
                          for pin in pins]
        return reply

    async def add_pin(self, prompt: str, model: str, tenant: str | None = None) -> Reply:
        body = {"model": model, "prompt": prompt} | ({"tenant": tenant} if tenant else {})
        return await self.request("POST", "/admin/cache/pins", json=body)

    async def remove_pin(self, pin_id: str) -> Reply:
        return await self.request("DELETE", f"/admin/cache/pins/{pin_id}")

    async def flush_cache(self, model: str | None = None) -> Reply:
        return await self.request("POST", "/admin/cache/flush", json={"model": model} if model else {})

    async def keys(self) -> Reply[p.KeyList]:
        return await self.read(p.KeyList, "GET", "/admin/keys")

    async def create_key(self, fields: dict) -> Reply[p.CreatedKey]:
        return await self.read(p.CreatedKey, "POST", "/admin/keys", json=fields)

    async def update_key(self, key_id: str, fields: dict) -> Reply[p.ApiKey]:
        return await self.read(p.ApiKey, "PATCH", f"/admin/keys/{key_id}", json=fields)

    async def revoke_key(self, key_id: str) -> Reply[p.ApiKey]:
        return await self.read(p.ApiKey, "DELETE", f"/admin/keys/{key_id}")

    async def usage(self, period: str = "day", group: str = "key") -> Reply[p.UsageReport]:
        params = {"period": period, "group": group, "format": "json"}
        return await self.read(p.UsageReport, "GET", "/admin/usage", params=params)

    async def tco(self) -> Reply[p.TcoReport]:
        return await self.read(p.TcoReport, "GET", "/admin/tco")

    async def set_tco(self, inputs: dict) -> Reply[p.TcoReport]:
        return await self.read(p.TcoReport, "PUT", "/admin/tco", json=inputs)

    async def frontier(self, model: str | None = None) -> Reply[p.Frontier]:
        return await self.read(p.Frontier, "GET", "/admin/frontier", params={"model": model} if model else None)

    async def alerts(self, limit: int = 200) -> Reply[p.Alerts]:
        return await self.read(p.Alerts, "GET", "/admin/alerts", params={"limit": limit})

    async def acknowledge_alert(self, event_id: int) -> Reply[p.AlertEvent]:
        return await self.read(p.AlertEvent, "POST", f"/admin/alerts/events/{event_id}/ack", json={})
