"""Torch work off an engine's loop (loading weights, allocating a KV cache, an embedding) runs in a
thread that ends with it.

Why: torch's CPU parallelism on Linux is libgomp's OpenMP. libgomp keeps a team of worker
threads for every thread that ever ran a parallel region, until that thread exits, and once
all teams together hold more threads than the machine has CPUs it throttles every team:
an idle worker spins about 100 times, then sleeps on a futex. A decode step of a small model
is hundreds of short parallel regions, so each then pays a wake-up. Measured on a 2-core
AVX-512 Xeon, one int8 SmolLM2-135M decode step took 9 ms on the only team and 18 ms once a
second thread had run torch work (the loader on the caller's thread, the engine's loop on its
own). Running such work in a short-lived thread frees its team when it is done, so an engine's
loop thread keeps the only team and its workers keep spinning between regions.
"""
from __future__ import annotations

import functools
import threading
from typing import Callable, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")


def in_short_thread(work: Callable[[], T], name: str = "airlock-short") -> T:
    """work() in a thread of its own that exits afterwards; its result, or its exception, here."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:   # re-raised in the caller, with its traceback
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def short_lived(function: Callable[P, T]) -> Callable[P, T]:
    """Decorate a function whose torch work should run in a thread of its own (in_short_thread)."""
    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return in_short_thread(lambda: function(*args, **kwargs), name=f"airlock-{function.__name__}")
    return run
