"""Relevance, the cut-off and the date sort, on a real library: relevance checked against X-CLIP's own
prompt generator, the cut-off against the uncut ranking."""

import os
import shutil
from datetime import datetime, timezone

import numpy as np
import pytest

from tests.conftest import DATABASES, ingested_once
from tests.videos import GOOD
from vsearch.errors import VsearchError
from vsearch.model.scoring import reference_scores
from vsearch.relevance import (
    CALIBRATED_MIN_RELEVANCE,
    DEFAULT_MIN_RELEVANCE,
    EVERYDAY_PROMPTS,
    RelevanceBank,
    bank_prompts,
    default_min_relevance,
    match_level,
    read_prompts,
    words,
)
from vsearch.search import search
from vsearch.store import repo

QUERIES = ["eating spaghetti", "a white ball", "people dancing"]
DAY = 86_400


@pytest.fixture(scope="module", params=DATABASES)
def dated(request, tmp_path_factory, checkpoint, xclip, video_files):
    """The good videos, each recorded (file mtime) a day after the one before, in two-second clips."""
    folder = tmp_path_factory.mktemp("dated-media")
    paths = []
    for number, name in enumerate(GOOD):
        target = folder / video_files[name].name
        shutil.copy(video_files[name], target)
        stamp = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp() + number * DAY
        os.utime(target, (stamp, stamp))
        paths.append(target)
    with ingested_once(request.param, tmp_path_factory.mktemp("relevance"), checkpoint, xclip, paths,
                       clip_seconds=2.0, stride_seconds=1.0) as once:
        assert not once.summary.failed, once.summary.as_text()
        yield once.library


def test_words_ignore_case_punctuation_and_articles():
    assert words("A Dog, running!") == words("dog running") == "dog running"
    assert words("the cat") != words("a dog")


