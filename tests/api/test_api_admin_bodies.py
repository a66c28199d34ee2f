"""The admin bodies read by models: a bad key, alert-rule or SLO body is OpenAI's 400 naming
the field, and /openapi.json carries the same models' schemas."""
from __future__ import annotations

import httpx
import pytest


@pytest.fixture(scope="module")
def admin(live) -> httpx.Client:
    client = live.http()
    client.headers.update(live.admin())
    return client


def _refused(response: httpx.Response, param: str) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert f"'{param}'" in error["message"]
    return error["message"]


@pytest.mark.parametrize("body, param, words", [
    ({"tenant": "x"}, "name", "is required"),
    ({"name": "x", "rpm": 3}, "rpm", "is not a field"),
    ({"name": "x", "token_budget": -5}, "token_budget", "at least 0"),
    ({"name": "x", "tokens_per_minute": 2**31}, "tokens_per_minute", "at most 2147483647"),
    ({"name": "x", "tenant": "default"}, "tenant", "reserved"),
    ({"name": "x", "allowed_models": ["a,b"]}, "allowed_models[0]", "comma"),
    ({"name": "x", "requests_per_minute": "60"}, "requests_per_minute", "must be an integer")])
def test_a_bad_key_body_is_400_naming_the_field(admin, body, param, words) -> None:
    assert words in _refused(admin.post("/admin/keys", json=body), param)


def test_key_changes_are_checked_and_an_empty_tenant_is_none(admin) -> None:
    key = admin.post("/admin/keys", json={"name": "bodies", "tenant": "t1"}).json()
    _refused(admin.patch(f"/admin/keys/{key['id']}", json={"name": " "}), "name")
    assert admin.patch(f"/admin/keys/{key['id']}", json={"tenant": ""}).json()["tenant"] is None
    assert admin.patch("/admin/keys/key_nope", json={"token_budget": 1}).status_code == 404


def test_a_null_tenant_clears_it_and_an_absent_one_leaves_it(admin) -> None:
    key = admin.post("/admin/keys", json={"name": "null-tenant", "tenant": "t2"}).json()
    assert admin.patch(f"/admin/keys/{key['id']}", json={"name": "renamed"}).json()["tenant"] == "t2"
    assert admin.patch(f"/admin/keys/{key['id']}", json={"token_budget": None}).json()["tenant"] == "t2"
    cleared = admin.patch(f"/admin/keys/{key['id']}", json={"tenant": None}).json()
    assert (cleared["tenant"], cleared["name"]) == (None, "renamed")


@pytest.mark.parametrize("body, param", [
    ({"threshold": 1}, "kind"), ({"kind": "nope", "threshold": 1}, "kind"),
    ({"kind": "ttft_p95", "threshold": "high"}, "threshold"),
    ({"kind": "ttft_p95", "threshold": 1, "window_seconds": 0}, "window_seconds"),
    ({"kind": "ttft_p95", "threshold": 1, "severity": "loud"}, "severity"),
    ({"kind": "ttft_p95", "threshold": 1, "name": "other"}, "name"),
    ({"kind": "ttft_p95", "threshold": 1, "colour": "red"}, "colour")])
def test_a_bad_alert_rule_body_is_400_naming_the_field(admin, body, param) -> None:
    _refused(admin.put("/admin/alerts/rules/bodies", json=body), param)


def test_a_valid_alert_rule_takes_the_defaults(admin) -> None:
    rule = admin.put("/admin/alerts/rules/bodies", json={"kind": "ttft_p95", "threshold": 3}).json()
    assert rule == {"name": "bodies", "kind": "ttft_p95", "threshold": 3.0, "window_seconds": 300.0,
                    "severity": "warning", "enabled": True}
    assert admin.delete("/admin/alerts/rules/bodies").status_code == 200


@pytest.mark.parametrize("body, param", [
    ({"ttft_p95_seconds": 0}, "ttft_p95_seconds"), ({"itl_p95_seconds": -1}, "itl_p95_seconds"),
    ({"itl_p95_seconds": "150ms"}, "itl_p95_seconds"), ({"itl": 0.1}, "itl"), ({"model": 3}, "model")])
