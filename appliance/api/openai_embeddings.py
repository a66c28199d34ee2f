"""POST /v1/embeddings through the appliance's sentence-embedding model."""
from __future__ import annotations

import base64
import struct

from flask import Blueprint, Response, jsonify

from appliance.api.errors import ApiError, model_not_found
from appliance.api.guard import current_key, require_api_key
from appliance.api.models_access import model_request

bp = Blueprint("openai_embeddings", __name__)
bp.before_request(require_api_key)
MAX_INPUTS = 2048


@bp.post("/v1/embeddings")
def embeddings() -> Response:
    appliance, body, model = model_request()
    texts = _inputs(body.data.get("input"))
    encoding = body.string("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise ApiError(400, f"encoding_format must be 'float' or 'base64', got {encoding!r}.",
                       param="encoding_format", code="invalid_value")
    key = current_key()
    if key is not None and not key.allows(model):
        raise ApiError(403, f"API key '{key.spec.name}' may not use model '{model}'.", param="model",
                       code="model_not_allowed")
    embedder = appliance.embedder()
    if embedder is None or model != appliance.config.models.embedding_model:
        raise model_not_found(model, [appliance.config.models.embedding_model] if embedder else [])
    vectors, tokens = appliance.embed(texts)
    data = [{"object": "embedding", "index": i, "embedding": _encode(v, encoding)} for i, v in enumerate(vectors)]
    return jsonify({"object": "list", "data": data, "model": model,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def _inputs(raw: object) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) and t for t in raw):
        raise ApiError(400, "'input' must be a non-empty string or a non-empty array of non-empty strings.",
                       param="input", code="invalid_value")
    if len(raw) > MAX_INPUTS:
        raise ApiError(400, f"'input' may hold at most {MAX_INPUTS} strings, got {len(raw)}.", param="input",
                       code="invalid_value")
    return raw


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return [float(x) for x in vector]
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
