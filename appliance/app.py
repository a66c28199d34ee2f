"""create_app(appliance): the Flask app serving an Appliance, one blueprint per resource."""
from __future__ import annotations

import importlib

from flask import Flask

from appliance.api import errors
from appliance.auth.admin import check_auth_setting
from appliance.services import Appliance

BLUEPRINTS = ("health", "metrics", "openapi", "openai_models", "openai_chat", "openai_completions",
              "openai_embeddings", "admin_stats", "admin_keys", "admin_models", "admin_cache",
              "admin_plan", "admin_usage", "admin_tco")


def create_app(appliance: Appliance) -> Flask:
    check_auth_setting(appliance.config)
    app = Flask("airlock")
    app.json.sort_keys = False
    app.extensions["airlock"] = appliance
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    errors.init_app(app)
    for name in BLUEPRINTS:
        module = _blueprint_module(name)
        if module is not None:
            app.register_blueprint(module.bp)
    return app


def _blueprint_module(name: str):
    try:
        return importlib.import_module(f"appliance.api.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"appliance.api.{name}":
            return None   # a resource not built yet
        raise
