"""Migrations are the only way the schema is made: run them up, down and up again."""

from sqlalchemy import inspect

from vsearch.store.db import current_revision, downgrade, make_engine, open_store, upgrade


def test_upgrade_creates_the_schema(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    assert current_revision(engine) == "0001"
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
    assert current_revision(store.engine) == "0001"
    store.close()
