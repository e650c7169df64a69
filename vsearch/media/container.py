"""Opening a media container with PyAV, across PyAV versions."""

from __future__ import annotations

from pathlib import Path


def open_container(path: str | Path, **options):
    """`av.open` that never fails on undecodable metadata text (tags in a legacy encoding).

    PyAV before 19 raises on such tags unless told `metadata_errors="ignore"`; PyAV 19 dropped that
    option (and the error) and refuses the keyword.
    """
    import av

    try:
        return av.open(str(path), metadata_errors="ignore", **options)
    except TypeError as exc:
        if "metadata_errors" not in str(exc):
            raise
        return av.open(str(path), **options)
