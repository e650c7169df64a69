"""vsearch: semantic search over a video library with Microsoft's X-CLIP."""

__version__ = "0.1.0"
