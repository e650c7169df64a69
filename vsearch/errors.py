"""Errors a user can act on. The CLI prints their message (no traceback) and exits non-zero."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its type's name when it has none: what a one-line report
    of a failure shows (a driver's or a worker's message can run to many lines)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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
