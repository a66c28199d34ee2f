"""Turns a batch of logits into tokens with each sequence's SamplingParams (OpenAI semantics).

The batch is processed with tensor operations over all rows at once. The common case (every
row greedy, no penalties, no logprobs) is a single argmax. Random draws use the
exponential-race trick: argmax(p / E) with E ~ Exp(1) is a sample from p. A seeded row draws
its E from its own generator, so its tokens do not depend on the other rows in the batch;
unseeded rows share one draw from the default generator.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.sampling_params import SamplingParams


@dataclass(slots=True)
class SamplingContext:
    params: SamplingParams
    generator: torch.Generator | None = None     # set for seeded sequences
    output_token_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class SampledToken:
    token_id: int
    logprob: float | None = None                 # of the chosen token; None unless logprobs asked
    top: list[tuple[int, float]] = field(default_factory=list)   # (token_id, logprob), best first


class Sampler:
    """Samples one token per row of `logits` ([num_seqs, vocab], float32).

    Logprobs are those of the raw model logits (log_softmax before penalties, temperature,
    top-k and top-p), as OpenAI reports them.
    """

    def sample(self, logits: torch.Tensor, contexts: list[SamplingContext]) -> list[SampledToken]:
        if len(contexts) != logits.shape[0]:
            raise ValueError(f"{logits.shape[0]} rows of logits for {len(contexts)} sampling contexts")
        if all(_plain_greedy(c.params) for c in contexts):
            return [SampledToken(t) for t in logits.argmax(dim=-1).tolist()]
        raw_logprobs = _raw_logprobs(logits, contexts)
        logits = _apply_penalties(logits, contexts)
        token_ids = _choose(logits, contexts)
        return _package(token_ids, raw_logprobs, contexts)


def _plain_greedy(params: SamplingParams) -> bool:
    return (params.temperature == 0.0 and params.logprobs is None
            and params.presence_penalty == 0.0 and params.frequency_penalty == 0.0)


def _raw_logprobs(logits: torch.Tensor, contexts: list[SamplingContext]) -> torch.Tensor | None:
    if all(c.params.logprobs is None for c in contexts):
        return None
    return torch.log_softmax(logits.float(), dim=-1)


def _apply_penalties(logits: torch.Tensor, contexts: list[SamplingContext]) -> torch.Tensor:
    """OpenAI: logit[j] -= count[j] * frequency_penalty + (count[j] > 0) * presence_penalty,
    counting the sequence's output tokens only."""
    rows = [i for i, c in enumerate(contexts)
            if (c.params.presence_penalty or c.params.frequency_penalty) and c.output_token_ids]
    if not rows:
        return logits
    longest = max(len(contexts[i].output_token_ids) for i in rows)
    ids = torch.zeros(len(rows), longest, dtype=torch.long)
    ones = torch.zeros(len(rows), longest, dtype=logits.dtype)
    for r, i in enumerate(rows):
        out = contexts[i].output_token_ids
        ids[r, :len(out)] = torch.tensor(out, dtype=torch.long)
        ones[r, :len(out)] = 1.0
    counts = torch.zeros(len(rows), logits.shape[1], dtype=logits.dtype, device=logits.device)
    counts.scatter_add_(1, ids.to(logits.device), ones.to(logits.device))
    freq = _column([contexts[i].params.frequency_penalty for i in rows], logits)
    presence = _column([contexts[i].params.presence_penalty for i in rows], logits)
    logits = logits.clone()
    index = torch.tensor(rows, device=logits.device)
    logits[index] -= counts * freq + (counts > 0).to(logits.dtype) * presence
    return logits


def _column(values: list[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device).unsqueeze(1)


def _choose(logits: torch.Tensor, contexts: list[SamplingContext]) -> torch.Tensor:
    greedy = logits.argmax(dim=-1)
    sampled_rows = [i for i, c in enumerate(contexts) if not c.params.greedy]
    if not sampled_rows:
        return greedy
    index = torch.tensor(sampled_rows, device=logits.device)
    picked = [contexts[i] for i in sampled_rows]
    probs = _filtered_probs(logits[index].float(), picked)
    greedy[index] = (probs / _exponentials(probs, picked)).argmax(dim=-1)
    return greedy


def _filtered_probs(logits: torch.Tensor, contexts: list[SamplingContext]) -> torch.Tensor:
    """Temperature, then top-k and top-p as one mask over the sorted logits."""
    logits = logits / _column([c.params.temperature for c in contexts], logits)
    top_k = [c.params.top_k for c in contexts]
    top_p = [c.params.top_p for c in contexts]
    if all(k == 0 for k in top_k) and all(p >= 1.0 for p in top_p):
        return torch.softmax(logits, dim=-1)
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    vocab = logits.shape[1]
    ks = torch.tensor([k if 0 < k < vocab else vocab for k in top_k], device=logits.device)
    ranks = torch.arange(vocab, device=logits.device).unsqueeze(0)
    drop = ranks >= ks.unsqueeze(1)
    sorted_probs = torch.softmax(sorted_logits.masked_fill(drop, float("-inf")), dim=-1)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
    cut = [p if p < 1.0 else 2.0 for p in top_p]            # 2.0: never cut, whatever the rounding
    drop |= mass_before >= _column(cut, sorted_probs)       # keeps the smallest set reaching top_p
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    filtered = torch.empty_like(logits).scatter_(1, order, sorted_logits)
    return torch.softmax(filtered, dim=-1)


def _exponentials(probs: torch.Tensor, contexts: list[SamplingContext]) -> torch.Tensor:
    noise = torch.empty_like(probs).exponential_()
    for row, ctx in enumerate(contexts):
        if ctx.generator is not None:
            own = torch.empty(probs.shape[1], device=ctx.generator.device)
            noise[row] = own.exponential_(generator=ctx.generator).to(probs.device)
    return noise


def _package(token_ids: torch.Tensor, raw_logprobs: torch.Tensor | None,
             contexts: list[SamplingContext]) -> list[SampledToken]:
    ids = token_ids.tolist()
    if raw_logprobs is None:
        return [SampledToken(t) for t in ids]
    chosen = raw_logprobs.gather(1, token_ids.unsqueeze(1)).squeeze(1).tolist()
    k = max(c.params.logprobs or 0 for c in contexts)
    top_values, top_ids = raw_logprobs.topk(k, dim=-1) if k else (None, None)
    top_values = top_values.tolist() if k else None
    top_ids = top_ids.tolist() if k else None
    tokens = []
    for row, (ctx, token) in enumerate(zip(contexts, ids)):
        wanted = ctx.params.logprobs
        if wanted is None:
            tokens.append(SampledToken(token))
            continue
        top = list(zip(top_ids[row][:wanted], top_values[row][:wanted])) if wanted else []
        tokens.append(SampledToken(token, chosen[row], top))
    return tokens
