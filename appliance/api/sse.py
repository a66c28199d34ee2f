"""Server-sent events: one `data:` line per chunk, `[DONE]` at the end, and the job finished
(the engine request aborted) however the stream ends, including a client that went away.

The body is an EventStream: an iterator of bytes that also tells an event-driven server when
its next chunk is ready (`ready()`, `subscribe(callback)`), so that a waiting stream holds no
thread (appliance.front.bridge)."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from flask import Response, request

from appliance.api.errors import to_api_error
from appliance.api.job_group import JobGroup
from appliance.api.jobs import Job


def disconnect_check() -> Callable[[], bool]:
    """The front's test for a client that hung up."""
    return request.environ.get("airlock.client_disconnected", lambda: False)


class EventStream:
    """The encoded SSE lines of a job's events; closing it finishes the job."""

    def __init__(self, job: Job | JobGroup, events: Iterator[dict]) -> None:
        self._job = job
        self._lines = _encode(job, events)

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> bytes:
        return next(self._lines)

    def close(self) -> None:
        self._lines.close()
        self._job.finish()   # also when the body was never iterated

    def ready(self) -> bool:
        """True when taking the next chunk will not wait on the engine."""
        return self._job.ready()

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Have `callback` called (from the engine's thread) whenever new output arrives."""
        self._job.subscribe(callback)


def sse_response(job: Job | JobGroup, events: Iterator[dict]) -> Response:
    return Response(EventStream(job, events), mimetype="text/event-stream", direct_passthrough=True,
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _encode(job: Job | JobGroup, events: Iterator[dict]) -> Iterator[bytes]:
    try:
        yield b": airlock\n\n"   # an SSE comment: sends the headers now, before the first token
        for event in events:
            yield f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()
        job.finish()   # billed and recorded before the client reads the end, not after
        yield b"data: [DONE]\n\n"
    except GeneratorExit:
        raise
    except Exception as exc:   # the engine failed mid-stream: tell the client in-band
        error = to_api_error(exc)
        body = {'error': {'message': error.message, 'type': 'server_error', 'param': None, 'code': error.code}}
        yield f"data: {json.dumps(body)}\n\n".encode()
    finally:
        job.finish()
