"""Routes through the official openai client against the live server, with real tiers:
SmolLM2-135M fp32 (`smollm2`, the session's model) and int8 (the same stored model loaded
again under the alias `smollm2-int8`). The last test unloads the int8 tier."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from api_support import MODEL
from prometheus_samples import sample

INT8 = "smollm2-int8"
LONG = "Describe the water cycle in detail, covering evaporation, condensation, precipitation and " \
       "collection, and explain how each stage affects the weather in coastal regions over a year."
AUTO = {"name": "auto", "tiers": [INT8, MODEL],
        "rules": [{"name": "long-prompt", "prompt_tokens_above": 30, "tier": MODEL},
                  {"name": "long-answer", "max_tokens_above": 64, "tier": MODEL}]}
ROUTES = [AUTO, {"name": "fast", "tiers": [INT8]}, {"name": "best", "tiers": [MODEL]},
          {"name": "burst", "tiers": [MODEL, INT8], "max_queue": 1},
          {"name": "slo", "tiers": [MODEL, INT8], "slo_ttft_seconds": 0.000001}]


@pytest.fixture(scope="module")
def routed(served, smollm2_path):
    models = served.appliance.models
    kv_bytes = models.config.models.kv_cache_bytes
    models.config.models.kv_cache_bytes = 64 * 1024**2     # a small KV pool: the shared machine's memory
    try:
        models.load(MODEL, "int8", alias=INT8)
    finally:
        models.config.models.kv_cache_bytes = kv_bytes
    admin = served.http()
    admin.headers.update(served.admin())
    response = admin.put("/admin/routes", json={"routes": ROUTES})
    assert response.status_code == 200, response.text
    yield served
    admin.put("/admin/routes", json={"routes": []})
    if INT8 in served.appliance.model_names():
        models.unload(INT8)


@pytest.fixture(scope="module")
def admin(routed):
    client = routed.http()
    client.headers.update(routed.admin())
    return client


def ask(client: openai.OpenAI, model: str, text: str, max_tokens: int = 4):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}],
                                          max_tokens=max_tokens, temperature=0)


def ledger_rows(live, route: str) -> list[dict]:
    live.appliance.ledger.flush(timeout=10)
    return [r for r in live.appliance.ledger.export_json() if r["route"] == route]


def test_rules_pick_the_tier_and_the_answer_and_ledger_name_it(routed) -> None:
    client = routed.client()
    assert {"auto", "fast", "best"} <= {m.id for m in client.models.list().data}
    assert ask(client, "auto", "Hi!").model == INT8
    assert ask(client, "auto", LONG).model == MODEL
    assert ask(client, "auto", "Hi!", max_tokens=65).model == MODEL
    completion = client.completions.create(model="auto", prompt="The capital of France is", max_tokens=3)
    assert completion.model == INT8 and completion.choices[0].text
    chunks = list(client.chat.completions.create(model="auto", messages=[{"role": "user", "content": LONG}],
                                                 max_tokens=3, stream=True))
    assert {c.model for c in chunks} == {MODEL}
    rows = ledger_rows(routed, "auto")
    assert [(r["model"], r["quantization"], r["rule"]) for r in rows] == [
        (INT8, "int8", "default"), (MODEL, "fp32", "long-prompt"), (MODEL, "fp32", "long-answer"),
        (INT8, "int8", "default"), (MODEL, "fp32", "long-prompt")]


def test_a_key_limited_to_fast_is_never_routed_to_best(routed) -> None:
    client = routed.client(routed.key("fast-only", allowed_models=["fast"]))
    listed = {m.id for m in client.models.list().data}
    assert {"fast", "auto"} <= listed and not {"best", MODEL, INT8} & listed
    answer = ask(client, "auto", LONG)
    assert answer.model == INT8
    assert ledger_rows(routed, "auto")[-1]["rule"] == "allowed-tiers"
    with pytest.raises(openai.PermissionDeniedError, match="none of route 'best'"):
        ask(client, "best", "Hi!")
    with pytest.raises(openai.PermissionDeniedError):
        ask(client, MODEL, "Hi!")


def test_a_burst_spills_to_the_next_tier_visibly(routed) -> None:
    client = routed.client()
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: ask(client, "burst", f"Count to {i + 3}.", max_tokens=24), range(6)))
    served_by = [a.model for a in answers]
    assert MODEL in served_by and INT8 in served_by, served_by
    rows = ledger_rows(routed, "burst")
    assert {(r["model"], r["rule"]) for r in rows} == {(MODEL, "default"), (INT8, "spill")}
    spilled = sum(r["rule"] == "spill" for r in rows)
    metrics = routed.http().get("/metrics").text
    found = sample(metrics, "airlock:route_spills_total", route="burst", from_tier="smollm2", to_tier="smollm2-int8")
    assert found == spilled


def test_a_measured_ttft_over_the_slo_spills(routed) -> None:
    client = routed.client()
    routed.appliance.router.load.forget()           # earlier tests measured both tiers
    ask(client, "slo", "Hi!")                       # measured on smollm2 at the latest here
    assert ask(client, "slo", "Hi!").model == INT8
    assert ledger_rows(routed, "slo")[-1]["rule"] == "spill"


def test_bad_definitions_are_refused_and_the_running_routes_stay(routed, admin) -> None:
    for body, param in [({"tiers": ["ghost"]}, "routes.auto.tiers[0]"), ({"tiers": []}, "routes.auto.tiers"),
                        ({"tiers": [MODEL], "rules": [{"prompt_tokens_above": "many", "tier": MODEL}]},
                         "routes.auto.rules[0].prompt_tokens_above")]:
        refused = admin.put("/admin/routes/auto", json=body)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == param, refused.text
        assert "running routes stay in force" in refused.json()["error"]["message"]
    cycle = admin.put("/admin/routes/fast", json={"tiers": ["fast"]})
    assert cycle.status_code == 400 and "cycle" in cycle.json()["error"]["message"]
    listing = admin.get("/admin/routes").json()
    auto = next(r for r in listing["routes"] if r["name"] == "auto")
    assert auto["tiers"] == [INT8, MODEL] and auto["traffic"]["tiers"][INT8] >= 1
    assert ask(routed.client(), "auto", "Hi!").model == INT8


def test_the_routes_command_lists_and_explains(routed, capsys) -> None:
    from appliance.cli import main

    where = ["--url", routed.url, "--admin-token", routed.appliance.admin_token]
    assert main(["routes", "test", LONG, "--route", "auto", *where]) == 0
    out = capsys.readouterr().out
    assert f"route auto -> tier {MODEL} (rule long-prompt)" in out and "prompt_tokens_above=30" in out
    assert main(["routes", "list", *where]) == 0
    listing = capsys.readouterr().out
    assert f"auto: {INT8} > {MODEL}" in listing and "spills" in listing
    assert main(["routes", "set", "auto", '{"tiers": ["ghost"]}', *where]) == 2
    assert "routes.auto.tiers[0]" in capsys.readouterr().err

def test_an_unloaded_tier_falls_back_and_none_loaded_is_503(routed, admin) -> None:
    routed.appliance.models.unload(INT8)
    client = routed.client()
    assert ask(client, "auto", "Hi!").model == MODEL
    assert ledger_rows(routed, "auto")[-1]["rule"] == "fallback"
    metrics = routed.http().get("/metrics").text
    assert sample(metrics, "airlock:route_fallbacks_total", route="auto", from_tier="smollm2-int8") >= 1
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client, "fast", "Hi!")
    assert caught.value.status_code == 503 and "No tier of route 'fast' is loaded" in str(caught.value)
    explained = admin.post("/admin/routes/test", json={"model": "auto", "prompt": "Hi!"}).json()
    assert explained["tier"] == MODEL and explained["rule"] == "fallback" and "not loaded" in explained["why"][1]
