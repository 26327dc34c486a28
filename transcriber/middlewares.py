"""HTTP middlewares besides the error mapping: request metrics and bearer API keys."""

from __future__ import annotations

import hmac
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from transcriber import keys
from transcriber.errors import Code, Unauthorized
from transcriber.metrics import Metrics

OPEN_PATHS = ("/health", "/metrics", "/openapi.json")
# GET routes a browser opens without headers (EventSource, <audio>, download links).
TOKEN_IN_QUERY = re.compile(r"/events|/jobs/[^/]+/(events|audio|transcript\.[a-z]+)")


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
        finally:
            metrics.http.labels(request.method, route, str(status)).inc()
            metrics.http_latency.labels(route).observe(time.perf_counter() - started)

    return count_requests


def _route(request: web.Request) -> str:
    """The route template, never the raw path: job ids would explode the label set."""
    resource = request.match_info.route.resource if request.match_info.route else None
    return resource.canonical if resource is not None else "unmatched"


def bearer_token(request: web.Request) -> str:
    given = request.headers.get("Authorization", "")
    return given[7:].strip() if given[:7].lower() == "bearer " else ""


def query_token(request: web.Request) -> str:
    """`?access_token=KEY`, only on the GET routes a browser cannot send headers to; elsewhere only
    the header counts, so keys stay out of most URLs and logs."""
    if request.method == "GET" and TOKEN_IN_QUERY.fullmatch(request.path):
        return request.query.get("access_token", "")
    return ""


def is_page(request: web.Request) -> bool:
    """The web page itself holds no data; it asks for the key before it calls the API."""
    return request.method in ("GET", "HEAD") and (request.path == "/" or request.path.startswith("/static/"))


def key_matches(token: str, api_keys: tuple[str, ...]) -> bool:
    """Constant-time comparison against every configured key."""
    return any(hmac.compare_digest(token.encode(), k.encode()) for k in api_keys)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer API keys when configured; /health, /metrics, /openapi.json and the page's static files stay open."""
    api_keys = request.app[keys.SETTINGS].server.api_keys
    needed = api_keys and request.path not in OPEN_PATHS and not is_page(request)
    if needed and not key_matches(bearer_token(request) or query_token(request), api_keys):
        raise Unauthorized("A valid 'Authorization: Bearer <key>' header is required.", code=Code.UNAUTHORIZED)
    return await handler(request)
