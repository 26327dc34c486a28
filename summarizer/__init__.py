"""Transcript summarization: an extractive default and an OpenAI-compatible LLM backend."""
