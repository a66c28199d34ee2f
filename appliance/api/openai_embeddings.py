"""POST /v1/embeddings through the appliance's sentence-embedding model.

Admitted like chat and completions: refused while draining, its tokens (known exactly before
the model runs) held against the key's rates and budget, and one ledger row per request.
"""
from __future__ import annotations

import base64
import secrets
import struct
import time
from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify

from appliance.api.bodies import EmbeddingRequest
from appliance.api.errors import ApiError, model_not_found
from appliance.api.guard import current_key, require_api_key
from appliance.api.jobs import reserve
from appliance.api.models_access import model_request
from appliance.auth.keys import ApiKey
from appliance.ledger.record import UsageRecord

bp = Blueprint("openai_embeddings", __name__)
bp.before_request(require_api_key)


@bp.post("/v1/embeddings")
def embeddings() -> Response:
    appliance, body, model = model_request(EmbeddingRequest)
    key = current_key()
    if key is not None and not key.allows(model):
        raise ApiError(403, f"API key '{key.spec.name}' may not use model '{model}'.", param="model",
                       code="model_not_allowed")
    embedder = appliance.embedder()
    if embedder is None or model != appliance.config.models.embedding_model:
        raise model_not_found(model, [appliance.config.models.embedding_model] if embedder else [])
    vectors, tokens = _run(appliance, key, model, body.texts)
    data = [{"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)} for i, v in enumerate(vectors)]
    return jsonify({"object": "list", "data": data, "model": model,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def _run(appliance, key: ApiKey | None, model: str, texts: list[str]) -> tuple[list[list[float]], int]:
    """Hold the tokens, embed, settle and queue the ledger row (one request per minute per call)."""
    tokens = appliance.embedding_model.count_tokens(texts)
    reservation = reserve(appliance, key, tokens, 1)
    arrival, started = time.time(), time.monotonic()
    try:
        vectors, _ = appliance.embed(texts)
    except BaseException:
        reservation.cancel()
        raise
    reservation.settle(tokens, tokens)
    seconds = time.monotonic() - started
    appliance.queue_usage(lambda: UsageRecord(
        request_id="emb-" + secrets.token_hex(12), created_at=datetime.fromtimestamp(arrival, UTC),
        key_id=key.id if key else None, key_name=key.spec.name[:200] if key else None,
        tenant=key.spec.tenant[:200] if key and key.spec.tenant else None, model=model, quantization="fp32",
        endpoint="embeddings", prompt_tokens=tokens, cached_tokens=0, completion_tokens=0, finish_reason="stop",
        queue_seconds=0.0, ttft_seconds=None, duration_seconds=seconds, compute_seconds=seconds))
    return vectors, tokens


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return [float(x) for x in vector]
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
