"""Health, readiness, Prometheus metrics, the OpenAPI document and embeddings."""
from __future__ import annotations

import json
import re

import pytest

from api_support import MODEL


def test_health_and_ready(served) -> None:
    http = served.http()
    assert http.get("/health").json() == {"status": "ok", "node": served.appliance.config.node}
    ready = http.get("/ready")
    assert ready.status_code == 200 and MODEL in ready.json()["models"]


def test_metrics_prometheus_text(served) -> None:
    served.client().completions.create(model=MODEL, prompt="Hi there", max_tokens=3, temperature=0)
    text = served.http().get("/metrics").text
    for name in ("num_requests_running", "num_requests_waiting", "kv_cache_usage_perc",
                 "prefix_cache_queries_total", "prefix_cache_hits_total", "num_preemptions_total",
                 "ledger_backlog_rows"):
        assert re.search(rf"^airlock:{name}(\{{.*\}})? \d", text, re.M), name
    for histogram in ("time_to_first_token_seconds", "inter_token_latency_seconds", "request_queue_time_seconds"):
        assert f"# TYPE airlock:{histogram} histogram" in text
        count = re.search(rf'^airlock:{histogram}_count\{{model_name="{MODEL}"\}} (\d+)', text, re.M)
        assert count and int(count.group(1)) >= 1
        assert f'airlock:{histogram}_bucket{{le="+Inf",model_name="{MODEL}"}}' in text


def test_openapi_describes_every_route(served) -> None:
    document = served.http().get("/openapi.json").json()
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in served.server.app.url_map.iter_rules()
              if rule.endpoint != "static"}
    assert routes == set(document["paths"])


def test_openapi_request_bodies_come_from_the_models(served) -> None:
    schemas = served.http().get("/openapi.json").json()["components"]["schemas"]
    chat = schemas["ChatRequest"]
    assert chat["required"] == ["model", "messages"]
    n, temperature = chat["properties"]["n"], chat["properties"]["temperature"]
    assert (n["type"], n["minimum"], n["maximum"]) == ("integer", 1, 16) and temperature["maximum"] == 2
    refs = re.findall(r'"\$ref": "#/components/schemas/(\w+)"', json.dumps(schemas))
    assert refs and set(refs) <= set(schemas)
    assert "logit_bias" not in chat["properties"]   # refused, so not offered


@pytest.fixture(scope="module")
def embedder(served, minilm_path):
    from appliance.caching.embeddings import EmbeddingModel

    served.appliance.embedding_model = EmbeddingModel(minilm_path)
    return served.appliance.config.models.embedding_model


def test_embeddings(served, embedder) -> None:
    client = served.client()
    reply = client.embeddings.create(model=embedder, input=["The cat sat.", "A cat was sitting.", "Tax law"])
    vectors = [d.embedding for d in reply.data]
    assert len(vectors) == 3 and len(vectors[0]) == 384 and reply.usage.prompt_tokens > 3

    def cos(a, b):
        return sum(x * y for x, y in zip(a, b))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])
    import openai
    with pytest.raises(openai.BadRequestError, match="'input'"):
        client.embeddings.create(model=embedder, input=[])
