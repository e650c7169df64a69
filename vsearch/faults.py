"""Faults of the world around a library (a full disk, a read-only folder, a database that went away), told
as one line that says what happened and what to do, instead of a traceback.

`explain` turns such an exception into a VsearchError (the CLI prints it; the API answers 503);
`is_disconnect` tells a database that went away from other database errors, for the writers that wait
for it to come back.
"""

from __future__ import annotations

import errno
from pathlib import Path

from vsearch.errors import VsearchError, first_line

_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
_KEPT = "What was indexed stays indexed"


class StorageFullError(VsearchError):
    pass


class ReadOnlyError(VsearchError):
    pass


class DatabaseUnavailableError(VsearchError):
    pass


def _no_space(where) -> StorageFullError:
    return StorageFullError(
        f"no space left on the disk holding {where}. {_KEPT}: free some space (or move the data dir "
        "with --data-dir) and run the command again; it goes on where this one stopped."
    )


def _read_only(where, why: str) -> ReadOnlyError:
    return ReadOnlyError(
        f"cannot write to {where} ({why}): the library is read-only here. `vsearch query`, `status`, `export` "
        "and `serve` work on a read-only library; ingest, prune and reindex need to write: run them where the "
        "data dir is writable."
    )


def cannot_write(reason: str, where) -> VsearchError:
    """The error for a store that cannot be written for `reason` ("full" or "read-only")."""
    return _no_space(where) if reason == "full" else _read_only(where, "read-only file system or folder")


def _chain(exc: BaseException):
    """`exc` and what caused it: explicit causes, a database driver's own error, and the error being handled
    when it was raised (unless that was suppressed)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        following = exc.__cause__ or getattr(exc, "orig", None)
        if following is None and not exc.__suppress_context__:
            following = exc.__context__
        exc = following


def _inside(filename, folder) -> bool:
    if not filename or folder is None:
        return False
    try:
        return Path(filename).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, ValueError):
        return False


def is_disconnect(exc: BaseException) -> bool:
    """A database server that cannot be reached or dropped the connection (not SQLite, whose file is here)."""
    from sqlalchemy import exc as sa

    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (sa.OperationalError, sa.InterfaceError)):
        module = type(exc.orig).__module__ if exc.orig is not None else ""
        return not module.startswith("sqlite3")
    return False


def explain(exc: BaseException, data_dir=None) -> VsearchError | None:
    """The fault behind `exc` as a VsearchError with a message that says what to do; None when `exc` is not
    one of these faults. Permission errors count as a read-only library only for files in `data_dir`
    (a model folder or a video that cannot be read is another matter)."""
    from sqlalchemy import exc as sa

    for link in _chain(exc):
        if isinstance(link, VsearchError):
            return link
        text = str(link)
        if isinstance(link, sa.DBAPIError) and link.orig is not None and type(link.orig).__module__ != "sqlite3":
            reason = first_line(link.orig)
            if "No space left on device" in text or "could not extend file" in text:
                return StorageFullError(f"the database server has no space left ({reason}). {_KEPT}: free space "
                                        "on the database server, then run the command again.")
            if is_disconnect(link):
                return DatabaseUnavailableError(
                    f"cannot reach the database ({reason}). {_KEPT}: check that the database server is running "
                    "and reachable, then run the command again."
                )
            continue
        filename = getattr(link, "filename", None)
        if isinstance(link, OSError) and link.errno in _FULL or "database or disk is full" in text \
                or "No space left on device" in text:
            return _no_space(filename or data_dir or "the data dir")
        if isinstance(link, OSError) and (link.errno == errno.EROFS or (
                link.errno in _READ_ONLY and _inside(filename, data_dir))) \
                or "readonly database" in text or "read-only file system" in text.lower():
            return _read_only(filename or data_dir or "the library", getattr(link, "strerror", None)
                              or first_line(link))
    return None
