"""What a drafting model (speculation self or draft) takes: its file and its bytes of the budget.

The draft model of method draft is a model of the store, like any served model: its files are
verified before they load, and its config.json gives the planner its shape. Self-drafting
loads the served model's own file at draft_precision.
"""
from __future__ import annotations

from appliance.config import SpeculationSettings
from appliance.models.store import ModelStore
from engine import planner


def draft_path(store: ModelStore, settings: SpeculationSettings) -> str:
    """The verified file of settings.draft_model (method draft), else ""."""
    if settings.method != "draft":
        return ""
    if settings.draft_model not in store:
        raise ValueError(f"speculation.draft_model {settings.draft_model!r} is not a model in the store "
                         f"(`airlock models import` it first)")
    return str(store.get_verified(settings.draft_model).model_path)


def draft_request(store: ModelStore, settings: SpeculationSettings, device: str) -> planner.DraftRequest | None:
    """The planner's view of the drafting model, or None when no model drafts."""
    if settings.method not in ("self", "draft"):
        return None
    shape = None if settings.method == "self" else planner.ModelShape.from_config(store.get(settings.draft_model).config)
    return planner.DraftRequest(quantization=settings.draft_precision, shape=shape,
                                kv_dtype=planner.default_kv_dtype(settings.draft_precision, device))


def draft_bytes(store: ModelStore, settings: SpeculationSettings, device: str, shape: planner.ModelShape,
                kv_dtype: str, kv_cache_bytes: int) -> int:
    """Weights of the drafting model and its K/V beside a pool of kv_cache_bytes (same block count)."""
    draft = draft_request(store, settings, device)
    if draft is None:
        return 0
    draft_shape = draft.shape or shape
    kv = kv_cache_bytes * planner.kv_bytes_per_token(draft_shape, draft.kv_dtype) \
        // planner.kv_bytes_per_token(shape, kv_dtype)
    return planner.weight_bytes(draft_shape, draft.quantization, device) + kv
