"""The library object: what it reads once, what it never loads, and its index kept in step with the store."""

import pytest
from sqlalchemy import event

from vsearch.ingest import ingest
from vsearch.library import Library
from vsearch.search import search
from vsearch.status import library_status, prune_missing


@pytest.fixture
def count_queries():
    """Counts the SQL statements a library's engine runs inside the `with` block."""

    class Counter:
        def __init__(self, library):
            self.library, self.statements = library, []

        @property
        def count(self):
            return len(self.statements)

        def _seen(self, connection, cursor, statement, *args):
            self.statements.append(statement)

        def __enter__(self):
            event.listen(self.library.store.engine, "before_cursor_execute", self._seen)
            return self

        def __exit__(self, *exc):
            event.remove(self.library.store.engine, "before_cursor_execute", self._seen)

    return Counter


def test_the_recorded_model_is_read_once(library, video_files, count_queries):
    ingest(library, [video_files["short"]])
    reopened = Library(library.settings, model=library.model)
    with count_queries(reopened) as queries:
        for _ in range(10):
            assert reopened.built_with == (library.settings.model_id, library.model.embed_dim)
        reopened.check_model()
    assert queries.count == 0
    reopened.close()


def test_refresh_sees_what_another_process_recorded(library, video_files):
    watcher = Library(library.settings, model=library.model)  # opened before anything was ingested
    assert watcher.built_with == (None, None)
    ingest(library, [video_files["short"]])
    assert watcher.built_with == (None, None) and watcher.refresh() == 0
    assert watcher.built_with == (library.settings.model_id, library.model.embed_dim)
    assert search(watcher, "a", k=1).results
    watcher.close()


def test_deleting_videos_reads_the_model_record_no_more(library, video_files, tmp_path, count_queries):
    import shutil

    folder = tmp_path / "lib"
    folder.mkdir()
    for name in ("short", "h264", "vp9"):
        shutil.copy(video_files[name], folder / video_files[name].name)
    ingest(library, [folder])
    for path in folder.iterdir():
        path.unlink()
    with count_queries(library) as queries:
        assert len(prune_missing(library)) == 3
    assert queries.count and not [s for s in queries.statements if "library_meta" in s]


def _approximate(settings):
    return settings.model_copy(update={"index_threshold": 1, "approximate_index": "hnsw"})


def test_prune_never_loads_the_model(settings, xclip, video_files, tmp_path):
    """An approximate index that must be rebuilt after deletions waits for the next query, which has the model."""
    import shutil

    settings = _approximate(settings)
    folder = tmp_path / "lib"
    folder.mkdir()
    for name in ("short", "h264", "vp9", "mjpeg"):
        shutil.copy(video_files[name], folder / video_files[name].name)
    with_model = Library(settings, model=xclip)
    ingest(with_model, [folder])
    assert with_model.index().spec.chosen_kind == "hnsw"
    with_model.close()

    (folder / video_files["h264"].name).unlink()
    pruning = Library(settings)  # a new process: `vsearch prune`
    assert prune_missing(pruning) == [str(folder / video_files["h264"].name)]
    assert pruning._model is None
    state = library_status(pruning)["index"]["state"]
    pruning.close()
    assert state.endswith("rebuilt on the next query")

    querying = Library(settings, model=xclip)
    assert search(querying, "a", k=1).results
    assert library_status(querying)["index"]["state"] == "up to date"
    querying.close()


def test_a_sweep_of_removed_files_never_loads_the_model(settings, xclip, video_files, tmp_path):
    import shutil

    folder = tmp_path / "lib"
    folder.mkdir()
    for name in ("short", "h264"):
        shutil.copy(video_files[name], folder / video_files[name].name)
    first = Library(settings, model=xclip)
    ingest(first, [folder])
    first.close()
    (folder / video_files["short"].name).unlink()
    sweeping = Library(settings)
    summary = ingest(sweeping, [folder])
    assert summary.removed == [str(folder / video_files["short"].name)] and sweeping._model is None
    assert library_status(sweeping)["index"]["state"] == "up to date"  # exact search: rebuilt without a model
    sweeping.close()


def test_close_disposes_the_engine(settings):
    library = Library(settings)
    pool = library.store.engine.pool
    with library.store.session() as session:
        session.connection()
    assert pool.checkedin() == 1  # the pool keeps the connection open for the next session
    library.close()
    assert pool.checkedin() == 0
