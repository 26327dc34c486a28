"""GET /openapi.json: the OpenAPI 3.1 document kept as readable YAML in openapi.yaml beside this module."""

from __future__ import annotations

import json
from importlib.metadata import version
from importlib.resources import files
from typing import Any

import yaml
from aiohttp import web

DOCUMENT = "openapi.yaml"


def load_document() -> dict[str, Any]:
    """The document, stamped with the installed version (read once, when the app is built)."""
    document: dict[str, Any] = yaml.safe_load(files("transcriber.web").joinpath(DOCUMENT).read_text(encoding="utf-8"))
    document["info"]["version"] = version("transcriber")
    return document


def add_routes(app: web.Application) -> None:
    body = json.dumps(load_document(), ensure_ascii=False)

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json", charset="utf-8")

    app.router.add_get("/openapi.json", openapi)
