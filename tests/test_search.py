"""Two-stage search ranks exactly as XCLIPModel.forward does, checked by brute force over every clip."""

import numpy as np
import pytest
import torch

from tests.conftest import DATABASES, ingested_once
from tests.videos import GOOD
from vsearch.ingest import ingest
from vsearch.library import Library
from vsearch.search import search
from vsearch.status import iter_export, library_status

QUERIES = ["eating spaghetti", "a red car on the street", "people dancing", "a white ball", "blue sky and water",
           "a dog running"]


def _frames(path, indices):
    """Frames decoded independently with PyAV, upright as a player shows them."""
    import av

    wanted, frames = set(indices), {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                image = frame.to_ndarray(format="rgb24")
                frames[i] = np.ascontiguousarray(np.rot90(image, k=round((frame.rotation or 0) / 90) % 4))
    return [frames[i] for i in indices]


@pytest.fixture(scope="module", params=DATABASES)
def clip_library(request, tmp_path_factory, checkpoint, xclip, video_files):
    """One-second clips over the test videos: 40-odd clips, ingested once for the module (read only)."""
    with ingested_once(request.param, tmp_path_factory.mktemp("clips"), checkpoint, xclip,
                       [video_files[name] for name in GOOD], clip_seconds=1.0, stride_seconds=1.0) as once:
        yield once.library


@pytest.fixture(scope="module")
def brute_force(clip_library, checkpoint):
    """XCLIPModel.forward(input_ids, pixel_values) over every clip of the library, from its frames."""
    from transformers import XCLIPProcessor

    processor = XCLIPProcessor.from_pretrained(checkpoint)
    records = list(iter_export(clip_library, embeddings=False))
    pixels = torch.cat([processor(videos=_frames(r["path"], r["frame_indices"]), return_tensors="pt").pixel_values
                        for r in records])
    ids = np.array([r["clip_id"] for r in records])
    model = clip_library.model

    def scores(text):
        tokens = model.tokenizer([text], return_tensors="pt")
        with torch.inference_mode():
            logits = model.model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                                 pixel_values=pixels).logits_per_video[:, 0].numpy()
        return dict(zip(ids.tolist(), logits.tolist()))

    return scores


def _assert_same_ranking(results, exact, k, rtol=1e-3):
    """Same ids in the same order as the brute force; only scores equal within rtol may swap."""
    best = sorted(exact.items(), key=lambda item: -item[1])[:k]
    assert len(results) == len(best)
    for result, (clip_id, score) in zip(results, best):
        assert result.score == pytest.approx(exact[result.clip_id], rel=rtol)
        if result.clip_id != clip_id:
            assert exact[result.clip_id] == pytest.approx(score, rel=rtol)


def test_library_is_big_enough(clip_library):
    assert library_status(clip_library)["clips"] >= 30


@pytest.mark.parametrize("query", QUERIES)
def test_top10_equals_brute_force_forward(clip_library, brute_force, query):
    clips = library_status(clip_library)["clips"]
    response = search(clip_library, query, k=10, overfetch=clips)  # every clip is a candidate
    assert response.ranking == "xclip"
    _assert_same_ranking(response.results, brute_force(query), 10)


def test_rerank_in_chunks_gives_the_same_ranking(clip_library, brute_force, monkeypatch):
    import vsearch.rerank

    clips = library_status(clip_library)["clips"]
    monkeypatch.setattr(vsearch.rerank, "RERANK_CHUNK", 7)  # several chunks, the last one short
    response = search(clip_library, QUERIES[0], k=10, overfetch=clips)
    assert response.ranking == "xclip" and response.candidates == clips
    _assert_same_ranking(response.results, brute_force(QUERIES[0]), 10)


def test_small_overfetch_misses_the_exact_winner(clip_library, brute_force):
    """Stage 1 alone (N = k) misses X-CLIP's best clip for some query; a larger N finds it."""
    clips = library_status(clip_library)["clips"]
    missed = 0
    for query in QUERIES:
        exact = brute_force(query)
        winner = max(exact, key=exact.get)
        narrow = search(clip_library, query, k=1, overfetch=1)
        if narrow.results[0].clip_id != winner:
            missed += 1
            wide = search(clip_library, query, k=1, overfetch=clips)
            assert wide.results[0].clip_id == winner
    assert missed >= 1


def test_pages_are_slices_of_one_ranking(clip_library):
    """Paging through results shows each clip once: every page inside the first k x overfetch results
    reranks the same candidates, so page 2 cannot repeat or skip a clip of page 1."""
    for query in QUERIES[:3]:
        pages = [search(clip_library, query, k=3, overfetch=4, offset=offset) for offset in (0, 3, 6, 9)]
        paged = [r.clip_id for page in pages for r in page.results]
        whole = [r.clip_id for r in search(clip_library, query, k=12, overfetch=1).results]
        assert paged == whole and len(set(paged)) == 12
        assert [r.rank for page in pages for r in page.results] == list(range(1, 13))


def test_stage_one_only(clip_library):
    response = search(clip_library, "a white ball", k=5, rerank=False)
    # k, and one more that says whether a next page has any
    assert response.ranking == "embedding-cosine" and response.candidates == 6 and len(response.results) == 5
    assert all(-1.0001 <= r.score <= 1.0001 for r in response.results)


def test_without_features_queries_fall_back_and_say_so(settings, xclip, video_files):
    library = Library(settings.model_copy(update={"prompt_features": False}), model=xclip)
    ingest(library, [video_files["h264"]])
    response = search(library, "a white ball", k=2)
    assert response.ranking == "embedding-cosine" and "turned off" in response.notice
    assert library_status(library)["prompt_features"]["enabled"] is False
    library.close()


def test_features_follow_clips_when_files_change(library, fresh_library_folder):
    from vsearch.media.synthetic import encode
    from vsearch.store import repo

    path = fresh_library_folder / "h264.mp4"
    ingest(library, [path])
    store = library.features()
    with library.store.session() as session:
        old = repo.clip_ids_of(session, repo.video_by_path(session, str(path)).id)
    assert store.read(old)[1].all()
    status = library_status(library)["prompt_features"]
    assert status["bytes"] > 0 and status["bytes_per_clip"] > 0 and status["shape"] == [16, 16]

    encode(path, seconds=5.0, hue=8)
    ingest(library, [path])
    with library.store.session() as session:
        new = repo.clip_ids_of(session, repo.video_by_path(session, str(path)).id)
    assert not store.read(old)[1].any() and store.read(new)[1].all()
    assert search(library, "a white ball", k=2).ranking == "xclip"


def test_the_library_tunes_approximate_search_with_its_own_text_encoder(library):
    from vsearch.index.tuning import TUNING_PROMPTS

    queries = library._tuning_queries(may_load=True)()
    assert queries.shape == (len(TUNING_PROMPTS), library.model.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, rtol=1e-5)
