"""create_app(appliance): the Flask app serving an Appliance, one blueprint per resource."""
from __future__ import annotations

from flask import Flask

from appliance.alerts import responses
from appliance.api import (admin_alerts, admin_audit, admin_cache, admin_fleet, admin_keys, admin_models, admin_plan,
                           admin_routes, admin_slo, admin_speculation, admin_stats, admin_usage, errors, health,
                           metrics, openai_chat, openai_completions, openai_embeddings, openai_models, openapi)
from appliance.auth.admin import check_auth_setting
from appliance.auth.token_strength import check_admin_token
from appliance.services import Appliance

BLUEPRINTS = (health, metrics, openapi, openai_models, openai_chat, openai_completions, openai_embeddings,
              admin_stats, admin_keys, admin_models, admin_plan, admin_cache, admin_usage, admin_speculation,
              admin_slo, admin_routes, admin_alerts, admin_audit, admin_fleet)


def create_app(appliance: Appliance) -> Flask:
    check_auth_setting(appliance.config)
    check_admin_token(appliance.admin_token)
    app = Flask("airlock")
    app.json.sort_keys = False
    app.extensions["airlock"] = appliance
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    errors.init_app(app)
    responses.init_app(app, appliance.responses)
    for module in BLUEPRINTS:
        app.register_blueprint(module.bp)
    return app
