"""Training clips: each labelled moment decoded and sampled exactly as ingest samples a clip (the same
decoders, frame timing, evenly spread instants, resize and crop), kept as uint8 frames."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vsearch.errors import DecodeError
from vsearch.evaluation.labels import Moment
from vsearch.media.decode import sources_for
from vsearch.media.probe import probe
from vsearch.media.resize import PreprocessSpec, resize_and_crop
from vsearch.media.sample import sample_frame_indices


@dataclass(frozen=True)
class TrainingClip:
    moment: Moment
    frames: np.ndarray  # (T, h, w, 3) uint8, resized and cropped for the model


def clip_window(moment: Moment, clip_seconds: float) -> tuple[float, float]:
    """The span a clip of the moment covers: the moment itself, or a clip's length at its centre when the
    moment is longer (ingest's clips are that long: a query should match one of them)."""
    if moment.length <= clip_seconds:
        return moment.start, moment.end
    middle = (moment.start + moment.end) / 2
    return middle - clip_seconds / 2, middle + clip_seconds / 2


def decode_moment(moment: Moment, spec: PreprocessSpec, num_frames: int, clip_seconds: float,
                  decode_edge: int | None = None) -> TrainingClip:
    """The moment's clip; DecodeError saying why when no decoder can read it."""
    info = probe(Path(moment.path))
    start, end = clip_window(moment, clip_seconds)
    reasons = []
    for source in sources_for(info, decode_edge):
        try:
            times = source.frame_times()
            indices = sample_frame_indices(times, start, end, num_frames)
            frames = {index: resize_and_crop(frame, spec) for index, frame in source.read_frames(indices)}
            return TrainingClip(moment, np.stack([frames[int(i)] for i in indices]))
        except (DecodeError, KeyError) as exc:
            reasons.append(f"{source.name}: {exc}")
        finally:
            source.close()
    raise DecodeError("; ".join(reasons) or "cannot decode")


def decode_moments(moments: list[Moment], spec: PreprocessSpec, num_frames: int, clip_seconds: float,
                   decode_edge: int | None = None, progress: Callable[[], None] | None = None
                   ) -> tuple[list[TrainingClip], list[tuple[Moment, str]]]:
    """(clips, [(moment, why)] for the moments that could not be decoded)."""
    clips, failed = [], []
    for moment in moments:
        try:
            clips.append(decode_moment(moment, spec, num_frames, clip_seconds, decode_edge))
        except DecodeError as exc:
            failed.append((moment, str(exc)))
        if progress:
            progress()
    return clips, failed
