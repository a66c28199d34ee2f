"""A non-streamed answer that holds no thread while it is generated.

The view returns at once with a body of one chunk, the whole JSON answer. The front
(appliance.front.bridge) takes that chunk when the job has finished, the way it takes an SSE
stream's chunks, so a waiting generation costs no handler thread; a plain WSGI server simply
waits in next(). Closing the body finishes the job: a client that left is not generated for.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from flask import Response

from appliance.api.job_group import JobGroup
from appliance.api.jobs import Job


class DeferredJson:
    """The JSON answer `build` makes once `job` is done; an iterable of one chunk."""
    first_chunk_ready = False   # the front waits for ready() before taking even the first chunk

    def __init__(self, job: Job | JobGroup, build: Callable[[], dict]) -> None:
        self._job, self._build, self._sent = job, build, False

    def __iter__(self) -> DeferredJson:
        return self

    def __next__(self) -> bytes:
        if self._sent:
            raise StopIteration
        self._sent = True
        return json.dumps(self._build(), separators=(",", ":")).encode()

    def ready(self) -> bool:
        return self._job.done

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._job.subscribe(callback)

    def close(self) -> None:
        self._job.finish()


def deferred_json(job: Job | JobGroup, build: Callable[[], dict]) -> Response:
    return Response(DeferredJson(job, build), mimetype="application/json", direct_passthrough=True)
