"""Every error the API returns has one shape: ``{"error": {"type": ..., "message": ...}}``.

Library exceptions map to status codes here and nowhere else::

    InputError, validation errors          422
    IdempotencyConflict                    409  (a key reused with other inputs)
    UnknownNameError, other UserErrors     400  (unknown workflow: type "unknown_workflow")
    ApiError                               its own status (401, 404, 413 ...)
    StoreError                             503
    anything else                          500  (logged; the message does not leak internals)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator.errors import IdempotencyConflict, InputError, StoreError, UnknownNameError, UserError
from orchestrator.logging import get_logger
from orchestrator.payload import MAX_DEPTH

log = get_logger(__name__)

_STATUS_TYPES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "request_timeout", 409: "conflict", 413: "request_too_large",
    415: "unsupported_media_type", 422: "invalid_request", 429: "rate_limited", 503: "unavailable",
}


class ApiError(Exception):
    """An error response: status, a machine-readable ``type`` and a message for people."""

    def __init__(self, status: int, type: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.headers = headers


def error_body(type: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of an error."""
    return {"error": {"type": type, "message": message, **extra}}


def error_response(status: int, type: str, message: str, *, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(type, message, **extra), status_code=status, headers=headers)


def classify(exc: Exception) -> tuple[int, str]:
    """The status code and error type for a library exception."""
    if isinstance(exc, ApiError):
        return exc.status, exc.type
    if isinstance(exc, InputError):
        return 422, "invalid_input"
    if isinstance(exc, UnknownNameError):
        return 400, f"unknown_{exc.kind}"
    if isinstance(exc, IdempotencyConflict):
        return 409, "idempotency_conflict"
    if isinstance(exc, UserError):
        return 400, "bad_request"
    if isinstance(exc, StoreError):
        return 503, "store_unavailable"
    return 500, "internal_error"


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    status, kind = classify(exc)
    headers = exc.headers if isinstance(exc, ApiError) else None
    if status >= 500:
        log.error("http.error", error_type=type(exc).__name__, status=status)
    message = str(exc) if status < 500 or isinstance(exc, StoreError) else "internal error; see the server log"
    return error_response(status, kind, message, headers=headers)


async def _http_exception(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, RecursionError):  # FastAPI's JSON parse of a body nested too deep
        return error_response(422, "invalid_request", f"the request body nests lists and objects deeper "
                              f"than the {MAX_DEPTH} levels accepted")
    kind = _STATUS_TYPES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_response(exc.status_code, kind, message, headers=dict(exc.headers or {}))


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    summary = "; ".join(_problem(e) for e in errors[:5])
    return error_response(422, "invalid_request", summary or "invalid request", details=details)


def _problem(error: Any) -> str:
    """One validation error in words: ``body.target: Field required``."""
    loc = list(error.get("loc", ()))
    if error.get("type") == "unsafe_payload":  # the message names the place itself
        return str(error.get("msg", ""))
    if error.get("type") == "json_invalid":  # loc is ("body", <character offset>)
        reason = (error.get("ctx") or {}).get("error") or "cannot parse it"
        return f"the request body is not valid JSON: {reason} (at character {loc[-1]})"
    return f"{'.'.join(map(str, loc))}: {error.get('msg', '')}"


def install_error_handlers(app: FastAPI) -> None:
    """Make every error response JSON of the one shape."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(UserError, _api_error)
    app.add_exception_handler(StoreError, _api_error)
    app.add_exception_handler(Exception, _api_error)


__all__ = ["ApiError", "classify", "error_body", "error_response", "install_error_handlers"]
