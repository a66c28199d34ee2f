"""The fixed workloads: chat prompts (each distinct, of varied lengths) or one long raw prompt."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

QUESTIONS = [
    "Explain how a heat pump works.",
    "Write a short poem about the sea at night.",
    "What are the main causes of inflation, and how do central banks respond to them?",
    "Give me three tips for writing clean Python code.",
    "Summarize the plot of Romeo and Juliet in a few sentences.",
    "Why is the sky blue?",
    "Describe the water cycle for a ten-year-old, step by step, with an example from everyday life.",
    "What is the difference between a virus and a bacterium?",
    "List some good habits for a healthy sleep schedule.",
    "How do I make a simple tomato sauce?",
    "What is a hash table and why is lookup fast?",
    "Tell me a short story about a robot who learns to paint.",
    "Compare trains and planes for a 500 km trip: time, cost and emissions.",
    "What does a compiler do?",
    "Explain photosynthesis.",
    "Suggest a plan for learning to play the guitar in three months, week by week.",
]

FILLER = ("The committee reviewed the quarterly maintenance logs of the pumping station, noting "
          "the pressure readings, the replaced seals, the calibration of the flow meters and the "
          "schedule of the next inspection, and asked the operators to record every deviation. ")


@dataclass(slots=True, frozen=True)
class Scenario:
    name: str
    description: str
    requests: int                    # concurrent requests through the engine
    max_tokens: int                  # new tokens per request (EOS ignored, so exactly this many)
    prompt_tokens: int = 0           # 0: chat prompts; otherwise one raw prompt of this many tokens
    sequential_requests: int = 1     # `generate` one at a time is slow: fewer requests, same shape
    static_batch_requests: int = 0   # 0: no static-batch baseline (it would equal one at a time)
    continuous_requests: int = 1     # transformers' generate_batch

    @property
    def headline(self) -> str:
        """The figure the ratios compare: prompt throughput for prefill, output throughput otherwise."""
        return "prefill_tokens_per_s" if self.prompt_tokens else "output_tokens_per_s"

    def quick(self) -> Scenario:
        """The same scenario shrunk for tests: a few requests of a few tokens."""
        return replace(self, requests=min(self.requests, 4), max_tokens=min(self.max_tokens, 4),
                       prompt_tokens=min(self.prompt_tokens, 64), sequential_requests=1,
                       static_batch_requests=min(self.static_batch_requests, 4),
                       continuous_requests=min(self.continuous_requests, 4))


SCENARIOS = {s.name: s for s in [
    Scenario("single", "1 request x 128 new tokens", 1, 128),
    Scenario("c32", "32 concurrent requests x 128 new tokens", 32, 128,
             sequential_requests=4, static_batch_requests=32, continuous_requests=32),
    Scenario("c128", "128 concurrent requests x 128 new tokens", 128, 128,
             sequential_requests=4, static_batch_requests=128, continuous_requests=32),
    Scenario("prefill", "1 prompt of 1,300 tokens, max_tokens 1", 1, 1, prompt_tokens=1300),
]}


def build_prompts(tokenizer: Any, scenario: Scenario) -> list[list[int]]:
    """Token ids of every request's prompt; request i always gets the same prompt."""
    if scenario.prompt_tokens:
        return [long_prompt(tokenizer, scenario.prompt_tokens)]
    return [chat_prompt(tokenizer, i) for i in range(scenario.requests)]


def chat_prompt(tokenizer: Any, i: int) -> list[int]:
    """A distinct chat prompt (a numbered ticket), so no two requests share more than the template."""
    question = f"Ticket {i + 1}: {QUESTIONS[i % len(QUESTIONS)]}"
    messages = [{"role": "user", "content": question}]
    if tokenizer.chat_template is None:
        return tokenizer.encode(question)
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                              return_dict=False))


def long_prompt(tokenizer: Any, length: int) -> list[int]:
    ids: list[int] = []
    while len(ids) < length:
        ids += tokenizer.encode(FILLER, add_special_tokens=False)
    return ids[:length]
