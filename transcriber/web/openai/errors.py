"""OpenAI's error shape {"error": {"message", "type", "param", "code"}} for the /v1 routes only."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from transcriber.errors import Code, ServiceError
from transcriber.web.error_mapping import retry_headers, status_of

log = logging.getLogger(__name__)
PREFIX = "/v1"
# OpenAI's SDKs obey this header; without it they retry 409 and 5xx answers by themselves.
NO_RETRY = "x-should-retry"

# The form fields an error code of ours points at, so that `param` names what to fix.
_FILE_CODES = frozenset(
    {
        Code.MISSING_FILE,
        Code.EMPTY_FILE,
        Code.MULTIPLE_FILES,
        Code.NOT_AUDIO,
        Code.UPLOAD_TOO_LARGE,
        Code.AUDIO_TOO_LONG,
    }
)
_PARAM_ALIASES = {"initial_prompt": "prompt", "word_timestamps": "timestamp_granularities[]", "task": "model"}


class OpenAIError(Exception):
    """A failure only the /v1 routes report, already in OpenAI's terms."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def invalid_param(message: str, param: str, code: str = "invalid_value") -> OpenAIError:
    return OpenAIError(400, message, code=code, param=param)


def openai_error(
    status: int, message: str, *, kind: str, param: str | None = None, code: str | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    response = web.json_response(body, status=status)
    if status == 409:
        response.headers[NO_RETRY] = "false"  # the same request would conflict again
    return response


def _kind(status: int) -> str:
    if status == 429:
        return "rate_limit_error"  # what the openai SDK's RateLimitError carries
    return "invalid_request_error" if status < 500 else "server_error"


def _param(code: Code) -> str | None:
    if code in _FILE_CODES:
        return "file"
    for prefix in ("invalid_", "unsupported_"):
        if code.startswith(prefix) and code != Code.INVALID_FIELD:
            name = code.removeprefix(prefix)
            return _PARAM_ALIASES.get(name, name)
    return None


def error_response(exc: ServiceError | OpenAIError) -> web.Response:
    """The OpenAI-shaped answer for one of our domain errors or an OpenAI-only one."""
    if isinstance(exc, OpenAIError):
        return openai_error(exc.status, exc.message, kind=_kind(exc.status), param=exc.param, code=exc.code)
    status = status_of(exc)
    if status == 401:
        message = "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'."
        return openai_error(401, message, kind="invalid_request_error", code="invalid_api_key")
    response = openai_error(status, exc.message, kind=_kind(status), param=_param(exc.code), code=str(exc.code))
    response.headers.update(retry_headers(exc))
    return response


def _from_http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    if exc.status == 404:
        message: str = f"Invalid URL ({request.method} {request.path[:200]})"
    elif exc.status == 405:
        message = f"Method {request.method} is not allowed on {request.path[:200]}."
    else:
        message = exc.reason
    codes = {404: "unknown_url", 405: "method_not_allowed", 413: "upload_too_large"}
    response = openai_error(exc.status, message, kind=_kind(exc.status), code=codes.get(exc.status))
    response.headers.update({k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")})
    return response


def is_openai_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On /v1 paths, shape every failure (auth included) as OpenAI's API does; elsewhere pass."""
    if not is_openai_path(request.path):
        return await handler(request)
    try:
        return await handler(request)
    except (ServiceError, OpenAIError) as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http_error(request, exc)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return openai_error(500, "The server had an error while processing your request.", kind="server_error")
