"""The one middleware that maps domain errors, aiohttp's HTTP errors and crashes to JSON errors."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from transcriber import errors
from transcriber.jobs.outage import is_disk_full

log = logging.getLogger(__name__)
DISK_FULL_MESSAGE = "The server is out of disk space and could not record this; try again later."

STATUS: dict[type[errors.ServiceError], int] = {
    errors.BadRequest: 400,
    errors.Unauthorized: 401,
    errors.NotFound: 404,
    errors.UploadTimeout: 408,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMedia: 415,
    errors.Locked: 423,
    errors.TooManyRequests: 429,
    errors.Unavailable: 503,
    errors.InsufficientStorage: 507,
    errors.ClientClosed: 499,  # nobody reads it; it counts the request under its own status
}
# aiohttp raises its own HTTP exceptions for routing and protocol errors; give them stable codes.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media",
}


def status_of(exc: errors.ServiceError) -> int:
    return next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 500)


def retry_headers(exc: errors.ServiceError) -> dict[str, str]:
    if exc.retry_after is None:
        return {}
    return {"Retry-After": str(max(1, round(exc.retry_after)))}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error_body(code, message), status=status, headers=headers)


def _http_message(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"No such endpoint: {request.method} {request.path[:200]}."
    if exc.status == 405:
        return f"Method {request.method} is not allowed on {request.path[:200]}."
    text = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
    return f"{text}."[:300]


def _from_http(request: web.Request, exc: web.HTTPException) -> web.Response:
    code = _HTTP_CODES.get(exc.status, f"http_{exc.status}")
    headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
    return error_response(exc.status, code, _http_message(request, exc), headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn typed errors, aiohttp's HTTP errors and crashes into the JSON error shape."""
    try:
        return await handler(request)
    except errors.ServiceError as exc:
        return error_response(status_of(exc), exc.code, exc.message, retry_headers(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http(request, exc)
    except Exception as exc:
        if is_disk_full(exc):  # the disk or the database is full: the caller may try again later
            log.warning("%s %s: out of disk space (%s)", request.method, request.path, type(exc).__name__)
            return error_response(507, errors.Code.INSUFFICIENT_STORAGE, DISK_FULL_MESSAGE)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "The server failed to handle this request.")
