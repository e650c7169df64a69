"""Blank clips on a real library: flagged at ingest, sunk in text results, never answers to an example."""

import numpy as np
import pytest

from tests.conftest import DATABASES, ingested_once
from vsearch.examples import clip_example
from vsearch.media.synthetic import encode, scene
from vsearch.search import search
from vsearch.store.models import Clip


def _black_then_scene(index, width, height, hue):
    return np.zeros((height, width, 3), np.uint8) if index < 40 else scene(index, width, height, hue)


@pytest.fixture(scope="module", params=DATABASES)
def with_blank(request, tmp_path_factory, checkpoint, xclip, video_files):
    folder = tmp_path_factory.mktemp("blank-media")
    opening = encode(folder / "opening.mp4", seconds=12.0, fps=10, painter=_black_then_scene)  # 4 s of black
    white = encode(folder / "white.mp4", seconds=4.0, painter=lambda i, w, h, hue: np.full((h, w, 3), 255, np.uint8))
    with ingested_once(request.param, tmp_path_factory.mktemp("blank"), checkpoint, xclip,
                       [opening, white, video_files["h264"], video_files["vp9"]]) as once:
        assert not once.summary.failed
        yield once.library


def _blank_ids(library):
    with library.store.session() as session:
        return {clip_id for clip_id, blank in session.query(Clip.id, Clip.blank) if blank}


def test_ingest_flags_the_clips_without_content(with_blank):
    with with_blank.store.session() as session:
        rows = {(c.video.path.rsplit("/", 1)[-1], c.ordinal): c.blank for c in session.query(Clip)}
    assert rows[("opening.mp4", 0)] and not rows[("opening.mp4", 1)] and not rows[("opening.mp4", 2)]
    assert rows[("white.mp4", 0)]
    assert not any(blank for (name, _), blank in rows.items() if name in ("h264.mp4", "vp9.webm"))


@pytest.mark.parametrize("group", ["clip", "moment"])
def test_blank_clips_sink_below_the_others_unless_asked_for(with_blank, group):
    blank = _blank_ids(with_blank)
    sunk = search(with_blank, "a white square", k=100, group=group).results
    flags = [r.clip_id in blank for r in sunk]
    assert any(flags) and flags == sorted(flags)  # every blank one after every other
    kept = search(with_blank, "a white square", k=100, group=group, include_blank=True).results
    assert sorted(r.clip_id for r in kept) == sorted(r.clip_id for r in sunk)
    assert [r.score for r in kept] == sorted((r.score for r in kept), reverse=True)


def test_example_queries_never_return_blank_clips(with_blank):
    blank = _blank_ids(with_blank)
    shown = next(r.clip_id for r in search(with_blank, "a white square", k=10, group="clip").results
                 if r.clip_id not in blank)
    found = search(with_blank, "", k=100, group="clip", example=clip_example(with_blank, shown)).results
    assert found and not {r.clip_id for r in found} & blank


def test_example_moments_do_not_grow_into_blank_neighbours(with_blank):
    blank = _blank_ids(with_blank)
    with with_blank.store.session() as session:
        opening = [c.id for c in session.query(Clip).order_by(Clip.ordinal) if c.video.path.endswith("opening.mp4")]
    # so wide a margin that every neighbour is close enough: only blankness stops a moment
    found = search(with_blank, "", k=100, group="moment", tolerance=1000.0,
                   example=clip_example(with_blank, opening[2])).results
    assert found and not {c for m in found for c in m.clip_ids} & blank
