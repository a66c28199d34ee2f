"""GET /openapi.json: the whole HTTP surface. The request bodies take their schema from their
models (bodies.py, admin_bodies.py, the route definitions of routing/route.py, the config
sections), so each bound is stated once; the responses are written as data."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from appliance.api import admin_bodies, bodies
from appliance.config import CacheSettings, SchedulerSettings, Section, SpeculationSettings, TcoSettings
from appliance.routing.route import RouteBody, RouteSet

bp = Blueprint("openapi", __name__)
REF = "#/components/schemas/{model}"
MODELS = (bodies.ChatRequest, bodies.CompletionRequest, bodies.EmbeddingRequest, bodies.ModelRef,
          bodies.ImportRequest, bodies.PlanRequest, bodies.RouteTest, admin_bodies.NewKey, admin_bodies.KeyChanges,
          admin_bodies.AlertRuleBody, admin_bodies.SloTargets, admin_bodies.PinRequest, admin_bodies.FlushRequest,
          RouteBody, RouteSet)


def _ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


def _settings_body(section: type[Section], only: tuple[str, ...] | None = None, per_model: bool = True) -> dict:
    """A body that changes some settings of a config section, with the section's own schema
    (a setting left out keeps its current value, so no defaults are given); per_model: it may
    name the loaded model the change applies to."""
    properties = section.model_json_schema()["properties"]
    chosen = {name: {k: v for k, v in schema.items() if k not in ("default", "title")}
              for name, schema in properties.items() if only is None or name in only}
    target = {"model": {"type": "string"}} if per_model else {}
    return {"type": "object", "additionalProperties": False, "properties": {**target, **chosen}}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


ERRORS = {str(code): {"description": text, **_json(_ref("Error"))} for code, text in (
    (400, "Invalid request"), (401, "Missing or wrong credential"), (403, "Not allowed"),
    (404, "Unknown model or resource"), (429, "Over rate or budget (Retry-After)"),
    (503, "Queue full or not ready (Retry-After)"))}


def _op(summary: str, ok: dict | None = None, body: str | None = None, *, params: list | None = None,
        public: bool = False, stream: bool = False) -> dict:
    responses = {"200": {"description": "OK", **_json(ok or {"type": "object"})}, **ERRORS}
    if stream:
        responses["200"]["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    op: dict = {"summary": summary, "responses": responses}
    if body:
        op["requestBody"] = {"required": True, **_json(_ref(body))}
    if params:
        op["parameters"] = params
    if public:
        op["security"] = []
    return op


def _query(name: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


class _Untitled(GenerateJsonSchema):
    """Pydantic's schemas without a title per property (the property's name says it)."""

    def field_title_should_be_set(self, schema) -> bool:
        return False


def model_schemas() -> dict:
    """The JSON schemas of MODELS and of the models inside them, each under its class name."""
    _, top = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF, schema_generator=_Untitled)
    return top["$defs"]


RESPONSES = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}},
    "Usage": {"type": "object", "properties": {
        "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"},
        "prompt_tokens_details": {"type": "object", "properties": {"cached_tokens": {"type": "integer"}}}}},
    "ChatCompletion": {"type": "object", "required": ["id", "object", "choices", "usage"], "properties": {
        "id": {"type": "string"}, "object": {"const": "chat.completion"}, "created": {"type": "integer"},
        "model": {"type": "string"}, "choices": {"type": "array"}, "usage": _ref("Usage")}},
    "Completion": {"type": "object", "required": ["id", "object", "choices", "usage"], "properties": {
        "id": {"type": "string"}, "object": {"const": "text_completion"}, "created": {"type": "integer"},
        "model": {"type": "string"}, "choices": {"type": "array"}, "usage": _ref("Usage")}},
    "ModelList": {"type": "object", "properties": {"object": {"const": "list"}, "data": {"type": "array"}}},
}
_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000})

PATHS = {
    "/health": {"get": _op("The process answers", public=True)},
    "/ready": {"get": _op("A model is loaded and serving", public=True)},
    "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {
        "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/openapi.json": {"get": _op("This document", public=True)},
    "/v1/models": {"get": _op("Loaded models this key may use", _ref("ModelList"))},
    "/v1/models/{model}": {"get": _op("One model", params=[_path("model")])},
    "/v1/chat/completions": {"post": _op("Chat completion", _ref("ChatCompletion"), "ChatRequest", stream=True)},
    "/v1/completions": {"post": _op("Text completion", _ref("Completion"), "CompletionRequest", stream=True)},
    "/v1/embeddings": {"post": _op("Sentence embeddings", body="EmbeddingRequest")},
    "/admin/stats": {"get": _op("Engine, queue and machine figures")},
    "/admin/fleet": {"get": _op("Every node on this database: health, load, loaded models")},
    "/admin/models": {"get": _op("Store entries and loaded models")},
    "/admin/models/import": {"post": _op("Import a model file into the store", body="ImportRequest")},
    "/admin/models/load": {"post": _op("Load a model", body="ModelRef")},
    "/admin/models/unload": {"post": _op("Unload a model", body="ModelRef")},
    "/admin/plan": {"get": _op("Memory plan for a model", params=[
        _query("model", {"type": "string"}), _query("quantization", {"type": "string"}),
        _query("context", {"type": "integer", "minimum": 1}),
        _query("concurrency", {"type": "integer", "minimum": 1})]),
        "post": _op("What-if memory plan", body="PlanRequest")},
    "/admin/cache/policy": {"get": _op("Prefix-cache policy per model, with the response-cache policy"),
                            "put": _op("Set prefix-cache (one model or all) and response-cache policy",
                                       body="CachePolicy")},
    "/admin/cache/stats": {"get": _op("Prefix-cache and response-cache figures")},
    "/admin/cache/pins": {"get": _op("Pinned prefixes"), "post": _op("Pin a prefix", body="PinRequest")},
    "/admin/cache/pins/{pin_id}": {"delete": _op("Unpin a prefix", params=[_path("pin_id")])},
    "/admin/cache/flush": {"post": _op("Flush the prefix and response caches", body="FlushRequest")},
    "/admin/keys": {"get": _op("API keys"), "post": _op("Create a key (the secret is shown once)",
                                                        body="NewKey")},
    "/admin/keys/{key_id}": {"patch": _op("Change a key's settings", body="KeyChanges", params=[_path("key_id")]),
                             "delete": _op("Revoke a key", params=[_path("key_id")])},
    "/admin/usage": {"get": _op("Usage report", params=[
        _query("period", {"type": "string", "enum": ["day", "week", "month"]}),
        _query("group", {"type": "string", "enum": ["key", "tenant", "model", "route"]}),
        _query("format", {"type": "string", "enum": ["json", "csv"]})])},
    "/admin/tco": {"get": _op("TCO inputs and figures"), "put": _op("Set TCO inputs", body="TcoSettings")},
    "/admin/routes": {"get": _op("Routes in force with their traffic per tier"),
                      "put": _op("Replace the whole route set", body="RouteSet")},
    "/admin/routes/{name}": {"put": _op("Create or replace one route", body="RouteBody", params=[_path("name")]),
                             "delete": _op("Delete one route", params=[_path("name")])},
    "/admin/routes/test": {"post": _op("Which tier a prompt would take now, and why", body="RouteTest")},
    # alerts and the audit log (docs/alerts.md)
    "/admin/alerts": {"get": _op("Firing alerts, the history of state changes and the rules", params=[_LIMIT])},
    "/admin/alerts/events/{event_id}/ack": {"post": _op("Acknowledge an alert event", params=[_path("event_id")])},
    "/admin/alerts/rules": {"get": _op("Alert rules and the kinds of rule")},
    "/admin/alerts/rules/{name}": {
        "put": _op("Add or replace an alert rule", body="AlertRuleBody", params=[_path("name")]),
        "delete": _op("Remove an alert rule", params=[_path("name")])},
    "/admin/audit": {"get": _op("The audit log of administrative changes", params=[
        _LIMIT, _query("action", {"type": "string"})])},
    "/admin/audit/verify": {"get": _op("Verify the audit log's hash chain")},
    # SLO, batching and speculation at run time (docs/frontier.md, docs/speculation.md)
    "/admin/slo": {"get": _op("SLO targets and live attainment per model"),
                   "put": _op("Set the SLO targets", body="SloTargets")},
    "/admin/scheduler": {"put": _op("Set the batching limits", body="Batching")},
    "/admin/frontier": {"get": _op("The latest sweep with its Pareto points and the chosen point",
                                   params=[_query("model", {"type": "string"})])},
    "/admin/speculation": {"get": _op("Speculative decoding policy and figures per model"),
                           "put": _op("Change the speculative decoding policy", body="SpeculationPolicy")},
}
# run-time changes of config sections: the section's own schema, a setting left out keeps its value
ADMIN = {
    "Batching": _settings_body(SchedulerSettings, ("max_num_seqs", "max_num_batched_tokens", "max_prefill_chunk")),
    "SpeculationPolicy": _settings_body(SpeculationSettings),
    "CachePolicy": _settings_body(CacheSettings),
    "TcoSettings": _settings_body(TcoSettings, per_model=False),
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Airlock", "version": "1.0",
             "description": "OpenAI-compatible inference API and admin API of the Airlock appliance."},
    "paths": PATHS,
    "components": {"schemas": model_schemas() | RESPONSES | ADMIN,
                   "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
}


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(DOCUMENT)
