"""Speculative decoding on the real SmolLM2: the output is the model's own, drafts or not.

Greedy and seeded requests give the same tokens with prompt-lookup or int8 self-drafts as
without, alone and mixed in one batch with requests that do not draft; stop strings, max_tokens, logprobs and
abort behave the same; sampled verification follows the target's distribution (chi-square).
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest
import torch

from engine.config import EngineConfig
from engine.llm_engine import Engine
from engine.sampler import SamplingContext, Sampler
from engine.sampling_params import SamplingParams
from engine.speculation import SpeculationConfig
from engine.speculation.verifier import verify

PASSAGE = ("The river town of Alder Bend sits where two valleys meet. Its mill, built in 1852, ground grain "
           "for farms across the county until the railway arrived. Today the mill is a museum, the old "
           "station is a library, and the bridge over the river carries only bicycles and walkers. Every "
           "autumn the town holds a harvest fair with music, bread from the mill's restored stones, and a "
           "race of small wooden boats down the river to the bridge.")
NGRAM = SpeculationConfig(method="ngram", k=4, max_batch=16)
SELF_DRAFT = SpeculationConfig(method="self", k=4, max_batch=16)      # int8 weights draft, fp32 verifies
GREEDY = SamplingParams(max_tokens=40, temperature=0.0)


@pytest.fixture(scope="module")
def prompts(smollm2_model: Any) -> list[list[int]]:
    tok = smollm2_model.tokenizer
    texts = [f"Repeat this text exactly:\n\n{PASSAGE}", f"Rewrite this text in the same words:\n\n{PASSAGE}",
             "The three primary colors are"]
    return [tok.apply_chat_template([{"role": "user", "content": t}], add_generation_prompt=True, tokenize=True,
                                    return_dict=True)["input_ids"] for t in texts]


@pytest.fixture(scope="module")
def plain_engine(smollm2_model: Any) -> Iterator[Engine]:
    plain = Engine(smollm2_model, EngineConfig(kv_cache_bytes=32 * 2**20))
    yield plain
    plain.shutdown()


@pytest.fixture(scope="module", params=[NGRAM, SELF_DRAFT], ids=["ngram", "self-int8"])
def engines(smollm2_model: Any, plain_engine: Engine, request: pytest.FixtureRequest) -> Iterator[tuple[Engine, Engine]]:
    drafting = Engine(smollm2_model, EngineConfig(kv_cache_bytes=32 * 2**20, speculation=request.param))
    yield plain_engine, drafting
    drafting.shutdown()


def test_greedy_and_seeded_output_identical_alone_and_in_a_mixed_batch(engines: tuple[Engine, Engine],
                                                                       prompts: list[list[int]]) -> None:
    plain, drafting = engines
    seeded = SamplingParams(max_tokens=24, temperature=0.8, seed=7)
    requests = [(prompts[0], GREEDY), (prompts[1], GREEDY), (prompts[2], GREEDY), (prompts[0], seeded),
                (prompts[1], SamplingParams(max_tokens=40, temperature=0.0, speculative=False))]
    reference = [plain.submit(p, params).collect()[0].token_ids for p, params in requests]
    alone = drafting.submit(prompts[0], GREEDY)
    assert alone.collect()[0].token_ids == reference[0]
    assert alone.metrics.spec_accepted_tokens > 10 and alone.metrics.spec_drafts < 30   # it did speculate
    streams = [drafting.submit(p, params) for p, params in requests]
    assert [s.collect()[0].token_ids for s in streams] == reference
    assert streams[4].metrics.spec_draft_tokens == 0                        # opted out
    stats = drafting.stats()
    assert stats.spec_num_accepted_tokens > 0 and stats.spec_num_draft_tokens >= stats.spec_num_accepted_tokens
    assert stats.blocks_used == 0


def test_stop_strings_max_tokens_logprobs_and_abort_as_without_drafts(engines: tuple[Engine, Engine],
                                                                      prompts: list[list[int]]) -> None:
    plain, drafting = engines
    full = plain.submit(prompts[0], GREEDY).collect()[0].text
    stop = full[len(full) // 2:len(full) // 2 + 6]                         # somewhere inside a copied run
    for params in (SamplingParams(max_tokens=40, temperature=0.0, stop=[stop]),
                   SamplingParams(max_tokens=40, temperature=0.0, stop=[stop], include_stop_str_in_output=True),
                   SamplingParams(max_tokens=17, temperature=0.0, logprobs=2)):
        want, got = plain.submit(prompts[0], params), drafting.submit(prompts[0], params)
        a, b = want.collect()[0], got.collect()[0]
        assert (b.text, b.token_ids, b.finish_reason) == (a.text, a.token_ids, a.finish_reason)
        assert got.metrics.completion_tokens == want.metrics.completion_tokens == len(a.token_ids)
        assert got.metrics.spec_draft_tokens > 0
        if params.logprobs:
            for x, y in zip(a.logprobs, b.logprobs):
                assert x.token == y.token and x.logprob == pytest.approx(y.logprob, abs=1e-3)
                assert [t for t, _, _ in x.top] == [t for t, _, _ in y.top]
    stream = drafting.submit(prompts[0], SamplingParams(max_tokens=200, temperature=0.0))
    for _ in stream.deltas(timeout=None):
        stream.abort()
        break
    out = stream.collect()
    assert stream.metrics.finish_reasons == ["abort"] and len(out[0].token_ids) < 200
    assert drafting.stats().blocks_used == 0


def _chi_square_p(observed: torch.Tensor, expected: torch.Tensor) -> float:
    """p-value of Pearson's test of observed counts against expected counts (categories >= 5 expected)."""
    statistic = float(((observed - expected) ** 2 / expected).sum())
    dof = observed.numel() - 1
    return float(torch.special.gammaincc(torch.tensor(dof / 2), torch.tensor(statistic / 2)))


