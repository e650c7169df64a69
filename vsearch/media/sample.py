"""Sample: cut a video's timeline into clip windows and pick each window's frames. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-6
# a last window must show at least this share of a clip that no other window shows (else it stretches the one before)
TAIL_SHARE = 0.25


@dataclass(frozen=True)
class ClipPlan:
    """One clip: its span in seconds and the frames sampled for it (indices in presentation order)."""

    ordinal: int
    start: float
    end: float
    frame_indices: tuple[int, ...]
    frame_times: tuple[float, ...]


def plan_windows(duration: float, clip_seconds: float, stride_seconds: float) -> list[tuple[float, float]]:
    """Windows of `clip_seconds`, every `stride_seconds`, covering [0, duration] with no gap.

    A video shorter than one clip is one window over all of it. The last window of a longer video
    ends exactly at its end, so its tail is searchable too: it is a window of its own when it adds at
    least `TAIL_SHARE` of a clip of footage no other window shows; otherwise the window before it
    stretches to the end (at most that share longer than a clip). A window ending where another one
    almost does would be that one's twin in every result (a 4.004 s video cut into 0-4 s and 0.004-4.004 s).
    """
    if clip_seconds <= 0 or stride_seconds <= 0:
        raise ValueError("clip and stride must be positive")
    if stride_seconds > clip_seconds + _EPS:
        raise ValueError("stride longer than the clip would leave parts of videos unsearchable")
    duration = max(float(duration), 0.0)
    if duration <= clip_seconds + _EPS:
        return [(0.0, duration)]
    starts: list[float] = []
    start = 0.0
    while start + clip_seconds < duration - _EPS:
        starts.append(start)
        start = round(start + stride_seconds, 9)
    windows = [(s, s + clip_seconds) for s in starts]
    new_footage = duration - windows[-1][1]
    if new_footage >= TAIL_SHARE * clip_seconds - _EPS:
        windows.append((duration - clip_seconds, duration))
    elif new_footage > _EPS:
        windows[-1] = (windows[-1][0], duration)
    return windows


def sample_frame_indices(frame_times: np.ndarray, start: float, end: float, num_frames: int) -> np.ndarray:
    """Indices of the frames on screen at `num_frames` instants evenly spread over [start, end).

    Instant j is at the centre of the j-th of `num_frames` equal slices of the window; the frame
    shown then is the last one whose presentation time is not after it. This holds for variable
    frame rate too, since it works on real timestamps.
    """
    times = np.maximum.accumulate(np.asarray(frame_times, dtype=np.float64))
    if times.size == 0:
        raise ValueError("no frames")
    instants = start + (np.arange(num_frames) + 0.5) * (end - start) / num_frames
    indices = np.searchsorted(times, instants + _EPS, side="right") - 1
    return np.clip(indices, 0, times.size - 1)


def video_duration(frame_times: np.ndarray, stated: float | None = None) -> float:
    """From the first frame's start to the last frame's end.

    The last frame lasts as long as the gap before it, but not past the duration the file
    states (when that is after the last frame's start): frames can be irregular at the end.
    """
    times = np.asarray(frame_times, dtype=np.float64)
    if times.size == 0:
        return 0.0
    gaps = np.diff(times)
    gaps = gaps[gaps > 0]
    last_start = float(times[-1] - times[0])
    end = last_start + (float(gaps[-1]) if gaps.size else 0.04)
    if stated is not None and last_start < stated < end:
        end = stated
    return end


def plan_clips(
    frame_times: np.ndarray,
    clip_seconds: float,
    stride_seconds: float,
    num_frames: int,
    stated_duration: float | None = None,
) -> list[ClipPlan]:
    """Every clip of a video whose frames are at `frame_times` (seconds from its first frame)."""
    times = np.asarray(frame_times, dtype=np.float64)
    duration = video_duration(times, stated_duration)
    plans = []
    for ordinal, (start, end) in enumerate(plan_windows(duration, clip_seconds, stride_seconds)):
        indices = sample_frame_indices(times, start, end, num_frames)
        plans.append(
            ClipPlan(
                ordinal=ordinal,
                start=round(start, 6),
                end=round(end, 6),
                frame_indices=tuple(int(i) for i in indices),
                frame_times=tuple(round(float(times[i]), 6) for i in indices),
            )
        )
    return plans
