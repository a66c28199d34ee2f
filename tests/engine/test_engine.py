"""The engine end to end on the real SmolLM2 and Gemma 3 weights, against transformers `generate`."""
from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import pytest
import torch

from engine.config import EngineConfig
from engine.errors import ContextLengthExceeded, EngineStopped, InvalidParameter, QueueFull
from engine.llm_engine import Engine
from engine.request_stream import RequestStream
from engine.sampling_params import SamplingParams

TEXTS = [
    "The quick brown fox",
    "Once upon a time, in a small village by the sea, there lived",
    "def fibonacci(n):",
    "The three primary colors are",
    "In 1969, astronauts landed on the Moon. The mission was called",
    "Water boils at",
    "A list of fruits: apple, banana,",
    "The history of the Roman Empire begins with the founding of the city of Rome, which according to legend",
    "My favourite programming language is",
]
NEW_TOKENS = 12
GREEDY = SamplingParams(max_tokens=NEW_TOKENS, temperature=0.0)


def encode(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=True)["input_ids"]


def hf_greedy(hf: tuple[Any, Any], prompts: list[list[int]], new_tokens: int, eos: list[int]) -> list[list[int]]:
    """transformers `generate`, greedy, one prompt at a time; the output ends at the first EOS."""
    model, _ = hf
    outputs = []
    with torch.inference_mode():
        for ids in prompts:
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 max_new_tokens=new_tokens, do_sample=False, eos_token_id=eos, pad_token_id=eos[0])
            outputs.append(out[0, len(ids):].tolist())
    return outputs


def tokens(stream: RequestStream) -> list[int]:
    return stream.collect()[0].token_ids


def staggered(engine: Engine, prompts: list[list[int]], params: SamplingParams = GREEDY) -> list[RequestStream]:
    """Submit half the prompts, wait until they decode, then submit the rest (continuous batching)."""
    half = len(prompts) // 2
    streams = [engine.submit(p, params) for p in prompts[:half]]
    deadline = time.monotonic() + 60
    while not streams[0].metrics.inter_token_latencies and time.monotonic() < deadline:
        time.sleep(0.002)                           # the early requests are decoding now
    assert not streams[0].finished
    return streams + [engine.submit(p, params) for p in prompts[half:]]


@pytest.fixture(scope="module")
def smol_prompts(smollm2_model: Any) -> list[list[int]]:
    return [encode(smollm2_model.tokenizer, t) for t in TEXTS]


@pytest.fixture(scope="module")
def smol_reference(smollm2_hf: tuple[Any, Any], smollm2_model: Any, smol_prompts: list[list[int]]) -> list[list[int]]:
    return hf_greedy(smollm2_hf, smol_prompts, NEW_TOKENS, smollm2_model.eos_token_ids)


@pytest.fixture()
def engine_factory(smollm2_model: Any) -> Iterator[Any]:
    engines: list[Engine] = []

    def make(model: Any = smollm2_model, **config: Any) -> Engine:
        config.setdefault("kv_cache_bytes", 32 * 2**20)
        engines.append(Engine(model, EngineConfig(**config)))
        return engines[-1]

    yield make
    for engine in engines:
        engine.shutdown()


def assert_pool_empty(engine: Engine) -> None:
    deadline = time.monotonic() + 5
    while engine.stats().blocks_used and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = engine.stats()
    assert (stats.blocks_used, stats.running, stats.waiting) == (0, 0, 0)
    assert stats.blocks_free == stats.blocks_total


