"""Sampler: OpenAI semantics over a batch of logits."""
from __future__ import annotations

import math

import pytest
import torch

from engine.sampler import Sampler, SamplingContext
from engine.sampling_params import SamplingParams

VOCAB = 50


def ctx(seed: int | None = None, output: list[int] | None = None, **params) -> SamplingContext:
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return SamplingContext(SamplingParams(seed=seed, **params), generator, output or [])


def random_logits(rows: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, VOCAB, generator=torch.Generator().manual_seed(seed)) * 3


def test_greedy_is_argmax_and_leaves_the_default_generator_alone() -> None:
    logits = random_logits(8)
    state = torch.get_rng_state()
    tokens = Sampler().sample(logits, [ctx(temperature=0.0) for _ in range(8)])
    assert [t.token_id for t in tokens] == logits.argmax(-1).tolist()
    assert all(t.logprob is None and t.top == [] for t in tokens)
    assert torch.equal(state, torch.get_rng_state())


def test_greedy_rows_stay_argmax_beside_sampled_rows() -> None:
    logits = random_logits(6)
    contexts = [ctx(temperature=0.0 if i % 2 == 0 else 1.5) for i in range(6)]
    tokens = Sampler().sample(logits, contexts)
    assert [tokens[i].token_id for i in (0, 2, 4)] == logits.argmax(-1)[[0, 2, 4]].tolist()


