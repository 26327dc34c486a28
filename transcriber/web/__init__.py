"""The HTTP layer: app wiring, handlers, uploads, middlewares, error mapping, SSE, the page and OpenAPI."""
