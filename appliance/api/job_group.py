"""Several Jobs answered as one response: the prompts of one /v1/completions request.

With P prompts and n choices each, prompt i's choice j is the response's choice i * n + j.
The Jobs run side by side in the engine and their deltas are passed on as they arrive.
The request is admitted once, its worst case held over all prompts (each counts as a
request per minute); each Job settles its own share of that hold and keeps its own
bookkeeping (/metrics, one ledger row for the tokens it delivered); finishing the group
finishes (and, if still running, aborts) them all.
A group of one Job behaves exactly like that Job.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from appliance.api.jobs import POLL_SECONDS, Job, admit, new_request_id, start, usage_body
from engine.outputs import ChoiceOutput
from appliance.auth.keys import ApiKey
from engine.outputs import RequestDelta
from engine.sampling_params import SamplingParams

IDLE_SECONDS = 0.005   # the pause between rounds of polling a batch's streams when none had a delta
_ENDED = object()


class JobGroup:
    def __init__(self, jobs: list[Job], group_id: str) -> None:
        self.jobs = jobs
        self.id = group_id
        self.created = jobs[0].created
        self.model = jobs[0].model
        self.n = jobs[0].params.n

    @property
    def size(self) -> int:
        """The number of choices in the response."""
        return len(self.jobs) * self.n

    def deltas(self, disconnected: Callable[[], bool]) -> Iterator[tuple[Job, int, RequestDelta]]:
        """(the Job it came from, its choice index in the response, the delta), as they arrive."""
        if len(self.jobs) == 1:
            job = self.jobs[0]
            yield from ((job, delta.index, delta) for delta in job.deltas(disconnected))
        else:
            yield from self._interleaved(disconnected)

    def collect(self, disconnected: Callable[[], bool] = lambda: False) -> list[ChoiceOutput]:
        """Run every Job to the end (or until the client goes away); the choices in index order."""
        choices = [ChoiceOutput(i) for i in range(self.size)]
        try:
            for job, index, delta in self.deltas(disconnected):
                choices[index].add(delta)
                job.deliver(delta)
        finally:
            self.finish()
        return choices

    def finish(self) -> None:
        for job in self.jobs:
            job.finish()

    @property
    def done(self) -> bool:
        return all(job.done for job in self.jobs)

    def ready(self) -> bool:
        return any(job.ready() for job in self.jobs)

    def subscribe(self, callback: Callable[[], None]) -> None:
        for job in self.jobs:
            job.subscribe(callback)

    @property
    def usage(self) -> dict:
        """Summed over the prompts, each prompt's tokens counted once."""
        metrics = [job.stream.metrics for job in self.jobs]
        return usage_body(sum(m.prompt_tokens for m in metrics), sum(job.delivered_tokens for job in self.jobs),
                          sum(m.cached_tokens for m in metrics), metrics)

    def _interleaved(self, disconnected: Callable[[], bool]) -> Iterator[tuple[Job, int, RequestDelta]]:
        """Poll every stream in turn without blocking; check for a gone client every POLL_SECONDS."""
        readers = {i: job.stream.deltas(timeout=0) for i, job in enumerate(self.jobs)}
        next_check = time.monotonic() + POLL_SECONDS
        while readers:
            idle = True
            for i, reader in list(readers.items()):
                delta = next(reader, _ENDED)
                if delta is _ENDED:
                    del readers[i]
                elif delta is not None:
                    idle = False
                    yield self.jobs[i], i * self.n + delta.index, delta
            if time.monotonic() >= next_check:
                if disconnected():
                    return
                next_check = time.monotonic() + POLL_SECONDS
            if idle and readers:
                time.sleep(IDLE_SECONDS)


def start_batch(appliance: Any, engine: Any, model: str, endpoint: str, key: ApiKey | None,
                prompts: list[list[int]], params: SamplingParams) -> JobGroup:
    """Admit the request once, then hand each prompt to the engine as its own request
    ("<id>-<i>"); if one cannot be queued, those already queued are aborted and the rest of
    the hold is released."""
    reservation = admit(appliance, key, [len(p) for p in prompts], params)
    group_id = new_request_id(endpoint)
    jobs: list[Job] = []
    try:
        for i, prompt in enumerate(prompts):
            jobs.append(start(appliance, engine, model, endpoint, key, prompt, params, f"{group_id}-{i}",
                              reservation))
    except BaseException:
        for job in jobs:
            job.finish()
        reservation.cancel()
        raise
    return JobGroup(jobs, group_id)
