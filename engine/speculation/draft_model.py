"""The drafting model of `self` and `draft` speculation: which weights, and whether they may draft.

A draft token is only a guess the target verifies, so any model that speaks the target's token
ids is safe to draft with; one that does not is useless (every guess is a different token) and
is refused at load, naming both tokenizers. `self` loads the served model's own file at a
cheaper precision (int8 on CPU); `draft` loads a separate, smaller model.
"""
from __future__ import annotations

from pathlib import Path

from engine.errors import InvalidParameter
from engine.loader import LoadedModel, load_model
from engine.speculation.config import SpeculationConfig


def load_draft(target: LoadedModel, config: SpeculationConfig) -> LoadedModel | None:
    """The model that drafts for `target` under `config`, or None when no model drafts."""
    if not config.uses_model:
        return None
    path = target.path if config.method == "self" else Path(config.draft_model)
    draft = load_model(path, device=str(target.device), precision=config.draft_precision,
                       name=f"{target.name}-draft-{config.draft_precision}")
    check_tokenizers(target, draft)
    return draft


def same_drafter(before: SpeculationConfig, after: SpeculationConfig) -> bool:
    """Whether after drafts with the model before loaded (so it need not load again)."""
    return (before.uses_model and after.uses_model and before.method == after.method
            and before.draft_model == after.draft_model and before.draft_precision == after.draft_precision)


def check_tokenizers(target: LoadedModel, draft: LoadedModel) -> None:
    """Raise InvalidParameter unless draft maps text to the same token ids as target."""
    problem = _tokenizer_difference(target, draft)
    if problem:
        raise InvalidParameter("draft_model", f"the draft model's tokenizer ({_describe(draft)}) is not the served "
                                              f"model's ({_describe(target)}): {problem}")


def _tokenizer_difference(target: LoadedModel, draft: LoadedModel) -> str:
    target_vocab, draft_vocab = target.tokenizer.get_vocab(), draft.tokenizer.get_vocab()
    if len(target_vocab) != len(draft_vocab):
        return f"{len(draft_vocab)} tokens against {len(target_vocab)}"
    differing = sum(1 for token, i in target_vocab.items() if draft_vocab.get(token) != i)
    if differing:
        return f"{differing} of {len(target_vocab)} tokens have other ids"
    if set(target.eos_token_ids) != set(draft.eos_token_ids):
        return f"end-of-sequence ids {sorted(draft.eos_token_ids)} against {sorted(target.eos_token_ids)}"
    return ""


def _describe(model: LoadedModel) -> str:
    return f"{model.path.name}, {len(model.tokenizer)} tokens"
