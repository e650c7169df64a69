"""Chaining frame matches into runs of shared footage, on hand-made prints."""

import numpy as np

from vsearch.duplicates.finder import find_spans
from vsearch.duplicates.match import VideoPrints, chains
from vsearch.media.fingerprint import PRINT_DIM, PRINT_SCALE


def _prints(seed: int, count: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, PRINT_DIM))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return np.round(rows * PRINT_SCALE).astype(np.int8)


def _video(video_id: int, prints: np.ndarray, start: float = 0.25, step: float = 0.5) -> VideoPrints:
    return VideoPrints(video_id, (start + step * np.arange(len(prints))).astype(np.float32), prints)


def test_a_chain_goes_forward_in_both_videos_and_tolerates_drift():
    ta = np.arange(10, dtype=np.float32)
    tb = ta * 0.8 + 3  # the copy lost a fifth of its frames and starts 3 s later
    noise = np.array([2.0, 7.0], dtype=np.float32)  # two matches out of order
    found = chains(np.r_[ta, noise], np.r_[tb, [20.0, 0.0]], np.ones(12, np.float32))
    assert len(found) == 1 and sorted(found[0].tolist()) == list(range(10))


def test_a_trimmed_copy_is_a_copy_with_its_offset():
    frames = _prints(1, 24)
    spans = find_spans([_video(1, frames), _video(2, frames[6:])])
    assert len(spans) == 1
    span = spans[0]
    assert span.kind == "copy" and span.video_a == 1 and span.video_b == 2
    assert span.offset == -3.0 and span.coverage == 1.0 and span.frames == 18
    assert span.a_start == 3.0 and span.b_start == 0.0


def test_a_shared_opening_is_shared_footage_not_a_copy():
    opening = _prints(9, 4)
    spans = find_spans([_video(1, np.r_[opening, _prints(1, 20)]), _video(2, np.r_[opening, _prints(2, 20)])])
    assert [(s.kind, s.frames, s.a_start, s.a_end) for s in spans] == [("shared", 4, 0.0, 2.0)]


def test_different_footage_shares_nothing():
    assert find_spans([_video(1, _prints(1, 20)), _video(2, _prints(2, 20)), _video(3, _prints(3, 5))]) == []


def test_only_pairs_with_the_given_videos_are_searched():
    frames = _prints(1, 10)
    videos = [_video(1, frames), _video(2, frames), _video(3, frames)]
    assert {(s.video_a, s.video_b) for s in find_spans(videos)} == {(1, 2), (1, 3), (2, 3)}
    assert {(s.video_a, s.video_b) for s in find_spans(videos, among=[3])} == {(1, 3), (2, 3)}
