"""Incremental detokenization and stop strings for streamed output.

`IncrementalDetokenizer` keeps two offsets into the token list, as vLLM does: text is decoded
over a short window that starts a few tokens back (`prefix_offset`), and only what lies past
the text already emitted (`read_offset`) is new. A window whose text ends in U+FFFD is an
incomplete UTF-8 character (a byte-level BPE or byte-fallback token carrying part of an
emoji or CJK character), so nothing is emitted until the next token completes it. Decoding
with a little context keeps SentencePiece word-boundary spaces right.
"""
from __future__ import annotations

from typing import Any

_CONTEXT_TOKENS = 5      # prompt tokens decoded as context before the first output token
_REPLACEMENT = "\ufffd"


class IncrementalDetokenizer:
    def __init__(self, tokenizer: Any, prompt_token_ids: list[int], skip_special_tokens: bool = True) -> None:
        self._tokenizer = tokenizer
        self._skip_special = skip_special_tokens
        self._ids = list(prompt_token_ids[-_CONTEXT_TOKENS:])
        self._prefix_offset = 0
        self._read_offset = len(self._ids)

    def add(self, token_id: int) -> str:
        """Appends one token; returns the text it completes (possibly empty)."""
        self._ids.append(token_id)
        return self._advance(final=False)

    def flush(self) -> str:
        """Text still held back when the sequence ends (an incomplete character, as U+FFFD)."""
        return self._advance(final=True)

    def _advance(self, final: bool) -> str:
        prefix_text = self._decode(self._ids[self._prefix_offset:self._read_offset])
        full_text = self._decode(self._ids[self._prefix_offset:])
        if len(full_text) <= len(prefix_text) or (full_text.endswith(_REPLACEMENT) and not final):
            return ""
        self._prefix_offset = self._read_offset
        self._read_offset = len(self._ids)
        self._trim()
        return full_text[len(prefix_text):]

    def _trim(self) -> None:
        """Drops ids before the window so memory stays bounded on long outputs."""
        if self._prefix_offset > 64:
            del self._ids[:self._prefix_offset]
            self._read_offset -= self._prefix_offset
            self._prefix_offset = 0

    def _decode(self, ids: list[int]) -> str:
        if not ids:
            return ""
        return self._tokenizer.decode(ids, skip_special_tokens=self._skip_special,
                                      clean_up_tokenization_spaces=False)


class StopMatcher:
    """Finds stop strings in streamed text.

    `feed` returns the text that is safe to emit now: anything that could still be the start
    of a stop string is held back until the next piece settles it. On a match the output is
    cut at the stop string (or just after it with `include_stop`) and nothing more is emitted.
    """

    def __init__(self, stop: list[str], include_stop: bool = False) -> None:
        if any(not isinstance(s, str) or not s for s in stop):
            raise ValueError("stop strings must be non-empty strings")
        self._stop = list(stop)
        self._include = include_stop
        self._held = ""
        self._stopped = False
        self._hold = max((len(s) for s in stop), default=1) - 1

    @property
    def stopped(self) -> bool:
        return self._stopped

    def feed(self, text: str) -> tuple[str, bool]:
        if self._stopped:
            return "", True
        if not self._stop:
            return text, False
        buffer = self._held + text
        match = self._first_match(buffer)
        if match is not None:
            start, stop = match
            self._held, self._stopped = "", True
            return buffer[:start + len(stop) if self._include else start], True
        keep = self._partial_suffix(buffer)
        self._held = buffer[len(buffer) - keep:] if keep else ""
        return buffer[:len(buffer) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return "" if self._stopped else held

    def _first_match(self, buffer: str) -> tuple[int, str] | None:
        found = [(buffer.find(s), s) for s in self._stop]
        found = [(i, s) for i, s in found if i >= 0]
        return min(found, key=lambda m: (m[0], -len(m[1]))) if found else None

    def _partial_suffix(self, buffer: str) -> int:
        """Length of the longest suffix of `buffer` that is a proper prefix of a stop string."""
        for size in range(min(self._hold, len(buffer)), 0, -1):
            tail = buffer[-size:]
            if any(s.startswith(tail) for s in self._stop):
                return size
        return 0
