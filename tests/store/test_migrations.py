"""Migrations are the only way the schema is made: run them up, down and up again."""

import subprocess
import sys
import time

from sqlalchemy import inspect

from vsearch.store.db import current_revision, downgrade, head_revision, make_engine, open_store, upgrade
from vsearch.store.locks import FileLock


def test_upgrade_creates_the_schema(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"videos", "clips", "library_meta", "alembic_version"} <= tables
    engine.dispose()


def test_downgrade_and_upgrade_again(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    downgrade(engine, "base")
    assert "videos" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "clips" in inspect(engine).get_table_names()
    engine.dispose()


def test_open_store_is_idempotent(db_url):
    open_store(db_url).close()
    store = open_store(db_url)
    assert current_revision(store.engine) == head_revision()
    store.close()


# Processes that start together: each waits for the same moment, then opens the store.
_OPEN_AT = """
import sys, time
from vsearch.store.db import current_revision, open_store
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
store = open_store(sys.argv[1])
print(current_revision(store.engine))
store.close()
"""


def test_processes_opening_a_new_library_together_migrate_it_once(db_url):
    start = time.time() + 5.0  # every interpreter is up by then (before the lock, 4 of 10 often failed)
    processes = [
        subprocess.Popen([sys.executable, "-c", _OPEN_AT, db_url, str(start)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(10)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, results):
        assert process.returncode == 0, err
        assert "Traceback" not in err
        assert out.strip() == head_revision()


def test_the_schema_lock_is_free_after_an_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'vsearch.db'}"
    open_store(url).close()
    lock = FileLock(tmp_path / "vsearch.db.lock")
    assert lock.try_acquire()
    lock.release()
