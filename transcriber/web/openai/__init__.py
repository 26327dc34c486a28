"""The OpenAI-compatible /v1 routes, their error shape and their response formats."""
