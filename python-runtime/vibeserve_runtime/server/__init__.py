"""OpenAI-compatible HTTP API (FastAPI + uvicorn) over an asynchronous wrapper of the engine."""
