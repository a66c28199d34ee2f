"""Incremental detokenization with the real SmolLM2 (byte-level BPE) and Gemma 3
(SentencePiece with byte fallback) tokenizers, and stop strings."""
from __future__ import annotations

import random

import pytest
from transformers import AutoTokenizer

from engine.detokenizer import IncrementalDetokenizer, StopMatcher

TEXTS = [
    "Hello world! The capital of France is Paris.",
    "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다.",
    "Party time 🎉🎉 with family 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵 ok",
    "naïve café — “quotes” and  double  spaces\n\n\tindented\n",
    "def f(x):\n    return x ** 2  # squares\n",
    "   leading spaces, trailing ones   ",
]


@pytest.fixture(scope="module", params=["smollm2", "gemma3"])
def tokenizer(request: pytest.FixtureRequest):
    path = request.getfixturevalue(f"{request.param}_path")
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def stream(tokenizer, prompt: list[int], output: list[int], skip_special: bool = True) -> list[str]:
    detok = IncrementalDetokenizer(tokenizer, prompt, skip_special_tokens=skip_special)
    deltas = [detok.add(t) for t in output]
    return deltas + [detok.flush()]


def chat_prompt(tokenizer) -> list[int]:
    if tokenizer.chat_template is None:
        return tokenizer.encode("Question: say something.\nAnswer:")
    return tokenizer.apply_chat_template([{"role": "user", "content": "Say something."}],
                                         add_generation_prompt=True, tokenize=True, return_dict=False)


@pytest.mark.parametrize("text", TEXTS)
def test_deltas_add_up_to_decode_and_never_split_a_character(tokenizer, text: str) -> None:
    output = tokenizer.encode(text, add_special_tokens=False)
    for prompt in ([], chat_prompt(tokenizer)):
        deltas = stream(tokenizer, prompt, output)
        assert "".join(deltas) == tokenizer.decode(output, skip_special_tokens=True)
        assert "".join(deltas) == text
        assert not any("\ufffd" in d for d in deltas)


def test_a_character_spread_over_byte_tokens_comes_out_whole(tokenizer) -> None:
    output = tokenizer.encode("🎉", add_special_tokens=False)
    deltas = stream(tokenizer, [], output)
    assert "🎉" in deltas
    if len(output) > 1:                          # byte pieces: the first ones emit nothing
        assert deltas[0] == ""


def test_special_tokens_are_skipped_or_kept(tokenizer) -> None:
    special = tokenizer.eos_token_id
    output = tokenizer.encode("Hi there", add_special_tokens=False) + [special]
    assert "".join(stream(tokenizer, [], output)) == "Hi there"
    kept = "".join(stream(tokenizer, [], output, skip_special=False))
    assert kept == "Hi there" + tokenizer.eos_token


def test_random_token_sequences_add_up_to_decode(tokenizer) -> None:
    """Any token sequence, valid UTF-8 or not, decodes to the same text incrementally."""
    rng = random.Random(0)
    vocab = len(tokenizer)
    for _ in range(30):
        output = [rng.randrange(vocab) for _ in range(rng.randrange(1, 40))]
        assert "".join(stream(tokenizer, [], output)) == tokenizer.decode(output, skip_special_tokens=True)


def test_stop_string_split_across_pieces_is_held_then_cut() -> None:
    matcher = StopMatcher(["###"])
    assert matcher.feed("Hello #") == ("Hello ", False)
    assert matcher.feed("#") == ("", False)
    assert matcher.feed("# rest") == ("", True)
    assert matcher.feed("more") == ("", True)
    assert matcher.flush() == ""


def test_a_false_start_is_released() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("ST") == ("", False)
    assert matcher.feed("ART here") == ("START here", False)
    assert matcher.feed(" and S") == (" and ", False)
    assert matcher.flush() == "S"


def test_include_stop_keeps_the_stop_string() -> None:
    matcher = StopMatcher(["\n\n"], include_stop=True)
    assert matcher.feed("line one\n") == ("line one", False)
    assert matcher.feed("\nline two") == ("\n\n", True)


def test_the_earliest_of_several_stops_wins() -> None:
    matcher = StopMatcher(["world", "lo w"])
    assert matcher.feed("hello world") == ("hel", True)


def test_no_stop_strings_passes_everything_through() -> None:
    matcher = StopMatcher([])
    assert matcher.feed("anything at all") == ("anything at all", False)
    assert matcher.flush() == ""


def test_stop_strings_with_streamed_tokens(tokenizer) -> None:
    text = "First answer.\nUser: second question"
    detok = IncrementalDetokenizer(tokenizer, [])
    matcher = StopMatcher(["\nUser:"])
    emitted, stopped = [], False
    for token in tokenizer.encode(text, add_special_tokens=False):
        piece, stopped = matcher.feed(detok.add(token))
        emitted.append(piece)
        if stopped:
            break
    assert stopped and "".join(emitted) == "First answer."


def test_empty_stop_string_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        StopMatcher([""])
