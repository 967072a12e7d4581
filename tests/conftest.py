"""Shared fixtures. ``embedded_server``: a real OpenAI-compatible server with a tiny local model."""
