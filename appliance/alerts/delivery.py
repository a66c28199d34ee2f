"""Where alert state changes go without internet: the journal/syslog and a webhook on the
local network. (The console and Prometheus read the evaluator's state themselves.)

A sink's `deliver(event)` is called on the evaluator's thread and must not block it: syslog
sends one datagram; the webhook only enqueues, and its own thread posts with a bounded
timeout and a bounded number of retries, dropping the oldest event when its queue is full.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import logging.handlers
import queue
import socket
import threading
import urllib.error
import urllib.request
from typing import Protocol
from urllib.parse import urlsplit

log = logging.getLogger("airlock.alerts")
MAX_BACKOFF_SECONDS = 10.0   # a webhook that comes back is tried again within this, however long it was down
SYSLOG_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


class Sink(Protocol):
    def deliver(self, event: dict) -> None: ...
    def close(self) -> None: ...


class _QuietSysLogHandler(logging.handlers.SysLogHandler):
    """Never blocks: a syslog daemon that does not read (a full socket queue) makes the message
    dropped and counted, not the evaluator (and whoever called it) wait."""
    dropped = 0

    def _connect_unixsocket(self, address: str) -> None:
        super()._connect_unixsocket(address)
        self.socket.setblocking(False)

    def handleError(self, record: logging.LogRecord) -> None:   # noqa: N802 - logging's name
        """A missing or full syslog socket must not print a traceback per alert."""
        self.dropped += 1


class SyslogSink:
    """Each state change as one syslog message (facility daemon, ident `airlock`)."""

    def __init__(self, address: str) -> None:
        target: str | tuple[str, int] = address
        if ":" in address and not address.startswith("/"):
            host, _, port = address.rpartition(":")
            target = (host, int(port))
        self.handler = _QuietSysLogHandler(address=target, facility=logging.handlers.SysLogHandler.LOG_DAEMON,
                                           socktype=socket.SOCK_DGRAM)
        self.handler.ident = "airlock: "
        self.logger = logging.getLogger("airlock.alerts.syslog")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self.handler)

    def deliver(self, event: dict) -> None:
        level = SYSLOG_LEVELS.get(event["severity"], logging.WARNING) if event["state"] == "firing" else logging.INFO
        self.logger.log(level, "alert %s %s: %s", event["state"], event["rule"], event["message"])

    def close(self) -> None:
        self.logger.removeHandler(self.handler)
        self.handler.close()


def check_webhook_url(url: str) -> None:
    """http(s) to loopback, a private address or a bare host name: the local network only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"alerts.webhook_url must be an http:// or https:// URL, got {url!r}")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return   # a name: resolved by the site's own DNS or /etc/hosts
    if not (address.is_private or address.is_loopback or address.is_link_local):
        raise ValueError(f"alerts.webhook_url must point into the local network, got public address {address}")


class WebhookSink:
    """POST each state change as JSON to `url`, off the evaluator's thread."""

    def __init__(self, url: str, timeout: float = 2.0, retries: int = 3, backoff: float = 0.5,
                 max_queued: int = 1000) -> None:
        check_webhook_url(url)
        self.url, self.timeout, self.retries, self.backoff = url, timeout, retries, backoff
        self.sent = 0            # events delivered
        self.failed = 0          # events given up on
        self.attempts = 0        # POSTs tried
        self._queue: queue.Queue[dict | None] = queue.Queue(maxsize=max_queued)
        self._stop = threading.Event()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # never via a proxy
        self._thread = threading.Thread(target=self._run, name="airlock-alert-webhook", daemon=True)
        self._thread.start()

    def deliver(self, event: dict) -> None:
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except queue.Full:   # keep the newest: drop the oldest waiting event
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=self.timeout * 2 + 1)

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            if self._post_with_retries(event):
                self.sent += 1
            else:
                self.failed += 1
                log.warning("alert webhook %s gave up on %s %s after %d tries", self.url, event["state"],
                            event["rule"], self.retries + 1)

    def _post_with_retries(self, event: dict) -> bool:
        body = json.dumps({"source": "airlock", **event}).encode()
        for attempt in range(self.retries + 1):
            if self._post(body):
                return True
            if self._stop.wait(min(self.backoff * 2 ** attempt, MAX_BACKOFF_SECONDS)):
                return False
        return False

    def _post(self, body: bytes) -> bool:
        self.attempts += 1
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError, ValueError):
            return False


def sinks_from_config(config) -> list:
    sinks: list = []
    if config.syslog_address:
        try:
            sinks.append(SyslogSink(config.syslog_address))
        except OSError as exc:   # no syslog daemon here: the service log (journal) still has every alert
            log.warning("alerts.syslog_address %s is not reachable (%s); alerts go to the service log only",
                        config.syslog_address, exc)
    if config.webhook_url:
        sinks.append(WebhookSink(config.webhook_url, config.webhook_timeout_seconds, config.webhook_retries))
    return sinks
