"""WsgiBridge: the ASGI application that serves the Flask (WSGI) app from an event loop.

Invariants:
- A request is refused before any of its body is read when the server is draining (503 with
  Retry-After; /health, /ready and /metrics still answer) or when its declared Content-Length
  is over the limit (413). A body is read on the event loop, never by a thread, and must
  arrive in full within the body timeout (408) and stay under the limit (413).
- The Flask app runs on a bounded pool of handler threads: a thread is held while a view runs,
  never while a socket is idle or slow, nor while a generation runs (streamed or not).
- A body that offers `ready()` and `subscribe(callback)` (appliance.api.sse, appliance.api.deferred) is
  pulled on the event loop's schedule: one chunk is taken (on a small pump pool) only when
  taking it will not wait on the engine, so any number of open streams costs no thread.
- Whatever ends a stream (its end, the client leaving, a send failing), its body is closed,
  which finishes its job (aborting the engine request if still running, billing what was sent).
"""
from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from appliance.front.limits import DRAIN_EXEMPT, FrontLimits

log = logging.getLogger("airlock.front")
Send = Callable[[dict], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]
_TYPES = {400: "invalid_request_error", 408: "invalid_request_error", 413: "invalid_request_error",
          431: "invalid_request_error",
          500: "server_error", 503: "server_overloaded"}


class Refusal(Exception):
    """An answer given by the front itself, in OpenAI's error format."""

    def __init__(self, status: int, message: str, code: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.retry_after = status, message, code, retry_after


class RequestState:
    """One request's link between the event loop and the threads: has the client gone, and a
    wake-up for the pump that engine threads may pull."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.gone = False
        self.wake = asyncio.Event()

    def disconnected(self) -> bool:
        return self.gone

    def notify(self) -> None:
        """Called from any thread (the engine's) when the stream has something new."""
        try:
            self.loop.call_soon_threadsafe(self.wake.set)
        except RuntimeError:   # the loop has closed: nobody is waiting any more
            pass

    async def wait_until(self, ready: Callable[[], bool]) -> bool:
        """Wait until ready() holds (True) or the client has gone (False)."""
        while not self.gone:
            if ready():
                return True
            self.wake.clear()
            if ready():
                return True
            await self.wake.wait()
        return False

    async def watch(self, receive: Receive) -> None:
        """After the body: the next message is the client's disconnect (or the response's end)."""
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self.wake.set()


class WsgiBridge:
    def __init__(self, app: Callable, appliance: Any, limits: FrontLimits, threads: int,
                 stream_threads: int = 4) -> None:
        self.app = app
        self.appliance = appliance
        self.limits = limits
        self.handlers = ThreadPoolExecutor(threads, thread_name_prefix="airlock-http")
        self.pumps = ThreadPoolExecutor(stream_threads, thread_name_prefix="airlock-stream")
        self.active = 0   # requests admitted and not yet answered in full (event-loop thread only)

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            self._gate(scope)
        except Refusal as refusal:
            await send_refusal(send, refusal)
            return
        self.active += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self.active -= 1

    def shutdown(self) -> None:
        self.handlers.shutdown(wait=False, cancel_futures=True)
        self.pumps.shutdown(wait=False, cancel_futures=True)

    def _gate(self, scope: dict) -> None:
        if self.appliance.draining and scope["path"] not in DRAIN_EXEMPT:
            raise Refusal(503, "The server is shutting down; retry shortly.", "draining", self.limits.retry_after)
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b"")) + sum(
            len(name) + len(value) + 4 for name, value in scope["headers"])
        if head > self.limits.max_header_bytes:   # h11 bounds only a head that arrives in pieces
            raise Refusal(431, f"The request head is larger than the limit of {self.limits.max_header_bytes} "
                               f"bytes.", "request_header_too_large")
        declared = header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Refusal(400, "The Content-Length header is not a number.", "invalid_content_length")
            if int(declared) > self.limits.max_body_bytes:
                raise self._too_large()

    def _too_large(self) -> Refusal:
        return Refusal(413, f"The request body is larger than the limit of {self.limits.max_body_bytes} bytes.",
                       "request_too_large")

    async def _serve(self, scope: dict, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        state = RequestState(loop)
        try:
            body = await asyncio.wait_for(self._read_body(receive), self.limits.body_timeout)
        except Refusal as refusal:
            await send_refusal(send, refusal)
            return
        except asyncio.TimeoutError:
            await send_refusal(send, Refusal(408, f"The request body did not arrive within "
                                                  f"{self.limits.body_timeout:g} s.", "request_timeout"))
            return
        if body is None:
            return   # the client left while sending
        watcher = asyncio.create_task(state.watch(receive))
        try:
            status, headers, iterable = await loop.run_in_executor(
                self.handlers, self._call_app, wsgi_environ(scope, body, state.disconnected))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            if hasattr(iterable, "ready") and hasattr(iterable, "subscribe"):
                await self._pump(iterable, send, state)
            else:
                data = await loop.run_in_executor(self.handlers, _read_all, iterable)
                await send({"type": "http.response.body", "body": data, "more_body": False})
        finally:
            watcher.cancel()

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _call_app(self, environ: dict) -> tuple[int, list[tuple[bytes, bytes]], Iterable[bytes]]:
        started: list = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            started[:] = [int(status.split(" ", 1)[0]),
                          [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]]
            return _no_write

        iterable = self.app(environ, start_response)
        return started[0], started[1], iterable

    async def _pump(self, body: Any, send: Send, state: RequestState) -> None:
        """Send a stream chunk by chunk, taking each only when it is ready (see the invariants)."""
        loop = asyncio.get_running_loop()
        body.subscribe(state.notify)
        chunks = iter(body)
        try:
            first = getattr(body, "first_chunk_ready", True)   # an SSE stream's first chunk is a comment
            while first or await state.wait_until(body.ready):
                first = False
                chunk = await loop.run_in_executor(self.pumps, next, chunks, None)
                if chunk is None:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            await asyncio.shield(loop.run_in_executor(self.pumps, _close, body))


def wsgi_environ(scope: dict, body: bytes, disconnected: Callable[[], bool]) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI HTTP scope and its whole body."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"], "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]), "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]), "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0), "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "airlock.client_disconnected": disconnected,
    }
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name != "content-length" and "_" not in name:   # X_Foo could pose as X-Foo
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1").strip()
    return None


async def send_refusal(send: Send, refusal: Refusal) -> None:
    body = json.dumps({"error": {"message": refusal.message, "type": _TYPES.get(refusal.status, "server_error"),
                                 "param": None, "code": refusal.code}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if refusal.retry_after is not None:
        headers.append((b"retry-after", str(refusal.retry_after).encode()))
    if refusal.status in (400, 408, 413, 431):
        headers.append((b"connection", b"close"))   # the rest of the body is not read
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _read_all(iterable: Iterable[bytes]) -> bytes:
    try:
        return b"".join(iterable)
    finally:
        _close(iterable)


def _close(iterable: Any) -> None:
    close = getattr(iterable, "close", None)
    if close is not None:
        try:
            close()
        except Exception:   # closing must never take the front down
            log.exception("closing a response body failed")


def _no_write(data: bytes) -> None:
    raise NotImplementedError("the WSGI write() callable is not supported")
