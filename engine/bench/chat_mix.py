"""A realistic chat workload for the sweep: prompts of mixed length, optionally behind one shared
system prompt, and output lengths that vary from request to request.

Request i always gets the same prompt and length, so two sweeps of one model are comparable.
Lengths cycle short, short, medium, long: most chat turns are short, some carry a document.
"""
from __future__ import annotations

from typing import Any

from engine.bench.workload import FILLER, QUESTIONS

SYSTEM_PROMPT = ("You are the internal assistant of a regional utility. Answer precisely and briefly, "
                 "cite the maintenance manual where it applies, never invent figures, say when you do "
                 "not know, and keep customer data confidential. Use plain language and short "
                 "paragraphs; use lists for steps. ")
_DOCUMENT_REPEATS = (0, 0, 2, 6)             # FILLER paragraphs (~45 tokens each) per request kind


def chat_mix_prompts(tokenizer: Any, count: int, system_prompt: bool = False) -> list[list[int]]:
    return [mixed_prompt(tokenizer, i, system_prompt) for i in range(count)]


def mixed_prompt(tokenizer: Any, i: int, system_prompt: bool) -> list[int]:
    document = FILLER * _DOCUMENT_REPEATS[i % len(_DOCUMENT_REPEATS)]
    question = f"Ticket {i + 1}: {QUESTIONS[i % len(QUESTIONS)]}"
    content = f"{document}\n\n{question}" if document else question
    messages = ([{"role": "system", "content": SYSTEM_PROMPT}] if system_prompt else []) + \
        [{"role": "user", "content": content}]
    if tokenizer.chat_template is None:
        return tokenizer.encode((SYSTEM_PROMPT if system_prompt else "") + content)
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                              return_dict=False))


def output_lengths(max_tokens: int, count: int) -> list[int]:
    """Per request: max_tokens, half, three quarters, a quarter (at least 4), cycling."""
    shares = (1.0, 0.5, 0.75, 0.25)
    return [max(4, int(max_tokens * shares[i % len(shares)])) for i in range(count)]