@pytest.mark.parametrize("params", [SamplingParams(temperature=1.0), SamplingParams(temperature=0.7, top_p=0.9)])
def test_rejection_sampling_keeps_the_target_distribution(smollm2_model: Any, params: SamplingParams) -> None:
    """Verification with a draft at one position gives that position's token with the target's own
    distribution: compared with the non-speculative sampler on the same logits, and with the exact one."""
    engine = Engine(smollm2_model, EngineConfig(kv_cache_bytes=8 * 2**20))
    from engine.model_runner import ForwardBatch
    ids = smollm2_model.tokenizer("My favourite programming language is")["input_ids"]
    engine.block_manager.ensure(seq := _Seq(), len(ids))
    logits = engine.runner.forward(ForwardBatch([ids], [0], [seq.block_table]))   # [1, vocab]
    engine.shutdown()
    probs = torch.softmax(logits[0] / params.temperature, dim=-1)
    draft = int((probs - 0.5).abs().argmin())                # as likely as not: accepted and rejected often
    torch.manual_seed(0)
    trials, chunk, sampler = 2000, 200, Sampler()
    kept, plain_ids = [], []
    for _ in range(trials // chunk):                        # bounded memory: chunk x vocab rows at a time
        kept += verify(sampler, logits.expand(2 * chunk, -1), [(SamplingContext(params), [draft])] * chunk)
        plain_ids += [t.token_id for t in sampler.sample(logits.expand(chunk, -1), [SamplingContext(params)] * chunk)]
    spec = torch.bincount(torch.tensor([t[0].token_id for t in kept]), minlength=probs.numel()).float()
    plain = torch.bincount(torch.tensor(plain_ids), minlength=probs.numel()).float()
    top = plain.argsort(descending=True)[:8]
    top = top[plain[top] >= 20]
    pooled = (spec + plain)[top]
    table = torch.stack([torch.cat([spec[top], (trials - spec[top].sum()).view(1)]),
                         torch.cat([plain[top], (trials - plain[top].sum()).view(1)])])
    expected = table.sum(0, keepdim=True) * table.sum(1, keepdim=True) / table.sum()
    two_sample = float((((table - expected) ** 2) / expected).sum())
    dof = table.shape[1] - 1
    assert float(torch.special.gammaincc(torch.tensor(dof / 2), torch.tensor(two_sample / 2))) > 1e-3
    assert pooled.sum() > trials                            # the compared tokens carry most of the mass
    if params.top_p == 1.0:
        exact = probs[top] * trials
        observed = torch.cat([spec[top], (trials - spec[top].sum()).view(1)])
        assert _chi_square_p(observed, torch.cat([exact, (trials - exact.sum()).view(1)])) > 1e-3
    accepted, rate = sum(len(t) == 2 for t in kept) / trials, float(plain[draft]) / trials
    assert 0.1 < rate < 0.9 and abs(accepted - rate) < 5 * (2 * rate * (1 - rate) / trials) ** 0.5


class _Seq:
    def __init__(self) -> None:
        self.block_table: list[int] = []
