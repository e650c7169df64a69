"""Errors a user can act on. The CLI prints their message (no traceback) and exits non-zero."""


class VsearchError(Exception):
    """Base class: the message says what went wrong and what to do next."""

    exit_code = 3


class ModelLoadError(VsearchError):
    pass


class ModelMismatchError(VsearchError):
    pass


class EmptyLibraryError(VsearchError):
    pass


class DecodeError(Exception):
    """A single file cannot be decoded; ingest records it as failed and goes on."""
