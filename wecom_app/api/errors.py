"""Every error under `/api/` as JSON (DESIGN §3):
`{"error": {"code": "...", "message": "...", "field": "..." | null}}`.

Views raise `ApiError` (or `validate.Invalid`, or a werkzeug HTTP error); the
handlers here turn each into that shape. Routing failures (an unknown path, a
method the route does not take) happen before any blueprint is chosen, so an
app-level `before_request` answers those for `/api/` paths; handlers are
registered on the blueprint per HTTP code so that an app-wide handler for one
code (the receiver's empty 413, a workbench's HTML 404) never wins under `/api/`.
No response carries a stack trace, an SQL statement or a submitted secret.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, MethodNotAllowed, default_exceptions
from werkzeug.routing import RequestRedirect

from wecom_app.api.validate import Invalid
from wecom_app.inputs import BadInput
from wecom_app.logs import kv

log = logging.getLogger("wecom.api")

# HTTP status → our error code; a status not listed gets "http_<status>".
CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "too_many_requests",
    500: "internal", 503: "unavailable",
}


class ApiError(Exception):
    """An answer a view chose to give: raise ApiError(404, "no group 12")."""

    def __init__(self, status: int, message: str, *, code: str | None = None, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.code = code or CODES.get(status, f"http_{status}")
        self.headers = headers or {}


def error_response(status: int, message: str, *, code: str | None = None, field: str | None = None,
                   headers: dict[str, str] | None = None, **extra) -> Response:
    body = {"code": code or CODES.get(status, f"http_{status}"), "message": message, "field": field, **extra}
    response = jsonify(error=body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, code=exc.code, field=exc.field, headers=exc.headers)


def _invalid(exc: Invalid) -> Response:
    # the first problem in field order is the headline; `errors` lists them all (for forms)
    errors = [{"field": field, "message": message} for field, message in exc.errors]
    return error_response(422, exc.errors[0][1], field=exc.errors[0][0], errors=errors)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    messages = {
        404: "no such resource", 405: f"{request.method} is not allowed here",
        413: "request body too large",
    }
    return error_response(status, messages.get(status, exc.name), headers=headers)


# the database cannot be reached or the pool is exhausted: worth retrying later (503)
OUTAGES = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


def is_outage(exc: SQLAlchemyError) -> bool:
    return isinstance(exc, OUTAGES) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _database_error(exc: SQLAlchemyError) -> Response:
    if isinstance(exc, IntegrityError):
        # a race another request won (e.g. the same chat_id registered twice at once)
        log.warning(kv("wecom.api.conflict", path=request.path, error=type(exc.orig).__name__))
        return error_response(409, "conflicts with an existing record")
    if isinstance(exc, DataError):
        # a value the database refuses (out of range, NUL in text): the request's fault, never an
        # outage; validation should have caught it, so it is logged as a gap to close
        log.warning(kv("wecom.api.data_error", path=request.path, error=type(exc.orig).__name__))
        return error_response(422, "a value is out of the range the database can store")
    if not is_outage(exc):
        # ProgrammingError, InternalError...: a bug, not an outage; retrying will not help
        return _unexpected(exc)
    log.error(kv("wecom.api.database_error", path=request.path, error=type(exc).__name__))
    return error_response(503, "database unavailable, try again", headers={"Retry-After": "5"})


def bad_input(exc: BadInput) -> Response:
    return error_response(422, exc.message, field=exc.field)


def _unexpected(exc: Exception) -> Response:
    log.exception(kv("wecom.api.failed", path=request.path, error=type(exc).__name__))
    return error_response(500, "internal error")


def _routing_error_as_json():
    """An unknown path or method under /api/ answers JSON, not Flask's HTML page."""
    exc = request.routing_exception
    if exc is None or isinstance(exc, RequestRedirect) or not request.path.startswith("/api/"):
        return None
    return _http_error(exc)


def install_handlers(bp: Blueprint) -> None:
    """Once, before the blueprint is first registered (Flask forbids it afterwards)."""
    bp.register_error_handler(ApiError, _api_error)
    bp.register_error_handler(Invalid, _invalid)
    bp.register_error_handler(BadInput, bad_input)
    for code in default_exceptions:
        bp.register_error_handler(code, _http_error)
    bp.register_error_handler(SQLAlchemyError, _database_error)
    bp.register_error_handler(Exception, _unexpected)


def install_routing_errors(app: Flask) -> None:
    app.before_request(_routing_error_as_json)
