"""Verification: which draft tokens the target model accepts, by its own sampling rule.

Each of a sequence's 1 + d verified positions is sampled exactly as a normal step would sample
it there (same sampler, same parameters; penalties see the drafts before the position as
output). Draft token j is accepted when the target's token at its position equals it; the
first position that differs gives the target's token instead, and if all d match, position
d gives one more (the bonus token). So a step yields between 1 and d + 1 tokens.

Greedy: every token is the argmax the target would produce without speculation.
Sampled: for a point guess t (a drafter proposing one token per position), this is standard
speculative rejection sampling: accepting when the target's sample x equals t has
probability p(t), the rejection rule min(1, p(t) / q(t)) with q one-hot; on rejection x
follows p restricted to tokens other than t, the normalised residual max(0, p - q). The
output is distributed exactly as the target's. A seeded sequence's generator is rewound to
where it would be after the tokens actually kept, so it draws one uniform per output token,
as without speculation, and its text does not depend on whether (or how much) it drafted.
"""
from __future__ import annotations

import torch

from engine.sampler import SampledToken, SamplingContext, Sampler


def verify(sampler: Sampler, logits: torch.Tensor,
           groups: list[tuple[SamplingContext, list[int]]]) -> list[list[SampledToken]]:
    """Tokens kept per sequence. groups: (context, drafts) per sequence; logits: 1 + len(drafts)
    rows per group, in order."""
    contexts = [row for ctx, drafts in groups for row in _row_contexts(ctx, drafts)]
    states = [_generator_state(ctx, drafts) for ctx, drafts in groups]
    sampled = sampler.sample(logits, contexts)
    kept, row = [], 0
    for (ctx, drafts), state in zip(groups, states):
        chosen = sampled[row:row + 1 + len(drafts)]
        row += 1 + len(drafts)
        tokens = chosen[:accepted_length(chosen, drafts) + 1]
        if state is not None:
            _rewind(ctx.generator, state, len(tokens))
        kept.append(tokens)
    return kept


def accepted_length(chosen: list[SampledToken], drafts: list[int]) -> int:
    """How many leading draft tokens equal the target's choices."""
    for j, draft in enumerate(drafts):
        if chosen[j].token_id != draft:
            return j
    return len(drafts)


def _row_contexts(ctx: SamplingContext, drafts: list[int]) -> list[SamplingContext]:
    """One context per verified position; penalties need the drafts before it as output."""
    params = ctx.params
    if not drafts or not (params.presence_penalty or params.frequency_penalty):
        return [ctx] * (1 + len(drafts))
    return [SamplingContext(params, ctx.generator, ctx.output_token_ids + drafts[:j]) for j in range(len(drafts) + 1)]


def _generator_state(ctx: SamplingContext, drafts: list[int]) -> torch.Tensor | None:
    if not drafts or ctx.generator is None or ctx.params.greedy:
        return None
    return ctx.generator.get_state()


def _rewind(generator: torch.Generator, state: torch.Tensor, draws: int) -> None:
    """Back to `state`, then the draws of `draws` sampled tokens (one uniform each, as the sampler draws)."""
    generator.set_state(state)
    for _ in range(draws):
        torch.rand(1, device=generator.device, generator=generator)