def test_greedy_matches_transformers_alone_and_in_a_batch(engine_factory: Any, smol_prompts: list[list[int]],
                                                          smol_reference: list[list[int]]) -> None:
    engine = engine_factory()
    alone = engine.submit(smol_prompts[1], GREEDY)
    assert tokens(alone) == smol_reference[1]
    metrics = alone.metrics
    assert metrics.completion_tokens == len(smol_reference[1]) and metrics.prompt_tokens == len(smol_prompts[1])
    assert len(metrics.inter_token_latencies) == metrics.completion_tokens - 1
    assert 0 <= metrics.queue_time < metrics.ttft <= metrics.duration and metrics.compute_seconds > 0
    streams = staggered(engine, smol_prompts)
    assert [tokens(s) for s in streams] == smol_reference
    assert all(s.metrics.compute_seconds > 0 for s in streams)
    assert [s.metrics.finish_reasons for s in streams] == [["length" if len(r) == NEW_TOKENS else "stop"]
                                                           for r in smol_reference]
    assert_pool_empty(engine)


def test_greedy_matches_under_preemption(engine_factory: Any, smol_prompts: list[list[int]],
                                         smol_reference: list[list[int]], smollm2_model: Any) -> None:
    from engine.model_runner import ModelRunner
    block_bytes = ModelRunner.kv_bytes_per_block(smollm2_model, 16)
    engine = engine_factory(kv_cache_bytes=6 * block_bytes)          # 96 token slots for 9 requests
    streams = staggered(engine, smol_prompts)
    assert [tokens(s) for s in streams] == smol_reference
    assert engine.stats().preemptions_total > 0
    assert sum(s.metrics.preemptions for s in streams) == engine.stats().preemptions_total
    assert_pool_empty(engine)


def test_greedy_matches_with_chunked_prefill(engine_factory: Any, smol_prompts: list[list[int]],
                                            smol_reference: list[list[int]]) -> None:
    engine = engine_factory(max_num_batched_tokens=8, max_num_seqs=8)
    picks = [0, 7, 4, 1]
    assert len(smol_prompts[7]) > 2 * 8                 # its prefill spans at least three steps
    streams = staggered(engine, [smol_prompts[i] for i in picks])
    assert [tokens(s) for s in streams] == [smol_reference[i] for i in picks]
    assert_pool_empty(engine)


def test_gemma3_greedy_matches_transformers(engine_factory: Any, gemma3_model: Any, gemma3_hf: tuple[Any, Any]) -> None:
    prompts = [encode(gemma3_model.tokenizer, t) for t in TEXTS[:4]]
    reference = hf_greedy(gemma3_hf, prompts, 6, gemma3_model.eos_token_ids)
    engine = engine_factory(gemma3_model)
    params = SamplingParams(max_tokens=6, temperature=0.0)
    assert tokens(engine.submit(prompts[0], params)) == reference[0]
    assert [tokens(s) for s in staggered(engine, prompts, params)] == reference


def test_blocks_all_free_after_aborts_and_completions(engine_factory: Any, smol_prompts: list[list[int]]) -> None:
    engine = engine_factory(max_num_seqs=4)
    long = SamplingParams(max_tokens=200, temperature=0.0, ignore_eos=True)
    streams = [engine.submit(p, long if i % 2 else GREEDY) for i, p in enumerate(smol_prompts)]
    next(iter(streams[1]))                          # running when aborted
    for stream in streams[1::2]:
        stream.abort()                              # the later ones are still waiting
    outputs = [s.collect()[0] for s in streams]
    assert [o.finish_reason for o in outputs[1::2]] == ["abort"] * 4
    assert all(o.finish_reason in ("length", "stop") for o in outputs[::2])
    assert all(len(o.token_ids) < 200 for o in outputs[1::2])
    assert streams[1].metrics.finish_reasons == ["abort"]
    assert_pool_empty(engine)


def test_the_live_slo_view_counts_a_request_once_its_stream_ends(engine_factory: Any,
                                                                 smol_prompts: list[list[int]]) -> None:
    """Recorded before the stream closes: a reader who has the whole response sees it counted;
    an aborted request is not counted."""
    engine = engine_factory()
    aborted = engine.submit(smol_prompts[1], SamplingParams(max_tokens=200, temperature=0.0, ignore_eos=True))
    next(iter(aborted))
    aborted.abort()
    aborted.collect()
    for done in range(1, 4):
        stream = engine.submit(smol_prompts[0], GREEDY)
        at_end: list[int] = []                             # the count when the stream closes
        stream.subscribe(lambda: at_end.append(engine.slo.live()["requests"]) if stream.finished else None)
        stream.collect()
        assert at_end == [done]


