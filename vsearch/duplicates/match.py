"""Matching two videos' frame fingerprints: the runs of footage they share, and whether one is a copy.

Frames whose prints pass the threshold are candidate matches. A run of shared footage is a chain of
matches that goes forward in both videos at about the same pace: the time offset between the videos may
drift a little (a copy with dropped frames, another frame rate) but not jump. The longest chain is found
by dynamic programming, then the next longest among the matches left, and so on. A chain that covers at
least COPY_COVERAGE of either video's printed footage (by time) makes the pair copies (the same video in another
container, codec, resolution or quality, or trimmed at either end); a shorter one is footage they only
share (an opening title, a shot). Flat frames have no print, so black or white stretches match nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_THRESHOLD = 0.85  # print cosine of two frames that show the same picture (bench/duplicates.py)
COPY_COVERAGE = 0.5  # a chain spanning this share of either video's printed footage makes them copies
MIN_FRAMES = 3  # fewer matched frames are no evidence
MAX_GAP = 10.0  # seconds a chain may skip (damaged or dropped footage) between two matches
DRIFT = 1.0  # seconds the offset may move between two matches, plus DRIFT_RATE of the time between them
DRIFT_RATE = 0.25
MAX_CHAINS = 4  # runs of shared footage kept per pair of videos
MAX_PACE = 1.3  # a run plays at most this much faster in one video than in the other (dropped frames, not speed)


@dataclass(frozen=True)
class VideoPrints:
    """A video's printed frames: times (n,) float32 seconds and prints (n, D) int8."""

    video_id: int
    times: np.ndarray
    prints: np.ndarray


@dataclass(frozen=True)
class SharedSpan:
    """Footage videos a < b share. offset: median (time in b − time in a) of the matched frames."""

    video_a: int
    video_b: int
    kind: str  # "copy" or "shared"
    a_start: float
    a_end: float
    b_start: float
    b_end: float
    offset: float
    frames: int
    coverage: float
    similarity: float


def chains(ta: np.ndarray, tb: np.ndarray, sims: np.ndarray, min_frames: int = MIN_FRAMES) -> list[np.ndarray]:
    """Indices of the matches (ta[i], tb[i]) in each chain, longest first (at most MAX_CHAINS, each of at least
    `min_frames` matches, no match in two chains)."""
    left = np.arange(len(ta))
    found = []
    while len(left) >= min_frames and len(found) < MAX_CHAINS:
        chain = _longest_chain(ta[left], tb[left], sims[left])
        if len(chain) < min_frames:
            break
        if not _steady(ta[left[chain]], tb[left[chain]]):  # the same pictures at another pace: other footage
            left = np.setdiff1d(left, left[chain])
            continue
        found.append(left[chain])
        used_a, used_b = set(ta[left[chain]].tolist()), set(tb[left[chain]].tolist())
        # a frame belongs to one run: drop every other match of the chain's frames too
        left = np.array([i for i in left if ta[i] not in used_a and tb[i] not in used_b], dtype=np.int64)
    return found


def _steady(ta: np.ndarray, tb: np.ndarray) -> bool:
    """Whether a chain runs at about the same pace in both videos: over its whole length, not step by step (a
    square sweeping at twice the speed passes every position of a slower one, each step within the drift)."""
    da, db = float(ta[-1] - ta[0]), float(tb[-1] - tb[0])
    if max(da, db) <= 2 * DRIFT:  # too short to tell a pace from the half second between prints
        return True
    return min(da, db) * MAX_PACE + DRIFT >= max(da, db)


def _longest_chain(ta: np.ndarray, tb: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """The chain with the most matches (ties: the higher summed similarity), forward in both videos."""
    order = np.lexsort((tb, ta))
    ta, tb, sims = ta[order], tb[order], sims[order]
    n = len(ta)
    length = np.ones(n, np.int64)
    score = sims.astype(np.float64).copy()
    before = np.full(n, -1, np.int64)
    first = 0  # earliest match within MAX_GAP of the current one
    for i in range(n):
        while ta[i] - ta[first] > MAX_GAP:
            first += 1
        if first == i:
            continue
        j = np.arange(first, i)
        da, db = ta[i] - ta[j], tb[i] - tb[j]
        # forward in both; one side may stay on a frame (thinning kept one frame of a still stretch there, several
        # in the other video)
        ok = (da >= 0) & (db >= 0) & (da + db > 0) & (db <= MAX_GAP) & \
            (np.abs(db - da) <= DRIFT + DRIFT_RATE * np.maximum(da, db))
        if not ok.any():
            continue
        j = j[ok]
        best = j[np.lexsort((score[j], length[j]))[-1]]
        length[i], score[i], before[i] = length[best] + 1, score[best] + sims[i], best
    end = int(np.lexsort((score, length))[-1])
    chain = []
    while end >= 0:
        chain.append(end)
        end = int(before[end])
    return order[np.array(chain[::-1], dtype=np.int64)]


def compare(a: VideoPrints, b: VideoPrints, ia: np.ndarray, ib: np.ndarray, sims: np.ndarray) -> list[SharedSpan]:
    """The footage a and b share, from matches (a's frame ia[k] looks like b's frame ib[k], cosine sims[k])."""
    if a.video_id > b.video_id:
        return compare(b, a, ib, ia, sims)
    spans = []
    step_a, step_b = _half_step(a.times), _half_step(b.times)
    # a video of fewer printed frames (a second or two, a still) must match whole
    for chain in chains(a.times[ia], b.times[ib], sims, min(MIN_FRAMES, len(a.times), len(b.times))):
        ta, tb = a.times[ia[chain]], b.times[ib[chain]]
        # by time, not by frames: a still stretch keeps fewer prints (thinned) but lasts as long
        coverage = max((ta[-1] - ta[0] + 2 * step_a) / _extent(a.times, step_a),
                       (tb[-1] - tb[0] + 2 * step_b) / _extent(b.times, step_b))
        spans.append(SharedSpan(
            a.video_id, b.video_id, "copy" if coverage >= COPY_COVERAGE else "shared",
            max(0.0, float(ta[0]) - step_a), float(ta[-1]) + step_a,
            max(0.0, float(tb[0]) - step_b), float(tb[-1]) + step_b,
            round(float(np.median(tb - ta)), 3), len(chain), round(min(float(coverage), 1.0), 3),
            round(float(sims[chain].mean()), 4)))
    return spans


def _extent(times: np.ndarray, half_step: float) -> float:
    """How long a video's printed footage lasts (flat stretches at either end left out)."""
    return float(times[-1] - times[0]) + 2 * half_step


def _half_step(times: np.ndarray) -> float:
    """Half the usual time between printed frames: how far a run reaches beyond its first and last match."""
    return min(float(np.median(np.diff(times))) / 2, 0.5) if len(times) > 1 else 0.25
