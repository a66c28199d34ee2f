"""Streams under stress: a client that hangs up mid-stream (one prompt or a batch), and 64
simultaneous streams."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from api_support import MODEL
from appliance.auth.keys import KeySpec


def _wait_idle(engine, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stats = engine.stats()
        if stats.running == 0 and stats.waiting == 0:
            return stats
        time.sleep(0.05)
    return engine.stats()


def test_disconnect_aborts_the_engine_request(served, engine) -> None:
    baseline = _wait_idle(engine).blocks_used
    key, secret = served.appliance.keys.create(KeySpec(name="hangs-up"))
    client = served.client(secret)
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Tell me a long story."}], max_tokens=400,
        stream=True, extra_body={"ignore_eos": True})
    received = [chunk for _, chunk in zip(range(4), stream)]
    assert engine.stats().running == 1 and engine.stats().blocks_used > baseline
    stream.close()
    stats = _wait_idle(engine, 5.0)
    assert stats.running == 0 and stats.blocks_used == baseline
    assert len(received) == 4
    deadline = time.monotonic() + 10
    while not (rows := served.appliance.ledger.export_json(key_id=key.id)):
        assert time.monotonic() < deadline, "the aborted request was never billed"
        time.sleep(0.1)
    [row] = rows
    assert row["finish_reason"] == "abort"
    assert 3 <= row["completion_tokens"] < 100   # what was delivered, not the 400 asked for


def test_disconnect_aborts_every_prompt_of_a_batch(served, engine) -> None:
    baseline = _wait_idle(engine).blocks_used
    key, secret = served.appliance.keys.create(KeySpec(name="hangs-up-batch"))
    stream = served.client(secret).completions.create(
        model=MODEL, prompt=["Once upon a time", "The history of Rome", "A recipe for bread"], max_tokens=400,
        stream=True, extra_body={"ignore_eos": True})
    received = [chunk for _, chunk in zip(range(9), stream)]
    assert engine.stats().running == 3
    stream.close()
    stats = _wait_idle(engine, 5.0)
    assert stats.running == 0 and stats.blocks_used == baseline
    assert {chunk.choices[0].index for chunk in received} == {0, 1, 2}
    deadline = time.monotonic() + 10
    while len(rows := served.appliance.ledger.export_json(key_id=key.id)) < 3:
        assert time.monotonic() < deadline, "the aborted batch was never billed"
        time.sleep(0.1)
    assert len(rows) == 3 and all(row["finish_reason"] == "abort" for row in rows)
    assert all(row["completion_tokens"] < 100 for row in rows)   # what was delivered, not the 400 asked for
    assert sum(row["completion_tokens"] for row in rows) >= len(received)


PROMPTS = ["1, 2, 3, 4,", "A, B, C, D,", "Monday, Tuesday, Wednesday,", "January, February, March,",
           "red, orange, yellow,", "one, two, three,", "10, 20, 30,", "Mercury, Venus, Earth,"]


def test_64_simultaneous_streams_complete_unmixed(served, engine) -> None:
    client = served.client()
    reference = {p: client.completions.create(model=MODEL, prompt=p, max_tokens=4, temperature=0).choices[0].text
                 for p in PROMPTS}
    assert len(set(reference.values())) == len(PROMPTS)   # a mix-up could not go unseen

    apps = [served.client() for _ in range(8)]   # eight keys: one key may hold 16 requests at once

    def stream(i: int) -> str:
        chunks = apps[i % 8].completions.create(model=MODEL, prompt=prompts[i], max_tokens=4, temperature=0,
                                                stream=True)
        return "".join(chunk.choices[0].text for chunk in chunks)

    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(64)]   # eight streams of each, interleaved
    with ThreadPoolExecutor(64) as pool:
        texts = list(pool.map(stream, range(64)))
    assert [reference[p] for p in prompts] == texts
    assert _wait_idle(engine).running == 0
