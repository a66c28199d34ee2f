"""Route definitions, rule evaluation, allowed tiers, spill and the complexity classifier,
without a model: the router is plain data plus the shipped labelled file."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from appliance.routing.classifier import ComplexityClassifier, TrainingDataError, read_labelled, train, train_file
from appliance.routing.route import RouteError, parse_routes
from appliance.routing.router import Busy, Router
from appliance.routing.rules import RouteInput

MODELS = {"small", "small-int8", "big"}
AUTO = {"name": "auto", "tiers": ["small-int8", "small", "big"], "max_queue": 2,
        "rules": [{"name": "long", "prompt_tokens_above": 100, "tier": "big"},
                  {"name": "long-answer", "max_tokens_above": 200, "tier": "small"},
                  {"name": "complex", "complexity_above": 0.5, "tier": "big"}]}


def router(*routes: dict, **kwargs) -> Router:
    r = Router(**kwargs)
    r.replace(list(routes), MODELS)
    return r


def idle(tier: str) -> Busy | None:
    return None


@pytest.mark.parametrize("routes, field, words", [
    ([{"name": "a", "tiers": ["nope"]}], "routes.a.tiers[0]", "unknown tier 'nope'"),
    ([{"name": "a", "tiers": []}], "routes.a.tiers", "at least one tier"),
    ([{"name": "a", "tiers": "small"}], "routes.a.tiers", "must be a list"),
    ([{"name": "a", "tiers": ["b"]}, {"name": "b", "tiers": ["a"]}], "routes.a.tiers", "cycle: a -> b -> a"),
    ([{"name": "a", "tiers": ["small"], "rules": [{"prompt_tokens_above": "100", "tier": "small"}]}],
     "routes.a.rules[0].prompt_tokens_above", "non-negative integer"),
    ([{"name": "a", "tiers": ["small"], "rules": [{"prompt_tokens_above": 1.5, "tier": "small"}]}],
     "routes.a.rules[0].prompt_tokens_above", "non-negative integer"),
    ([{"name": "a", "tiers": ["small"], "rules": [{"complexity_above": 2, "tier": "small"}]}],
     "routes.a.rules[0].complexity_above", "between 0 and 1"),
    ([{"name": "a", "tiers": ["small"], "rules": [{"max_tokens_above": 5, "tier": "big"}]}],
     "routes.a.rules[0].tier", "not one of the route's tiers"),
    ([{"name": "a", "tiers": ["small"], "rules": [{"tier": "small"}]}], "routes.a.rules[0]", "at least one condition"),
    ([{"name": "a", "tiers": ["small"], "slo_ttft_seconds": "fast"}], "routes.a.slo_ttft_seconds", "number"),
    ([{"name": "a", "tiers": ["small"], "bogus": 1}], "routes.a.bogus", "unknown field"),
    ([{"name": "small", "tiers": ["big"]}], "routes[0].name", "already a model name"),
    ([{"name": "a", "tiers": ["small"]}, {"name": "a", "tiers": ["big"]}], "routes[1].name", "defined twice"),
])
def test_bad_definitions_are_refused_naming_the_field(routes, field, words):
    with pytest.raises(RouteError) as caught:
        parse_routes(routes, MODELS)
    assert caught.value.field == field and words in str(caught.value)


def test_a_refused_edit_leaves_the_running_routes_in_force(tmp_path: Path):
    r = router(AUTO, state_path=tmp_path / "routes.json")
    with pytest.raises(RouteError):
        r.upsert({"name": "auto", "tiers": ["small", "ghost"]}, MODELS)
    assert r.get("auto").resolved == ("small-int8", "small", "big")
    assert '"auto"' in (tmp_path / "routes.json").read_text()


def test_routes_may_name_routes():
    r = router({"name": "fast", "tiers": ["small-int8"]}, {"name": "best", "tiers": ["big"]},
               {"name": "auto", "tiers": ["fast", "small", "best"]})
    assert r.get("auto").resolved == ("small-int8", "small", "big")


@pytest.mark.parametrize("prompt_tokens, max_tokens, text, tier, rule", [
    (150, None, "What is 2 + 2?", "big", "long"),
    (10, 500, "What is 2 + 2?", "small", "long-answer"),
    (10, 50, "Write a detailed essay comparing two economic policies and explain which lessons apply.",
     "big", "complex"),
    (10, 50, "What is the capital of France?", "small-int8", "default"),
])
def test_rules_pick_in_order(prompt_tokens, max_tokens, text, tier, rule):
    r = router(AUTO)
    route = r.get("auto")
    decision = r.decide(route, RouteInput(text, prompt_tokens, max_tokens), route.resolved, idle)
    assert (decision.tier, decision.rule) == (tier, rule)


def test_allowed_tiers_hold_for_keys_and_tenants():
    r = router(AUTO, {"name": "fast", "tiers": ["small-int8"]}, tenant_tiers={"lab": ["small", "small-int8"]})
    route = r.get("auto")
    assert r.allowed_tiers(route, ["fast"], None) == ("small-int8",)
    assert r.allowed_tiers(route, ["auto"], None) == route.resolved
    assert r.allowed_tiers(route, [], "lab") == ("small-int8", "small")
    assert r.allowed_tiers(route, ["big"], "lab") == ()
    decision = r.decide(route, RouteInput("x", 500, None), ("small-int8",), idle)
    assert (decision.tier, decision.rule) == ("small-int8", "allowed-tiers")
    assert [t for t, _ in decision.attempts] == ["small-int8"]


def test_load_spills_to_the_next_tier_and_unloaded_falls_back():
    r = router(AUTO)
    route = r.get("auto")
    busy = {"big": Busy("load", "queue 2 >= 2")}
    decision = r.decide(route, RouteInput("x", 500, None), route.resolved, busy.get)
    assert (decision.tier, decision.rule, decision.chosen) == ("small-int8", "spill", "big")
    r.count(decision, decision.tier, decision.rule)
    assert r.spills[("auto", "big", "small-int8")] == 1
    gone = {"big": Busy("unloaded", "not loaded")}
    decision = r.decide(route, RouteInput("x", 500, None), route.resolved, gone.get)
    assert (decision.tier, decision.rule) == ("small-int8", "fallback")
    everything = {"big": Busy("load", "busy", 3.0), "small-int8": Busy("load", "busy", 2.0),
                  "small": Busy("load", "busy", 2.0)}
    decision = r.decide(route, RouteInput("x", 500, None), route.resolved, everything.get)
    assert (decision.tier, decision.rule) == ("small-int8", "spill")
    assert [t for t, _ in decision.attempts] == ["small-int8", "small", "big"]


def test_a_decision_takes_well_under_a_millisecond():
    r = router(AUTO)
    route = r.get("auto")
    r.classifier()   # trained once, outside the timing
    text = "Explain how a compiler turns source code into machine code, with examples. " * 8
    started = time.perf_counter()
    for _ in range(200):
        r.decide(route, RouteInput(text, 50, 100), route.resolved, idle)
    assert (time.perf_counter() - started) / 200 < 1e-3


def test_the_shipped_classifier_separates_held_out_prompts():
    examples = read_labelled(Path(__file__).parents[2] / "appliance" / "routing" / "complexity.tsv")
    held_out = examples[::5]
    model = train([e for i, e in enumerate(examples) if i % 5], source="80%")
    correct = sum((model.score(text) > 0.5) == bool(label) for text, label in held_out)
    assert correct / len(held_out) >= 0.8, f"{correct}/{len(held_out)}"


def test_retraining_from_a_file_round_trips(tmp_path: Path):
    data = tmp_path / "mine.tsv"
    data.write_text("simple\tping\nsimple\tWhat is 1 + 1?\ncomplex\tWrite a long report on the plant's "
                    "maintenance history and propose a schedule.\ncomplex\tDesign a data pipeline in detail.\n")
    model = train_file(data)
    model.save(tmp_path / "c.json")
    again = ComplexityClassifier.load(tmp_path / "c.json")
    assert again.score("Design a detailed report") == pytest.approx(model.score("Design a detailed report"), abs=1e-4)
    (tmp_path / "bad.tsv").write_text("simple\tonly one label\n")
    with pytest.raises(TrainingDataError, match="both labels"):
        train_file(tmp_path / "bad.tsv")
    (tmp_path / "worse.tsv").write_text("maybe\tthis\n")
    with pytest.raises(TrainingDataError, match="worse.tsv:1"):
        train_file(tmp_path / "worse.tsv")
