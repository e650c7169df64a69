"""Database: engine factory and migrations (run whenever a library's store is opened).

Any number of processes may open a library at once: the schema is created or upgraded by one of them,
under a lock (a file beside a SQLite database, an advisory lock on Postgres), while the others wait
for it and then find it done.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from vsearch.store.locks import MIGRATION_NAMESPACE, FileLock, Holder, acquire, say_waiting


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets its folder created, WAL and foreign keys (and is opened read-only
    where its folder cannot be written)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            path = Path(parsed.database).expanduser()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass
            if sqlite_read_only(path) == "read-only":
                url = _read_only_sqlite_url(path)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            # readers (the server) go on while ingest writes. The mode is kept in the file: set it once
            # (switching needs the database to itself, which a process opening it beside another lacks)
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() not in ("wal", "memory"):
                try:
                    cursor.execute("PRAGMA journal_mode=WAL")
                except sqlite3.OperationalError:  # busy, or a read-only database: the next connection tries
                    pass
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


# SQLite in WAL mode makes a shared-memory file (-shm, 32 KiB) beside the database even to read
_SHM_ROOM = 64 * 1024


def sqlite_read_only(path: Path) -> str | None:
    """Why an existing SQLite database must be opened read-only: "read-only" (its folder cannot be written:
    a read-only mount, a library shared read-only) or "full" (no room left for its shared-memory file);
    None when it can be written."""
    path = Path(path)
    if not path.exists() or path.with_name(path.name + "-shm").exists():
        return None
    if not os.access(path.parent, os.W_OK):
        return "read-only"
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return None
    return "full" if stats.f_bavail * stats.f_frsize < _SHM_ROOM else None


def _read_only_sqlite_url(path: Path) -> str:
    """A database in a folder nobody here can write to, with no shared-memory file: nobody is writing it
    (a writer would have made that file), so it is opened as immutable, which needs no shared memory.
    A process that opened it so does not see later changes made through another, writable, path."""
    return f"sqlite:///file:{quote(str(path))}?mode=ro&immutable=1&uri=true"


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("vsearch.migrations")))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


@contextmanager
def _sqlite_migration_lock(engine: Engine):
    """A lock file beside the database; none where the folder is read-only (nobody can migrate there)."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock = FileLock(Path(database).expanduser().with_name(Path(database).name + ".lock"))
    try:
        acquire(lock, Holder.me("migrate"), on_wait=say_waiting("upgrading the database schema"))
    except OSError:
        yield
        return
    try:
        yield
    finally:
        lock.release()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default), one process at a time: a process that
    waited finds the work done (alembic reads the version again under the lock)."""
    from alembic import command

    config = _alembic_config()
    if engine.dialect.name == "sqlite":
        with _sqlite_migration_lock(engine), engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # held until this transaction ends, on every machine
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:namespace, coalesce(hashtext(current_schema()), 0))"),
                {"namespace": MIGRATION_NAMESPACE},
            )
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class Store:
    """A library's database: owns its engine (disposed by `close`) and hands out sessions.
    `read_only` says why it can only be read ("read-only", "full"), or is None."""

    def __init__(self, engine: Engine, read_only: str | None = None):
        self.engine = engine
        self.read_only = read_only
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def session(self) -> Session:
        """A session for reading (`with store.session() as session:`); the caller commits if it writes."""
        return self._sessions()

    def begin(self):
        """A session in a transaction, committed when the `with` block ends (rolled back on an error)."""
        return self._sessions.begin()

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> Store:
    """Open the database at `url`, migrating it first when its schema is older than this vsearch."""
    from vsearch import faults

    parsed = make_url(url)
    read_only = None
    if parsed.get_backend_name() == "sqlite" and parsed.database and not parsed.query.get("uri"):
        path = Path(parsed.database).expanduser()
        read_only = sqlite_read_only(path)
        if read_only == "full":  # SQLite cannot even read without room for its shared memory
            raise faults.cannot_write("full", path.parent)
    engine = make_engine(url)
    if current_revision(engine) != head_revision():
        if read_only:
            engine.dispose()
            raise faults.ReadOnlyError(
                f"the library's database ({parsed.database}) was made by an earlier vsearch and must be upgraded, "
                "which its read-only folder does not allow: run `vsearch status` once where it is writable."
            )
        upgrade(engine)
    return Store(engine, read_only)
