"""The HTTP API: a thin FastAPI layer over the library core (`create_app(settings)`)."""

from vsearch.api.app import create_app

__all__ = ["create_app"]