def test_seeded_sampling_same_text_alone_and_in_a_crowd(engine_factory: Any, smol_prompts: list[list[int]]) -> None:
    engine = engine_factory()
    seeded = SamplingParams(max_tokens=12, temperature=0.9, top_p=0.95, seed=1234, ignore_eos=True)
    alone = engine.submit(smol_prompts[0], seeded).collect()[0]
    crowd = [engine.submit(p, SamplingParams(max_tokens=12, temperature=1.0)) for p in smol_prompts[1:5]]
    in_crowd = engine.submit(smol_prompts[0], seeded).collect()[0]
    for stream in crowd:
        stream.collect()
    assert in_crowd.token_ids == alone.token_ids and in_crowd.text == alone.text
    other_seed = engine.submit(smol_prompts[0], SamplingParams(max_tokens=12, temperature=0.9, top_p=0.95,
                                                              seed=99, ignore_eos=True)).collect()[0]
    assert other_seed.token_ids != alone.token_ids


def test_n_choices_share_the_prompt(engine_factory: Any, smol_prompts: list[list[int]],
                                    smol_reference: list[list[int]]) -> None:
    engine = engine_factory()
    stream = engine.submit(smol_prompts[7], SamplingParams(max_tokens=NEW_TOKENS, temperature=0.0, n=3))
    choices = stream.collect()
    assert [c.token_ids for c in choices] == [smol_reference[7]] * 3
    assert stream.metrics.completion_tokens == 3 * len(smol_reference[7])
    assert engine.stats().cache.hits_tokens == 2 * (len(smol_prompts[7]) // 16 * 16)


def test_submit_rejects_bad_requests_at_once(engine_factory: Any, smollm2_model: Any) -> None:
    engine = engine_factory()
    with pytest.raises(ContextLengthExceeded):
        engine.submit([1] * 10, SamplingParams(max_tokens=engine.max_model_len))
    with pytest.raises(InvalidParameter, match="prompt"):
        engine.submit([], GREEDY)
    with pytest.raises(InvalidParameter, match="vocabulary"):
        engine.submit([1, 10**9], GREEDY)
    engine.shutdown()
    with pytest.raises(EngineStopped):
        engine.submit([1, 2], GREEDY)


def test_queue_full_when_waiting_is_at_the_limit(engine_factory: Any, smol_prompts: list[list[int]]) -> None:
    engine = engine_factory(max_num_seqs=1, max_num_batched_tokens=64, max_waiting=2)
    busy = SamplingParams(max_tokens=400, temperature=0.0, ignore_eos=True)
    running = engine.submit(smol_prompts[0], busy)
    next(iter(running))
    queued = [engine.submit(p, busy) for p in smol_prompts[1:3]]
    with pytest.raises(QueueFull):
        engine.submit(smol_prompts[3], busy)
    for stream in [running] + queued:
        stream.abort()
        assert stream.collect()[0].finish_reason == "abort"
    assert engine.stats().waiting == 0


def test_a_failing_step_fails_only_its_requests(engine_factory: Any, smol_prompts: list[list[int]],
                                                smol_reference: list[list[int]]) -> None:
    engine = engine_factory()
    poison = 31337
    real_forward = engine.runner.forward
    failed = threading.Event()

    def forward(batch: Any) -> torch.Tensor:
        if any(poison in ids for ids in batch.token_ids):
            failed.set()
            raise RuntimeError("device fault")
        return real_forward(batch)

    engine.runner.forward = forward
    bad = engine.submit(smol_prompts[3] + [poison], GREEDY)
    assert bad.collect()[0].finish_reason == "error" and failed.is_set()
    assert tokens(engine.submit(smol_prompts[2], GREEDY)) == smol_reference[2]
    assert_pool_empty(engine)
