"""The traffic mix: client threads, each sending one kind of request in a closed loop until
stopped, every request recorded in the Tally.

Each role has an API key of its own (the per-key concurrency cap is never what refuses it),
and its own client. A role's thread pauses `pause` seconds between requests, and a second
after a broken connection, so while the server is down (the kill -9 and the restart)
the clients keep knocking without spinning.
"""
from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import openai

from appliance.bench.soak import bad_inputs, requests
from appliance.bench.soak.requests import Target
from appliance.bench.soak.tally import Attempt, Tally

CUT_PAUSE_S = 1.0
CLIENT_TIMEOUT_S = 120.0


@dataclass(slots=True, frozen=True)
class Role:
    name: str            # also the API key's name
    threads: int
    pause: float         # seconds between one thread's requests


MIX = (Role("chat", 2, 0.0), Role("chat_stream", 2, 0.0), Role("batch", 1, 0.0), Role("embed", 1, 0.2),
       Role("disconnect", 1, 0.3), Role("bad", 1, 0.1), Role("budget", 2, 0.3))
SENDERS: dict[str, Callable[..., Attempt]] = {
    "chat": requests.chat, "chat_stream": requests.chat_stream, "batch": requests.batch,
    "embed": requests.embed, "disconnect": requests.disconnect, "budget": requests.budget}


class Traffic:
    def __init__(self, url: str, keys: dict[str, str], targets: dict[str, Target], tally: Tally) -> None:
        self.url, self.keys, self.targets, self.tally = url, keys, targets, tally
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, mix: tuple[Role, ...] = MIX) -> None:
        for role in mix:
            for i in range(role.threads):
                thread = threading.Thread(target=self._loop, args=(role, i), name=f"soak-{role.name}-{i}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT_S + 10)

    def _loop(self, role: Role, index: int) -> None:
        rng = random.Random(f"{role.name}-{index}")
        send = self._sender(role)
        while not self._stop.is_set():
            attempt = send(rng)
            self.tally.add(attempt)
            self._stop.wait(CUT_PAUSE_S if attempt.cut else role.pause)

    def _sender(self, role: Role) -> Callable[[random.Random], Attempt]:
        target, key = self.targets[role.name], self.keys[role.name]
        if role.name == "bad":
            http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=CLIENT_TIMEOUT_S)
            cases = itertools.cycle(bad_inputs.cases(target.model))
            return lambda rng: bad_inputs.send(http, target, next(cases))
        client = openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=CLIENT_TIMEOUT_S)
        return lambda rng: SENDERS[role.name](client, target, rng)
