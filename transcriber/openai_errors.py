"""OpenAI's error shape {"error": {"message", "type", "param", "code"}} for the /v1 routes only."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from transcriber.errors import BadRequest, ServiceError

log = logging.getLogger(__name__)
PREFIX = "/v1"

# The form fields an error code of ours points at, so that `param` names what to fix.
_FILE_CODES = frozenset(
    {"missing_file", "empty_file", "multiple_files", "not_audio", "upload_too_large", "audio_too_long"}
)
_PARAM_ALIASES = {"initial_prompt": "prompt", "word_timestamps": "timestamp_granularities[]", "task": "model"}
# OpenAI's SDKs obey this header; without it they retry 409 and 5xx answers by themselves.
NO_RETRY = "x-should-retry"
_PASSED_HEADERS = ("retry-after", "x-job-id", NO_RETRY)


class InvalidParam(BadRequest):
    """A 400 that names the offending OpenAI parameter."""

    code = "invalid_value"

    def __init__(self, message: str, *, param: str, code: str | None = None):
        super().__init__(message, code=code)
        self.param = param


def openai_error(
    status: int, message: str, *, kind: str, param: str | None = None, code: str | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status)


def _kind(status: int) -> str:
    if status == 429:
        return "rate_limit_error"  # what the openai SDK's RateLimitError carries
    return "invalid_request_error" if status < 500 else "server_error"


def _param(exc: ServiceError) -> str | None:
    if isinstance(exc, InvalidParam):
        return exc.param
    code = exc.error_code
    if code in _FILE_CODES:
        return "file"
    for prefix in ("invalid_", "unsupported_"):
        if code.startswith(prefix):
            name = code.removeprefix(prefix)
            return _PARAM_ALIASES.get(name, name)
    return None


def _from_service_error(exc: ServiceError) -> web.Response:
    if exc.status == 401:
        response = openai_error(
            401,
            "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.",
            kind="invalid_request_error",
            code="invalid_api_key",
        )
    else:
        response = openai_error(exc.status, exc.message, kind=_kind(exc.status), param=_param(exc), code=exc.error_code)
    response.headers.update({k: v for k, v in exc.headers.items() if k.lower() in _PASSED_HEADERS})
    if exc.status == 409:
        response.headers[NO_RETRY] = "false"  # the same request would conflict again
    return response


def _from_http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    if exc.status == 404:
        message: str = f"Invalid URL ({request.method} {request.path[:200]})"
    elif exc.status == 405:
        message = f"Method {request.method} is not allowed on {request.path[:200]}."
    else:
        message = exc.reason
    response = openai_error(exc.status, message, kind=_kind(exc.status), code=_http_code(exc.status))
    response.headers.update({k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")})
    return response


def _http_code(status: int) -> str | None:
    codes: dict[int, Any] = {404: "unknown_url", 405: "method_not_allowed", 413: "upload_too_large"}
    return codes.get(status)


def is_openai_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On /v1 paths, shape every failure (auth included) as OpenAI's API does; elsewhere pass."""
    if not is_openai_path(request.path):
        return await handler(request)
    try:
        return await handler(request)
    except ServiceError as exc:
        return _from_service_error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http_error(request, exc)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return openai_error(500, "The server had an error while processing your request.", kind="server_error")
