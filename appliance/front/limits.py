"""What the HTTP front refuses before the app sees a request, from the server configuration."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Answered while draining: a load balancer reads /ready (503 then), a supervisor /health.
DRAIN_EXEMPT = frozenset({"/health", "/ready", "/metrics"})


@dataclass(frozen=True, slots=True)
class FrontLimits:
    max_body_bytes: int = 16 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    head_timeout: float = 10.0       # seconds for a request head to arrive in full
    body_timeout: float = 30.0       # seconds for a request body to arrive in full
    keep_alive: float = 5.0          # seconds an idle keep-alive connection stays open
    connection_limit: int = 1024     # open connections; beyond it requests get 503
    retry_after: int = 5             # seconds, in the Retry-After of a draining 503

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_header_bytes", "head_timeout", "body_timeout", "keep_alive",
                     "connection_limit", "retry_after"):
            if getattr(self, name) <= 0:
                raise ValueError(f"server.{name} must be positive, got {getattr(self, name)!r}")

    @classmethod
    def from_config(cls, server: Any) -> FrontLimits:
        return cls(max_body_bytes=server.max_body_bytes, max_header_bytes=server.max_header_bytes,
                   head_timeout=server.header_timeout_seconds, body_timeout=server.body_timeout_seconds,
                   keep_alive=server.keep_alive_seconds, connection_limit=server.connection_limit,
                   retry_after=max(1, round(server.shutdown_grace_seconds)))
