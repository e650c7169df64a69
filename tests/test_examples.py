"""Example queries ("more like this"): a library clip, an image, a clip of a video file; ranked by the cosine
of X-CLIP video embeddings, checked against a brute-force scan of every stored vector."""

import numpy as np
import pytest

from tests.conftest import DATABASES, ingested_once
from tests.videos import GOOD
from vsearch.examples import VIDEO_COSINE, ExampleError, clip_example, image_example, video_example
from vsearch.filters import SearchFilter
from vsearch.search import search
from vsearch.store import repo


@pytest.fixture(scope="module", params=DATABASES)
def examples(request, tmp_path_factory, checkpoint, xclip, video_files):
    with ingested_once(request.param, tmp_path_factory.mktemp("examples"), checkpoint, xclip,
                       [video_files[name] for name in GOOD]) as once:
        yield once.library


def _every_vector(library):
    """Every clip's stored vector, by id."""
    with library.store.session() as session:
        return {int(i): v for ids, vectors in repo.iter_embeddings(session) for i, v in zip(ids, vectors)}


def test_more_like_a_clip_is_the_cosine_ranking_without_the_clip(examples):
    vectors = _every_vector(examples)
    clip_id = sorted(vectors)[3]
    example = clip_example(examples, clip_id)
    response = search(examples, "", k=1000, group="clip", example=example)
    assert response.ranking == VIDEO_COSINE and response.query == f"clip {clip_id}"
    expected = sorted(((float(vectors[i] @ vectors[clip_id]), i) for i in vectors if i != clip_id), reverse=True)
    assert [r.clip_id for r in response.results] == [i for _, i in expected]
    assert [r.score for r in response.results] == pytest.approx([s for s, _ in expected], abs=1e-5)
    assert all(r.relevance is None for r in response.results)


@pytest.mark.parametrize("group", ["moment", "video"])
def test_example_results_come_in_every_unit_without_the_clip(examples, group):
    vectors = _every_vector(examples)
    clip_id = sorted(vectors)[0]
    results = search(examples, "", k=50, group=group, example=clip_example(examples, clip_id)).results
    moments = [m for r in results for m in r.moments] if group == "video" else results
    assert moments and all(clip_id not in m.clip_ids for m in moments)
    assert all(m.score == pytest.approx(float(vectors[m.clip_id] @ vectors[clip_id]), abs=1e-5) for m in moments)


def test_filters_apply_to_example_queries(examples, video_files):
    vectors = _every_vector(examples)
    folder = str(video_files["vp9"].parent)
    kept = search(examples, "", k=100, group="clip", example=clip_example(examples, sorted(vectors)[0]),
                  filters=SearchFilter.parse([folder], None, None, None, None))
    assert kept.results and all(r.path.startswith(folder) for r in kept.results)


def test_a_clip_of_a_video_file_embeds_as_ingest_did(examples, video_files):
    example = video_example(examples, video_files["h264"], at=0.0)
    with examples.store.session() as session:
        spans = repo.clip_spans(session, list(_every_vector(examples)))
        videos = {v.id: v.path for v in repo.videos_by_id(session, sorted({s[0] for s in spans.values()}))}
        video_id = next(i for i, path in videos.items() if path == str(video_files["h264"]))
        first = repo.clips_in_range(session, video_id, 0, 0)[0]
    stored = np.frombuffer(first[4], dtype=np.float32)
    assert float(example.vector @ stored) > 0.999
    top = search(examples, "", k=1, group="clip", example=example).results[0]
    assert top.clip_id == first[0] and example.clip_id is None  # a file outside the query: its own clip may match


def test_an_image_is_a_still_clip(examples, tmp_path, xclip):
    from PIL import Image

    from vsearch.model.preprocess import preprocess_frames

    frame = np.zeros((48, 64, 3), np.uint8)
    frame[10:30, 20:40] = 255
    Image.fromarray(frame).save(tmp_path / "still.png")
    example = image_example(examples, tmp_path / "still.png")
    expected = xclip.embed_clips(preprocess_frames([frame] * xclip.num_frames, xclip.spec)[None]).vectors[0]
    assert example.vector == pytest.approx(expected, abs=1e-5)
    assert search(examples, "", k=3, example=example).results


def test_bad_examples_say_why(examples, tmp_path, video_files):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ExampleError, match="notes.png: not an image"):
        image_example(examples, tmp_path / "notes.png")
    with pytest.raises(ExampleError, match="no clip 999999"):
        clip_example(examples, 999_999)
    with pytest.raises(ExampleError, match="notes.mp4: cannot use its clip at 0 s .not a readable video"):
        video_example(examples, video_files["text"], at=0.0)
