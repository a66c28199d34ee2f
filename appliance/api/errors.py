"""Every error leaves as OpenAI's body {"error": {"message", "type", "param", "code"}}."""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from appliance.models.errors import ModelNotLoaded
from engine.errors import EngineStopped, InvalidParameter, QueueFull

log = logging.getLogger("airlock.api")

_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 405: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error",
    429: "rate_limit_error", 503: "server_overloaded",
}


class ApiError(Exception):
    """An error with an HTTP status, raised anywhere inside a request handler."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.retry_after = retry_after


def error_response(error: ApiError) -> Response:
    body = {"error": {"message": error.message, "type": _TYPES.get(error.status, "server_error"),
                      "param": error.param, "code": error.code}}
    response = jsonify(body)
    response.status_code = error.status
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return response


def to_api_error(exc: Exception) -> ApiError:
    """Map engine, model-manager and HTTP errors to the matching ApiError."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, InvalidParameter):
        code = "context_length_exceeded" if exc.param == "max_tokens" and "context" in str(exc) else None
        return ApiError(400, str(exc), param=exc.param, code=code)
    if isinstance(exc, QueueFull):
        return ApiError(503, str(exc), code="queue_full", retry_after=exc.retry_after)
    if isinstance(exc, EngineStopped):
        return ApiError(503, f"The model stopped while serving this request: {exc}",
                        code="engine_stopped", retry_after=1)
    if isinstance(exc, ModelNotLoaded):
        return model_not_found(exc.name, exc.loaded)
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unhandled error", exc_info=exc)
    return ApiError(500, "Internal server error; the details are in the server log.", code="internal_error")


def model_not_found(name: str, loaded: list[str]) -> ApiError:
    names = ", ".join(loaded) or "none"
    return ApiError(404, f"The model '{name}' does not exist or is not loaded; loaded models: {names}.",
                    param="model", code="model_not_found")


def _http_error(exc: HTTPException) -> ApiError:
    status = exc.code or 500
    if status == 404:
        return ApiError(404, "No such endpoint; see /openapi.json for the HTTP surface.", code="not_found")
    if status == 405:
        return ApiError(405, f"Method not allowed; allowed: {', '.join(exc.valid_methods or [])}.",
                        code="method_not_allowed")
    if status == 400:
        return ApiError(400, "The request body is not valid JSON.", code="invalid_json")
    return ApiError(status, exc.description or exc.name)


def init_app(app: Flask) -> None:
    @app.errorhandler(Exception)
    def _handle(exc: Exception) -> Response:
        return error_response(to_api_error(exc))
