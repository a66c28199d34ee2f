"""Server-sent events: one `data:` line per chunk, `[DONE]` at the end, and the job finished
(the engine request aborted) however the stream ends, including a client that went away."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from flask import Response, request

from appliance.api.errors import to_api_error
from appliance.api.job_group import JobGroup
from appliance.api.jobs import Job


def disconnect_check() -> Callable[[], bool]:
    """waitress's test for a client that hung up (it needs channel_request_lookahead > 0)."""
    return request.environ.get("waitress.client_disconnected", lambda: False)


def sse_response(job: Job | JobGroup, events: Iterator[dict]) -> Response:
    def generate() -> Iterator[str]:
        try:
            yield ": airlock\n\n"   # an SSE comment: sends the headers now, before the first token
            for event in events:
                yield f"data: {json.dumps(event, separators=(',', ':'))}\n\n"
            yield "data: [DONE]\n\n"
        except GeneratorExit:
            raise
        except Exception as exc:   # the engine failed mid-stream: tell the client in-band
            error = to_api_error(exc)
            yield f"data: {json.dumps({'error': {'message': error.message, 'type': 'server_error', 'param': None, 'code': error.code}})}\n\n"
        finally:
            job.finish()

    response = Response(generate(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.call_on_close(job.finish)   # a generator closed before its first step never runs `finally`
    return response
