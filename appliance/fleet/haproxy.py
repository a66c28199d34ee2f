"""The HAProxy configuration in front of a fleet: `airlock fleet haproxy-config` writes it.

What it promises (docs/fleet.md):
- Affinity: requests are hashed on the API key (or a tenant header) over a consistent hash
  ring, so one tenant's prompts land on one node and find its prefix cache warm; a node that
  leaves moves only its own tenants.
- Failover: a node is taken out when /ready stops answering 200 (a drain answers 503, a dead
  node nothing) after `fall` checks `check_interval_ms` apart. Until then a request that
  could not connect, or got a 503 (which Airlock answers before doing any work), is retried
  on another node (`option redispatch`), so a client sees no error. HAProxy retries only a
  request it holds whole, so it buffers each request body before forwarding it
  (`option http-buffer-request`, up to `buffer_bytes`; a larger request is not retried on a
  503 and is left to the client's retry).
- Streams: a token stream (SSE) may pause between tokens, so the server-side and tunnel
  timeouts are long (`stream_timeout_s`); HAProxy forwards each chunk as it arrives.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.fleet.node import Node, NodeError, check_unique

_HEADER = re.compile(r"[A-Za-z0-9-]{1,64}")


@dataclass(frozen=True, slots=True)
class FrontSettings:
    bind: str = "127.0.0.1:8400"          # where clients connect
    hash_header: str = "Authorization"    # the API key; or a tenant header such as X-Tenant
    stream_timeout_s: int = 600           # the longest pause inside a stream, and the longest request
    connect_timeout_ms: int = 2000
    check_interval_ms: int = 1000
    fall: int = 2                         # failed checks before a node is taken out
    rise: int = 2                         # passed checks before it is back
    retries: int = 2
    maxconn: int = 4096
    buffer_bytes: int = 65536             # tune.bufsize: the largest request retried on a 503

    def __post_init__(self) -> None:
        if not _HEADER.fullmatch(self.hash_header):
            raise NodeError(f"hash header {self.hash_header!r} must be a plain header name")
        if not re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}", self.bind):
            raise NodeError(f"bind {self.bind!r} must be host:port (host may be empty: every address)")
        if self.buffer_bytes < 16384:
            raise NodeError(f"buffer_bytes must be at least 16384 (HAProxy's default), got {self.buffer_bytes}")
        for name in ("stream_timeout_s", "connect_timeout_ms", "check_interval_ms", "fall", "rise", "maxconn"):
            if getattr(self, name) < 1:
                raise NodeError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.retries < 0:
            raise NodeError(f"retries must be at least 0, got {self.retries}")


def render(nodes: list[Node], settings: FrontSettings = FrontSettings()) -> str:
    """The configuration file's text for `nodes` behind one frontend."""
    check_unique(nodes)
    s = settings
    servers = [f"    server {n.name} {n.address} check" for n in nodes]
    return "\n".join([
        "# Written by `airlock fleet haproxy-config`; see docs/fleet.md.",
        "global",
        f"    maxconn {s.maxconn}",
        f"    tune.bufsize {s.buffer_bytes}",
        "    log stdout format raw local0 info",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    option redispatch 1",                           # every retry may pick another node
        f"    retries {s.retries}",
        "    retry-on conn-failure empty-response 503",       # Airlock's 503s come before any work
        f"    timeout connect {s.connect_timeout_ms}ms",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 5s",
        "    timeout queue 30s",
        f"    timeout client {s.stream_timeout_s}s",
        f"    timeout server {s.stream_timeout_s}s",           # a stream may pause between tokens
        f"    timeout tunnel {s.stream_timeout_s}s",
        "",
        "frontend airlock",
        f"    bind {s.bind}",
        "    option forwardfor",
        "    option http-buffer-request",                   # whole in hand, so a 503 can be retried
        "    default_backend appliances",
        "",
        "backend appliances",
        f"    balance hdr({s.hash_header})",
        "    hash-type consistent",
        "    option httpchk GET /ready",
        "    http-check expect status 200",                  # a draining node answers 503
        f"    default-server inter {s.check_interval_ms}ms fall {s.fall} rise {s.rise}",
        *servers,
        "",
    ])
