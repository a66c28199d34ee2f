"""What the soak's clients saw: one Attempt per request sent, kept in a thread-safe Tally.

An attempt is *accepted* when the server admitted it (a 200, or the first chunk of a stream),
and *completed* when its whole answer arrived with its usage. `ids` are the ledger request ids
the attempt should have produced (a batch of P prompts: "<id>-0" .. "<id>-<P-1>"); `cut` means
the connection failed under it (the kill -9, or the server not yet back).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(slots=True)
class Attempt:
    kind: str                      # chat, chat_stream, batch, embed, disconnect, bad, budget
    key: str                       # the API key's name ("" for none)
    started: float                 # time.monotonic()
    ended: float = 0.0
    status: int | None = None      # HTTP status; None when the connection failed
    accepted: bool = False
    completed: bool = False
    cut: bool = False
    ids: tuple[str, ...] = ()
    prompt_tokens: int = 0         # the usage the response reported
    completion_tokens: int = 0
    error_code: str = ""           # the error's code, for refusals


@dataclass(slots=True)
class HealthPoll:
    at: float                      # time.monotonic() when sent
    seconds: float
    ok: bool


@dataclass
class Tally:
    attempts: list[Attempt] = field(default_factory=list)
    health: list[HealthPoll] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, attempt: Attempt) -> None:
        with self._lock:
            self.attempts.append(attempt)

    def add_health(self, poll: HealthPoll) -> None:
        with self._lock:
            self.health.append(poll)

    def of(self, *kinds: str) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.kind in kinds]

    def all(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts)
