"""HTTP middlewares besides the error mapping: request metrics and bearer API keys."""

from __future__ import annotations

import asyncio
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from transcriber.errors import Code, Unauthorized
from transcriber.jobs.owners import OPEN, Caller, Keyring
from transcriber.metrics import Metrics

CLIENT_CLOSED = 499  # nginx's status for a request whose client left before the answer
OPEN_PATHS = ("/health", "/metrics", "/openapi.json")
# GET routes a browser opens without headers (EventSource, <audio>, download links).
TOKEN_IN_QUERY = re.compile(r"/events|/jobs/[^/]+/(events|audio|transcript\.[a-z]+)|/v1/realtime")
KEY_SUBPROTOCOL = "openai-insecure-api-key."  # how a browser's WebSocket carries a key (OpenAI's name)


def metrics_middleware(metrics: Metrics) -> Middleware:
    """Counts requests by route template and status, and times them."""

    @web.middleware
    async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = _route(request)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:  # aiohttp cancels the handler of a client that went away
            status = CLIENT_CLOSED if client_gone(request) else status
            raise
        finally:
            metrics.http.labels(request.method, route, str(status)).inc()
            metrics.http_latency.labels(route).observe(time.perf_counter() - started)

    return count_requests


def client_gone(request: web.Request) -> bool:
    """The client has closed its connection: nothing sent to it now arrives."""
    return request.transport is None or request.transport.is_closing()


def _route(request: web.Request) -> str:
    """The route template, never the raw path: job ids would explode the label set."""
    resource = request.match_info.route.resource if request.match_info.route else None
    return resource.canonical if resource is not None else "unmatched"


def bearer_token(request: web.Request) -> str:
    given = request.headers.get("Authorization", "")
    return given[7:].strip() if given[:7].lower() == "bearer " else ""


CALLER = web.RequestKey("caller", Caller)


def caller_of(request: web.Request) -> Caller | None:
    """Who sent the request; None only on the open paths without a valid key."""
    return request.get(CALLER)


def scope_of(request: web.Request) -> str | None:
    """The owner the caller is limited to (isolate_keys), or None for every job."""
    caller = request.get(CALLER)
    return caller.scope if caller is not None else None


def subprotocol_token(request: web.Request) -> str:
    """The key a WebSocket handshake offers as the `openai-insecure-api-key.<key>` subprotocol."""
    for offered in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        if offered.strip().startswith(KEY_SUBPROTOCOL):
            return offered.strip()[len(KEY_SUBPROTOCOL) :]
    return ""


def query_token(request: web.Request) -> str:
    """`?access_token=KEY`, only on the GET routes a browser cannot send headers to; elsewhere only
    the header counts, so keys stay out of most URLs and logs."""
    if request.method == "GET" and TOKEN_IN_QUERY.fullmatch(request.path):
        return request.query.get("access_token", "")
    return ""


def is_page(request: web.Request) -> bool:
    """The web page itself holds no data; it asks for the key before it calls the API."""
    return request.method in ("GET", "HEAD") and (request.path == "/" or request.path.startswith("/static/"))


def auth_middleware(keyring: Keyring) -> Middleware:
    """Bearer API keys when configured; /health, /metrics, /openapi.json and the page's static files stay open."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        caller = (
            keyring.identify(bearer_token(request) or subprotocol_token(request) or query_token(request))
            if keyring.enabled
            else OPEN
        )
        if caller is None and request.path not in OPEN_PATHS and not is_page(request):
            raise Unauthorized("A valid 'Authorization: Bearer <key>' header is required.", code=Code.UNAUTHORIZED)
        if caller is not None:
            request[CALLER] = caller
        return await handler(request)

    return authenticate