def test_relevance_is_the_query_share_of_the_softmax_without_its_own_words(xclip):
    bank = RelevanceBank(["a dog running", "a cat", "a bird"], xclip)
    query_logits = np.array([2.0, 0.0])
    bank_logits = np.array([[9.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    shares = bank.relevance("some query", query_logits, bank_logits)
    expected = np.exp([2.0, 0.0]) / (np.exp([2.0, 0.0]) + np.exp(bank_logits).sum(axis=1))
    assert shares == pytest.approx(expected, rel=1e-5)
    # the bank's "a dog running" is the query's own words: left out
    own = bank.relevance("Dog running.", query_logits, bank_logits)
    assert own == pytest.approx(np.exp([2.0, 0.0]) / (np.exp([2.0, 0.0]) + np.exp(bank_logits[:, 1:]).sum(axis=1)))
    assert ((0 <= own) & (own <= 1)).all()


def test_a_match_level_is_one_more_competitor_at_a_fixed_logit(xclip):
    bank = RelevanceBank(["a cat", "a bird"], xclip, level=3.0)
    query_logits = np.array([2.0, 8.0])
    bank_logits = np.array([[1.0, 0.0], [1.0, 0.0]])
    expected = np.exp(query_logits) / (np.exp(query_logits) + np.exp(bank_logits).sum(axis=1) + np.exp(3.0))
    assert bank.relevance("a dog", query_logits, bank_logits) == pytest.approx(expected, rel=1e-5)
    # a clip no bank prompt describes: the least bad description no longer takes all of the share
    unleveled = RelevanceBank(["a cat", "a bird"], xclip).relevance("a dog", query_logits, bank_logits)
    assert unleveled[0] > 0.6 and expected[0] < 0.3 and expected[1] > 0.99


def test_the_match_level_comes_from_the_setting_else_the_checkpoints_calibration(settings, tmp_path):
    assert match_level(settings) is None  # the test checkpoint was not calibrated
    model = tmp_path / "model"
    model.mkdir()
    (model / "relevance_calibration.json").write_text('{"match_level": 27.5}')
    assert match_level(settings.model_copy(update={"model": str(model)})) == 27.5
    assert match_level(settings.model_copy(update={"model": str(model), "relevance_match_level": 30.0})) == 30.0
    uncut = settings.model_copy(update={"min_relevance": None})
    assert default_min_relevance(uncut) == DEFAULT_MIN_RELEVANCE
    assert default_min_relevance(uncut.model_copy(update={"model": str(model)})) == CALIBRATED_MIN_RELEVANCE
    assert default_min_relevance(uncut.model_copy(update={"model": str(model), "min_relevance": 0.5})) == 0.5
    # a calibration that carries its own cut-off (vsearch finetune writes one): used unless the level is set
    (model / "relevance_calibration.json").write_text('{"match_level": 27.5, "min_relevance": 0.97}')
    assert default_min_relevance(uncut.model_copy(update={"model": str(model)})) == 0.97
    leveled = uncut.model_copy(update={"model": str(model), "relevance_match_level": 30.0})
    assert default_min_relevance(leveled) == CALIBRATED_MIN_RELEVANCE
    (model / "relevance_calibration.json").write_text("{}")
    with pytest.raises(VsearchError, match="VSEARCH_RELEVANCE_MATCH_LEVEL"):
        match_level(settings.model_copy(update={"model": str(model)}))


def test_the_bank_holds_everyday_prompts_the_checkpoints_own_and_the_users(settings, tmp_path, checkpoint):
    assert bank_prompts(settings) == EVERYDAY_PROMPTS  # the test checkpoint has no bank file
    model = tmp_path / "model"
    model.mkdir()
    (model / "relevance_prompts.txt").write_text("# learnt\na red square moving left\nA dog running\n")
    mine = tmp_path / "mine.txt"
    mine.write_text("a lab bench\n\n  a pipette  \n")
    prompts = bank_prompts(settings.model_copy(update={"model": str(model), "relevance_prompts": mine}))
    assert prompts == EVERYDAY_PROMPTS + ["a red square moving left", "a lab bench", "a pipette"]
    assert read_prompts(mine) == ["a lab bench", "a pipette"]


def test_bank_scores_are_xclips_own(dated, xclip):
    """Each bank prompt's score of a clip is XCLIPModel's logits_per_video (through its prompt generator)."""
    bank = dated.relevance_bank()
    ids = [r.clip_id for r in search(dated, "a white ball", k=4, group="clip").results]
    with dated.store.session() as session:
        vectors = repo.clip_vectors(session, ids)
    features, present = dated.features().read(ids)
    assert present.all()
    got = bank.scores(ids, vectors, features)
    videos = np.stack([vectors[i] for i in ids])
    for column, projection in enumerate(bank.projections[:5]):
        expected = reference_scores(xclip.model, projection, videos, features.astype(np.float32))
        assert got[:, column] == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert np.array_equal(bank.scores(ids, vectors, features), got)


@pytest.mark.parametrize("group", ["clip", "moment", "video"])
def test_every_result_has_the_relevance_of_its_best_clip(dated, group):
    response = search(dated, "a white ball", k=5, group=group)
    bank = dated.relevance_bank()
    results = response.results
    assert results and all(0 <= r.relevance <= 1 for r in results)
    moments = [m for r in results for m in r.moments] if group == "video" else results
    ids = [m.clip_id for m in moments]
    with dated.store.session() as session:
        vectors = repo.clip_vectors(session, ids)
    features, _ = dated.features().read(ids)
    expected = bank.relevance("a white ball", np.array([m.score for m in moments]), bank.scores(ids, vectors, features))
    assert [m.relevance for m in moments] == pytest.approx(expected.tolist(), abs=1e-5)
    if group == "video":
        assert all(r.relevance == r.moments[0].relevance for r in results)


@pytest.mark.parametrize("group", ["clip", "moment", "video"])
@pytest.mark.parametrize("query", QUERIES)
def test_the_cut_off_keeps_exactly_the_results_above_it_in_rank_order(dated, group, query):
    whole = search(dated, query, k=1000, group=group).results
    values = sorted({r.relevance for r in whole})
    cut = values[len(values) // 2]  # about half pass
    kept = search(dated, query, k=1000, group=group, min_relevance=cut)
    expected = [(r.video_id, r.score) for r in whole if r.relevance >= cut]
    if group == "video":  # the cut applies to moments: a video is listed with its best moment that passes
        moments = search(dated, query, k=1000, group="moment", min_relevance=cut).results
        expected = []
        for m in moments:
            if m.video_id not in {v for v, _ in expected}:
                expected.append((m.video_id, m.score))
        assert all(m.relevance >= cut for r in kept.results for m in r.moments)
    assert [(r.video_id, r.score) for r in kept.results] == expected
    assert [r.rank for r in kept.results] == list(range(1, len(expected) + 1))
    assert not kept.no_good_match
    pages = [search(dated, query, k=2, offset=offset, group=group, min_relevance=cut) for offset in range(0, 12, 2)]
    paged = [(r.video_id, r.score) for page in pages for r in page.results]
    assert paged == expected[:12]


def test_nothing_above_the_cut_off_is_no_good_match_with_the_best_below(dated):
    whole = search(dated, "people dancing", k=3, group="moment")
    response = search(dated, "people dancing", k=3, group="moment", min_relevance=1.0)
    assert response.results == [] and response.no_good_match
    assert [(r.clip_id, r.relevance) for r in response.below_cutoff] == [(r.clip_id, r.relevance) for r in whole.results]
    data = response.as_json()
    assert data["no_good_match"] is True and data["min_relevance"] == 1.0 and len(data["below_cutoff"]) == 3


@pytest.mark.parametrize("group", ["clip", "moment", "video"])
def test_date_sort_puts_the_newest_recorded_first(dated, group):
    by_relevance = search(dated, "a white ball", k=200, group=group).results
    by_date = search(dated, "a white ball", k=200, group=group, sort="date")
    assert by_date.sort == "date"
    dates = [r.video.recorded_at for r in by_date.results]
    assert dates == sorted(dates, reverse=True) and len(set(dates)) > 1
    key = (lambda r: r.video_id) if group == "video" else (lambda r: (r.clip_id, r.score))
    assert sorted(map(key, by_date.results)) == sorted(map(key, by_relevance))
    page = search(dated, "a white ball", k=3, offset=3, group=group, sort="date").results
    assert [key(r) for r in page] == [key(r) for r in by_date.results[3:6]]
