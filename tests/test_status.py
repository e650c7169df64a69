"""`vsearch status` from the library's own records: counts, failures, the index's state and the features."""

import json

from sqlalchemy import delete

from vsearch.index.files import sidecar_path
from vsearch.ingest import ingest
from vsearch.library import Library
from vsearch.status import library_status
from vsearch.store.models import Clip


def test_an_empty_library(settings):
    library = Library(settings)
    status = library_status(library)
    library.close()
    assert status["model"] is None and status["clips"] == 0 and status["videos"] == {"indexed": 0, "failed": 0}
    assert status["index"]["state"] == "missing; rebuilt on the next query" and status["last_ingest"] is None


def test_after_an_ingest(library, video_files):
    summary = ingest(library, [video_files["short"], video_files["text"]])
    status = library_status(library)
    assert status["model"] == library.settings.model_id and status["embedding_dim"] == library.model.embed_dim
    assert status["videos"] == {"indexed": 1, "failed": 1} and status["clips"] == summary.clips
    assert status["failed"][0]["path"] == str(video_files["text"]) and status["failed"][0]["reason"]
    assert status["index"]["state"] == "up to date" and status["index"]["kind"] == "flat"
    assert status["index"]["size"] == summary.clips and status["index"]["bytes"] > 0
    assert status["last_ingest"]["indexed"] == 1 and status["last_ingest"]["failed"] == 1
    features = status["prompt_features"]
    assert features["enabled"] and features["bytes"] > 0 and features["shape"] == [library.model.prompt_tokens,
                                                                                    library.model.embed_dim]


def test_the_index_state_names_why_it_will_be_rebuilt(library, video_files):
    ingest(library, [video_files["short"], video_files["h264"]])
    path = library.index_path
    sidecar = json.loads(sidecar_path(path).read_text())

    sidecar_path(path).write_text(json.dumps({**sidecar, "model": "another/model"}))
    assert library_status(library)["index"]["state"] == (
        "built with the model 'another/model'; rebuilt on the next query")
    sidecar_path(path).write_text(json.dumps({**sidecar, "dim": 7}))
    assert library_status(library)["index"]["state"].startswith("built for 7-dimensional embeddings")
    sidecar_path(path).write_text(json.dumps(sidecar))
    assert library_status(library)["index"]["state"] == "up to date"

    bigger = Library(library.settings.model_copy(update={"index_threshold": 1}), model=library.model)
    assert library_status(bigger)["index"]["state"].startswith("rebuilt as ivf on the next query")
    bigger.close()

    with library.store.begin() as session:  # the store changes behind the index's back
        session.execute(delete(Clip).where(Clip.id == int(min(library.index().ids()))))
    assert library_status(library)["index"]["state"] == "stale; rebuilt on the next query"
    path.unlink()
    assert library_status(library)["index"]["state"] == "missing; rebuilt on the next query"


def test_without_prompt_features(settings, xclip, video_files):
    library = Library(settings.model_copy(update={"prompt_features": False}), model=xclip)
    ingest(library, [video_files["short"]])
    features = library_status(library)["prompt_features"]
    library.close()
    assert not features["enabled"] and features["bytes"] == 0 and "stage 1" in features["note"]
