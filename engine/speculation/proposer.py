"""What a drafter does: given a sequence's tokens, guess up to k next tokens."""
from __future__ import annotations

from typing import Protocol


class Proposer(Protocol):
    def propose(self, token_ids: list[int], k: int) -> list[int]:
        """At most k tokens likely to follow token_ids; [] when there is no good guess.

        A proposer returns one token per position (a point guess), so verification can accept
        a draft token exactly when the target's own choice at that position equals it."""
        ...