def seeded_stream(seed: int, crowd: int, steps: int = 20) -> list[int]:
    """Tokens of one seeded row over `steps` steps, placed among `crowd` other rows."""
    sampler, mine = Sampler(), ctx(seed=seed, temperature=1.0, top_p=0.9)
    others = [ctx(seed=100 + i if i % 2 else None, temperature=1.2) for i in range(crowd)]
    out = []
    for step in range(steps):
        logits = random_logits(crowd + 1, seed=step)
        logits[crowd // 2] = random_logits(1, seed=1000 + step)[0]    # my row's logits, fixed per step
        contexts = others[:crowd // 2] + [mine] + others[crowd // 2:]
        out.append(sampler.sample(logits, contexts)[crowd // 2].token_id)
    return out


def test_a_seed_gives_the_same_tokens_alone_and_in_a_crowd() -> None:
    alone = seeded_stream(seed=7, crowd=0)
    assert seeded_stream(seed=7, crowd=9) == alone
    assert seeded_stream(seed=7, crowd=3) == alone
    assert seeded_stream(seed=8, crowd=0) != alone


def frequencies(probs: list[float], draws: int = 20000, **params) -> torch.Tensor:
    logits = torch.tensor(probs).log().expand(draws, -1).contiguous()
    tokens = Sampler().sample(logits, [ctx(**params) for _ in range(draws)])
    counts = torch.bincount(torch.tensor([t.token_id for t in tokens]), minlength=len(probs))
    return counts.float() / draws


def test_temperature_one_samples_the_softmax_distribution() -> None:
    probs = [0.5, 0.25, 0.15, 0.1]
    observed = frequencies(probs, temperature=1.0)
    assert torch.allclose(observed, torch.tensor(probs), atol=0.015)


def test_temperature_sharpens_the_distribution() -> None:
    probs = torch.tensor([0.5, 0.25, 0.15, 0.1])
    expected = torch.softmax(probs.log() / 0.5, dim=0)
    assert torch.allclose(frequencies(probs.tolist(), temperature=0.5), expected, atol=0.015)


def test_top_k_keeps_only_the_k_most_likely() -> None:
    observed = frequencies([0.4, 0.3, 0.2, 0.1], temperature=1.0, top_k=2)
    assert observed[2:].sum() == 0
    assert torch.allclose(observed[:2], torch.tensor([4 / 7, 3 / 7]), atol=0.02)


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    observed = frequencies([0.5, 0.3, 0.15, 0.05], temperature=1.0, top_p=0.7)
    assert observed[2:].sum() == 0
    assert torch.allclose(observed[:2], torch.tensor([0.625, 0.375]), atol=0.02)
    assert frequencies([0.5, 0.3, 0.15, 0.05], temperature=1.0, top_p=0.5)[0] == 1.0


def test_rows_with_different_top_k_and_top_p_in_one_batch() -> None:
    logits = torch.tensor([0.4, 0.3, 0.2, 0.1]).log().expand(3000, -1).contiguous()
    contexts = [ctx(temperature=1.0, top_k=1), ctx(temperature=1.0, top_p=0.45), ctx(temperature=1.0)] * 1000
    tokens = [t.token_id for t in Sampler().sample(logits, contexts)]
    assert set(tokens[0::3]) == {0} and set(tokens[1::3]) == {0, 1}
    assert set(tokens[2::3]) == {0, 1, 2, 3}


def test_frequency_and_presence_penalties_follow_openai() -> None:
    logits = torch.tensor([[5.0, 4.5, 4.0, 0.0]])
    sampler = Sampler()
    # token 0 appeared 3 times: 5 - 3 * 0.2 = 4.4 < 4.5, so token 1 wins
    freq = sampler.sample(logits, [ctx(temperature=0.0, frequency_penalty=0.2, output=[0, 0, 0])])
    assert freq[0].token_id == 1
    # presence counts once: 5 - 0.4 = 4.6 > 4.5, token 0 still wins; 5 - 0.6 = 4.4 loses
    assert sampler.sample(logits, [ctx(temperature=0.0, presence_penalty=0.4, output=[0, 0, 0])])[0].token_id == 0
    assert sampler.sample(logits, [ctx(temperature=0.0, presence_penalty=0.6, output=[0])])[0].token_id == 1
    # a negative penalty encourages repetition
    assert sampler.sample(logits, [ctx(temperature=0.0, frequency_penalty=-2.0, output=[3, 3, 3])])[0].token_id == 3


def test_penalties_touch_only_their_own_row() -> None:
    logits = torch.tensor([[5.0, 4.5, 0.0], [5.0, 4.5, 0.0]])
    tokens = Sampler().sample(logits, [ctx(temperature=0.0, frequency_penalty=2.0, output=[0]),
                                       ctx(temperature=0.0, output=[0])])
    assert [t.token_id for t in tokens] == [1, 0]


def test_logprobs_are_those_of_the_raw_logits() -> None:
    logits = random_logits(3)
    raw = torch.log_softmax(logits, dim=-1)
    contexts = [ctx(temperature=0.7, logprobs=5, frequency_penalty=1.0, output=[1, 2]),
                ctx(temperature=0.0, logprobs=0), ctx(temperature=0.0)]
    tokens = Sampler().sample(logits, contexts)
    for row, token in enumerate(tokens[:2]):
        assert math.isclose(token.logprob, raw[row, token.token_id].item(), rel_tol=1e-5)
    best = raw[0].topk(5)
    assert [t for t, _ in tokens[0].top] == best.indices.tolist()
    assert [v for _, v in tokens[0].top] == pytest.approx(best.values.tolist(), rel=1e-5)
    assert tokens[1].top == [] and tokens[1].logprob is not None
    assert tokens[2].logprob is None and tokens[2].top == []


def test_more_contexts_than_rows_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="2 rows of logits for 3 sampling contexts"):
        Sampler().sample(random_logits(2), [ctx(), ctx(), ctx()])


def test_a_nucleus_wider_than_the_candidates_is_still_exact() -> None:
    vocab, rows = 2000, 3000
    logits = torch.linspace(0.0, -1.0, vocab).expand(rows, -1).contiguous()   # nearly flat, token 0 best
    probs = torch.softmax(logits[0], dim=0)
    nucleus = int((probs.cumsum(0) - probs < 0.5).sum())                      # reference: about 850 tokens
    tokens = [t.token_id for t in Sampler().sample(logits, [ctx(temperature=1.0, top_p=0.5)] * rows)]
    assert nucleus > 256 and max(tokens) < nucleus
    assert len(set(tokens)) > 256                                             # past the first candidates
    mixed = Sampler().sample(logits[:2], [ctx(temperature=1.0, top_p=0.5), ctx(temperature=1.0, top_k=3)])
    assert mixed[0].token_id < nucleus and mixed[1].token_id < 3
