"""Locks that keep vsearch processes out of each other's way: one schema migration at a time, one writer
per library.

Both kinds die with their holder, so a holder killed with SIGKILL never leaves a library stuck:
- `FileLock`: flock(2) on a file beside the SQLite database or in the data dir. The kernel releases it
  when the holder's process ends, however it ends. The file also says who holds it (pid, host, command).
- `AdvisoryLock`: a Postgres session advisory lock on a connection of its own, for databases shared by
  several machines. The server releases it when that connection ends; the connection asks the server to
  probe it with TCP keepalives, so a holder whose machine vanished is noticed within about a minute.
A waiter polls (twice a second): Ctrl-C and SIGTERM stop it at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Engine, text

POLL_SECONDS = 0.5
# Postgres advisory lock keys: (namespace, hashtext(current_schema())), so libraries in separate schemas
# of one database do not wait for each other
MIGRATION_NAMESPACE = 0x76730001
WRITER_NAMESPACE = 0x76730002


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as the holder wrote it down."""

    pid: int
    host: str
    command: str
    since: str

    @classmethod
    def me(cls, command: str) -> Holder:
        return cls(os.getpid(), socket.gethostname(), command, time.strftime("%Y-%m-%d %H:%M:%S"))

    def describe(self) -> str:
        return f"`vsearch {self.command}` (pid {self.pid} on {self.host}, since {self.since})"

    def application_name(self) -> str:
        """The holder as a Postgres application_name (at most 63 bytes)."""
        return f"vsearch {self.command} {self.pid}@{self.host}"[:63]

    @classmethod
    def from_application_name(cls, name: str, since: str) -> Holder | None:
        parts = name.split(" ")
        if len(parts) != 3 or parts[0] != "vsearch" or "@" not in parts[2]:
            return None
        pid, _, host = parts[2].partition("@")
        return cls(int(pid) if pid.isdigit() else 0, host, parts[1], since)


class FileLock:
    """An exclusive flock on `path`; the holder's description is written into the file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self, holder: Holder | None = None) -> bool:
        """Take the lock if it is free. Raises OSError when the file cannot be made (a read-only folder)."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        if holder is not None:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)
            except OSError:  # a full disk: the lock holds all the same, only its holder goes unnamed
                pass
        return True

    def holder(self) -> Holder | None:
        """What the current (or last) holder wrote; None when unknown."""
        try:
            return Holder(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            os.close(fd)  # closing the only descriptor releases the flock


class AdvisoryLock:
    """A Postgres session advisory lock, held on a connection of its own for as long as it is held."""

    def __init__(self, engine: Engine, namespace: int):
        self.engine = engine
        self.namespace = namespace
        self._connection = None

    @property
    def held(self) -> bool:
        return self._connection is not None

    def try_acquire(self, holder: Holder | None = None) -> bool:
        if self._connection is not None:
            return True
        connection = self.engine.connect()
        try:
            if holder is not None:
                connection.execute(text("SELECT set_config('application_name', :name, false)"),
                                   {"name": holder.application_name()})
            for setting, value in (("tcp_keepalives_idle", "30"), ("tcp_keepalives_interval", "10"),
                                   ("tcp_keepalives_count", "3")):
                connection.execute(text("SELECT set_config(:setting, :value, false)"),
                                   {"setting": setting, "value": value})
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:namespace, coalesce(hashtext(current_schema()), 0))"),
                {"namespace": self.namespace},
            ).scalar()
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def still_held(self) -> bool:
        """Whether the lock's connection is alive (a server restart ends it, and the lock with it)."""
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1")).scalar()
            self._connection.commit()
            return True
        except Exception:  # noqa: BLE001 - any failure means the session, and so the lock, is gone
            self._drop()
            return False

    def holder(self) -> Holder | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT a.application_name, to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS') "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                    "AND l.classid::bigint = :namespace "
                    "AND l.objid::bigint = (coalesce(hashtext(current_schema()), 0)::bigint & 4294967295) "
                    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"namespace": self.namespace},
            ).first()
        if row is None:
            return None
        return Holder.from_application_name(row[0] or "", row[1] or "?")

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock_all()"))
                self._connection.commit()
            except Exception:  # noqa: BLE001 - a dead session holds nothing any more
                pass
            self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        try:
            connection.invalidate()
            connection.close()
        except Exception:  # noqa: BLE001
            pass


def acquire(lock, holder: Holder | None, *, wait: bool = True,
            on_wait: Callable[[Holder | None], None] | None = None) -> bool:
    """Take `lock`, waiting for its holder while `wait` (after one `on_wait(holder)` call); False when busy
    and not waiting."""
    if lock.try_acquire(holder):
        return True
    if not wait:
        return False
    if on_wait is not None:
        on_wait(lock.holder())
    while not lock.try_acquire(holder):
        time.sleep(POLL_SECONDS)
    return True


def say_waiting(what: str) -> Callable[[Holder | None], None]:
    """An `on_wait` that prints one line on stderr."""

    def report(holder: Holder | None) -> None:
        who = holder.describe() if holder else "another vsearch process"
        print(f"waiting for {who} to finish {what}...", file=sys.stderr, flush=True)

    return report
