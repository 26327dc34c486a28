"""/openapi.json is true: it matches the app's router, and requests generated from it get no 5xx."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis.core.result import Ok

from tests.conftest import API_KEY
from tests.server_process import ServerProcess
from tests.support import FakeEngine, make_settings
from transcriber.web.app import create_app
from transcriber.web.openapi import load_document

# tus PATCH bodies are raw bytes under their own media type.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

METHODS = ("get", "post", "put", "patch", "delete", "options")
# The contract's 503 on /health is the health body; a range error from a file response has no body.
NOT_ERROR_SHAPED = {("/health", "503"), ("/jobs/{job_id}/audio", "416")}
STREAMS = {"/events", "/jobs/{job_id}/events"}  # never end while the job lives: not fuzzed
EXAMPLES_PER_OPERATION = 12


def router_routes(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) for every route; HEAD comes free with GET in aiohttp."""
    routes = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        resource = route.resource
        assert resource is not None
        path = resource.canonical
        if isinstance(resource, web.StaticResource):
            path = f"{path.rstrip('/')}/{{filename}}"
        routes.add((route.method, path))
    return routes


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item if method in METHODS}


def test_every_route_is_documented_and_every_documented_path_exists(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), engine=FakeEngine())
    in_router, documented = router_routes(app), documented_routes(load_document())
    assert in_router - documented == set(), "routes missing from transcriber/web/openapi.yaml"
    assert documented - in_router == set(), "documented routes the app does not have"
    assert ("POST", "/v1/audio/transcriptions") in in_router & documented


def test_every_operation_documents_its_errors_in_the_right_shape() -> None:
    document = load_document()
    responses = document["components"]["responses"]
    for (method, path), operation in _operations(document):
        codes = operation["responses"]
        if operation.get("security", document["security"]):
            assert "401" in codes, f"{method} {path} needs a 401"
        want = "OpenAIError" if path.startswith("/v1/") else "Error"
        for code, response in codes.items():
            if int(code) < 400 or (path, code) in NOT_ERROR_SHAPED:
                continue
            resolved = responses[response["$ref"].rsplit("/", 1)[1]] if "$ref" in response else response
            schema = resolved["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith(f"/{want}"), f"{method} {path} {code}"


def _operations(document: dict[str, Any]) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    return [
        ((m.upper(), path), op) for path, item in document["paths"].items() for m, op in item.items() if m in METHODS
    ]


async def test_served_document_is_the_source(tiny_server: ServerProcess) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{tiny_server.url}/openapi.json") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"  # open, like /health
        assert await resp.json() == load_document()


async def test_served_document_is_valid_openapi_3_1(tiny_server: ServerProcess) -> None:
    """openapi-spec-validator finds no error in the document the server serves (a YAML slip shows here)."""
    async with aiohttp.ClientSession() as session, session.get(f"{tiny_server.url}/openapi.json") as resp:
        document = await resp.json()
    errors = [f"{list(e.path)}: {e.message}" for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == [] and document["openapi"].startswith("3.1")
    assert all(set(tag) <= {"name", "description"} for tag in document["tags"]), document["tags"]


@pytest.mark.slow
def test_generated_requests_never_get_a_5xx(tiny_server: ServerProcess) -> None:
    """Requests generated from /openapi.json against the running server: no 5xx, documented statuses only."""
    schema = schemathesis.openapi.from_dict(load_document())
    operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]
    operations = [op for op in operations if op.path not in STREAMS]
    seen: dict[str, Counter[int]] = {}
    for operation in operations:
        _fuzz(operation, tiny_server.url, seen.setdefault(f"{operation.method.upper()} {operation.path}", Counter()))
    total = sum(sum(c.values()) for c in seen.values())
    assert all(seen.values()) and len(seen) == len(operations) and total >= 100, seen
    print(f"fuzzed {total} requests over {len(seen)} operations:", {k: dict(v) for k, v in seen.items()})
    health = asyncio.run(tiny_server.wait_ready(timeout=5))
    assert health["status"] == "ok" and tiny_server.proc is not None and tiny_server.proc.poll() is None


def _fuzz(operation: Any, base_url: str, statuses: Counter[int]) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    documented = operation.definition.raw["responses"]

    @given(case=operation.as_strategy(), known_model=st.booleans())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any, known_model: bool) -> None:
        if known_model and isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = "whisper-1"  # past the model check, into the other fields' validation
        response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)
        statuses[response.status_code] += 1
        # /health's 503 is its documented answer (loading or degraded), not a server error
        health_503 = label == "GET /health" and response.status_code == 503
        assert response.status_code < 500 or health_503, f"{label}: {response.status_code} {response.text[:300]}"
        assert str(response.status_code) in documented, f"{label}: undocumented {response.status_code}"

    check()
