"""Typed errors and the one middleware that maps every failure to the contract's JSON error shape."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """An error with an HTTP status and a stable snake_case code."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.code_override = code
        self.headers = headers or {}

    @property
    def error_code(self) -> str:
        return self.code_override or self.code


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


class UnsupportedMedia(ServiceError):
    status, code = 415, "unsupported_media"


class Unavailable(ServiceError):
    """503 with Retry-After: queue full, model loading, shutting down."""

    status, code = 503, "unavailable"

    def __init__(self, message: str, *, code: str, retry_after: float):
        super().__init__(message, code=code, headers={"Retry-After": str(max(1, round(retry_after)))})
        self.retry_after = retry_after


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error_body(code, message), status=status, headers=headers)


# aiohttp raises its own HTTP exceptions for routing and protocol errors; give them stable codes.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media",
}


def _http_message(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"No such endpoint: {request.method} {request.path[:200]}."
    if exc.status == 405:
        return f"Method {request.method} is not allowed on {request.path[:200]}."
    text = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
    return f"{text}."[:300]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn typed errors, aiohttp's HTTP errors and crashes into the JSON error shape."""
    try:
        return await handler(request)
    except ServiceError as exc:
        return error_response(exc.status, exc.error_code, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, f"http_{exc.status}")
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return error_response(exc.status, code, _http_message(request, exc), headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "The server failed to handle this request.")
