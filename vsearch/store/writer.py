"""The library's writer lock: one process at a time changes a library (ingest, prune, reindex).

Why one writer rather than per-video claims: besides the database, a library is files in its data dir
that have a single writer each (the FAISS index is saved whole, the prompt feature file is written in
place); embedding is bound by the machine's cores, so a second ingest on the same machine would not
finish sooner; and a waiting ingest that walks the tree after the first one finished finds its files
done, so nothing is embedded twice. The lock is a file lock in the data dir, plus a Postgres advisory
lock when the database is Postgres (which also holds across machines sharing that database). Both die
with their holder: a killed ingest never leaves the library locked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from vsearch.errors import VsearchError
from vsearch.store.locks import WRITER_NAMESPACE, AdvisoryLock, FileLock, Holder, acquire

LOCK_FILE = "writer.lock"


class LibraryBusyError(VsearchError):
    """Another process is writing the library and the caller chose not to wait."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class LockLostError(VsearchError):
    """The database went away and, when it came back, another process held the library."""


class WriterLock:
    def __init__(self, data_dir: Path, engine: Engine):
        self.data_dir = data_dir
        self._file = FileLock(data_dir / LOCK_FILE)
        self._advisory = AdvisoryLock(engine, WRITER_NAMESPACE) if engine.dialect.name == "postgresql" else None
        self._holder: Holder | None = None

    @property
    def held(self) -> bool:
        return self._file.held

    def acquire(self, command: str, *, wait: bool = True,
                on_wait: Callable[[Holder | None], None] | None = None) -> None:
        """Take the lock, waiting for its holder unless `wait` is false (then LibraryBusyError)."""
        holder = Holder.me(command)
        for lock in (self._file, self._advisory):
            if lock is None:
                continue
            if not acquire(lock, holder, wait=wait, on_wait=on_wait):
                self.release()
                other = lock.holder()
                raise LibraryBusyError(
                    f"the library (data dir {self.data_dir}) is being changed by "
                    f"{other.describe() if other else 'another vsearch process'}; "
                    "run again when it is done, or leave out --no-wait to wait for it"
                )
        self._holder = holder

    def try_acquire(self, command: str) -> bool:
        try:
            self.acquire(command, wait=False)
        except LibraryBusyError:
            return False
        return True

    def check(self) -> None:
        """After the database came back: the advisory lock died with its session; take it again, or stop if
        another process took it meanwhile."""
        if self._advisory is None or self._advisory.still_held():
            return
        if not self._advisory.try_acquire(self._holder):
            other = self._advisory.holder()
            raise LockLostError(
                "the database restarted and another process took over the library meanwhile "
                f"({other.describe() if other else 'unknown'}); what was indexed is kept: run the ingest again"
            )

    def release(self) -> None:
        if self._advisory is not None:
            self._advisory.release()
        self._file.release()
        self._holder = None