def test_a_bad_slo_body_is_400_naming_the_field(admin, body, param) -> None:
    _refused(admin.put("/admin/slo", json=body), param)


def test_a_bad_tco_input_is_400_naming_the_setting(admin) -> None:
    response = admin.put("/admin/tco", json={"pue": 0.5})
    assert response.status_code == 400 and response.json()["error"]["param"] == "pue"


def test_openapi_carries_the_models_schemas(live) -> None:
    from appliance.api.admin_bodies import AlertRuleBody, KeyChanges, NewKey, SloTargets

    document = httpx.get(live.url + "/openapi.json").json()
    schemas, paths = document["components"]["schemas"], document["paths"]
    for model in (NewKey, KeyChanges, AlertRuleBody, SloTargets):
        assert set(schemas[model.__name__]["properties"]) == set(model.model_fields)
    assert schemas["NewKey"]["required"] == ["name"] and schemas["NewKey"]["additionalProperties"] is False
    assert schemas["NewKey"]["properties"]["token_budget"]["maximum"] == 2**31 - 1
    assert "ttft_p95" in schemas["AlertRuleBody"]["properties"]["kind"]["enum"]
    assert schemas["SloTargets"]["properties"]["itl_p95_seconds"]["anyOf"][0]["exclusiveMinimum"] == 0
    assert schemas["TcoSettings"]["properties"]["pue"]["minimum"] == 1
    body = {"/admin/keys": ("post", "NewKey"), "/admin/keys/{key_id}": ("patch", "KeyChanges"),
            "/admin/alerts/rules/{name}": ("put", "AlertRuleBody"), "/admin/slo": ("put", "SloTargets")}
    for path, (method, name) in body.items():
        ref = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{name}"


@pytest.mark.parametrize("path, body, param", [
    ("/admin/routes/bodies", {"tiers": ["t"], "max_queue": -1}, "routes.bodies.max_queue"),
    ("/admin/routes/bodies", {"tiers": ["t"], "colour": "red"}, "routes.bodies.colour"),
    ("/admin/routes/bodies", {"tiers": ["t"], "rules": [{"tier": "t", "complexity_above": 2}]},
     "routes.bodies.rules[0].complexity_above"),
    ("/admin/routes", {"routes": "all"}, "routes"),
    ("/admin/routes", {"routes": [{"name": "a", "tiers": ["t"], "rules": [{"tier": "t"}]}]}, "routes.a.rules[0]"),
    ("/admin/routes", {"routes": [{"name": "a", "tiers": ["t"], "default": "u"}]}, "routes.a.default"),
    ("/admin/routes", {"routes": [{"name": "a", "tiers": ["t"]}, {"name": "a", "tiers": ["t"]}]}, "routes[1].name"),
    ("/admin/routes", {"routes": [{"name": "a b", "tiers": ["t"]}]}, "routes[0].name")])
def test_a_bad_route_body_is_400_naming_the_field(admin, path, body, param) -> None:
    before = admin.get("/admin/routes").json()["routes"]
    response = admin.put(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, "invalid_route") and param in error["message"]
    assert admin.get("/admin/routes").json()["routes"] == before


def test_openapi_carries_the_route_models_schemas(live) -> None:
    from appliance.routing.route import RouteBody, RouteDefinition, RouteRule, RouteSet

    document = httpx.get(live.url + "/openapi.json").json()
    schemas, paths = document["components"]["schemas"], document["paths"]
    for model in (RouteBody, RouteDefinition, RouteRule, RouteSet):
        assert set(schemas[model.__name__]["properties"]) == set(model.model_fields)
    assert schemas["RouteSet"]["properties"]["routes"]["items"] == {"$ref": "#/components/schemas/RouteDefinition"}
    assert schemas["RouteDefinition"]["required"] == ["name", "tiers"] and schemas["RouteBody"]["required"] == ["tiers"]
    assert schemas["RouteRule"]["properties"]["complexity_above"]["anyOf"][0] == {
        "type": "number", "minimum": 0, "maximum": 1}
    body = {op: paths[path]["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            for op, path in (("set", "/admin/routes"), ("one", "/admin/routes/{name}"))}
    assert body == {"set": "RouteSet", "one": "RouteBody"} and "Route" not in schemas
