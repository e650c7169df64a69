"""Training clips: each labelled moment decoded and sampled exactly as ingest samples a clip (the same
decoders, frame timing, evenly spread instants, resize and crop), kept as uint8 frames. Each labelled file
can also give background clips: windows that overlap none of its labelled moments, which `vsearch eval`
would judge as misses for every query, so training shows them as negatives.

A moment can also be decoded with a margin: frames sampled before and after its window at the same spacing
as the window's own, so that a window shifted by whole frame slots is a slice of them. Ingest's clips start
every stride, so they fall around a labelled moment rather than on it; shifted windows show training those
clips too."""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vsearch.errors import DecodeError
from vsearch.evaluation.labels import Moment
from vsearch.media.decode import sources_for
from vsearch.media.probe import probe
from vsearch.media.resize import PreprocessSpec, resize_and_crop
from vsearch.media.sample import sample_frame_indices, video_duration


@dataclass(frozen=True)
class TrainingClip:
    moment: Moment
    frames: np.ndarray  # (T, h, w, 3) uint8, resized and cropped for the model
    # frames at the same spacing, `margin` slots either side of `frames`: (T + 2·margin, h, w, 3), or None
    wide: np.ndarray | None = None
    shifts: tuple[int, int] = (0, 0)  # the slots `shifted` takes: the windows that stay inside the file

    @property
    def margin(self) -> int:
        return 0 if self.wide is None else (len(self.wide) - len(self.frames)) // 2

    def shifted(self, slots: int) -> TrainingClip:
        """The same moment with its window moved by `slots` frame slots (negative: earlier)."""
        if slots == 0 or self.wide is None:
            return self
        first = self.margin + slots
        return replace(self, frames=self.wide[first : first + len(self.frames)])

    def random_shift(self, rng: random.Random, slots: int | None = None) -> TrainingClip:
        """Moved by a random number of slots, up to `slots` (default: the margin) either way."""
        slots = self.margin if slots is None else slots
        return self.shifted(rng.randint(max(self.shifts[0], -slots), min(self.shifts[1], slots)))

    def offset(self, rng: random.Random, slots: int) -> TrainingClip:
        """Moved exactly `slots` earlier or later, on a side the file allows (at random where both do); itself
        where neither does."""
        sides = [s for s in (-slots, slots) if self.wide is not None and self.shifts[0] <= s <= self.shifts[1]]
        return self.shifted(rng.choice(sides)) if sides else self


@dataclass(frozen=True)
class BackgroundClip:
    """A clip of a labelled file outside all of its labelled moments: a negative for every query."""

    path: str
    start: float
    end: float
    frames: np.ndarray


@dataclass(frozen=True)
class Decoded:
    clips: list[TrainingClip]
    backgrounds: list[BackgroundClip]
    failed: list[tuple[Moment, str]]  # moments that could not be decoded, and why


def clip_window(moment: Moment, clip_seconds: float) -> tuple[float, float]:
    """The span a clip of the moment covers: the moment itself, or a clip's length at its centre when the
    moment is longer (ingest's clips are that long: a query should match one of them)."""
    if moment.length <= clip_seconds:
        return moment.start, moment.end
    middle = (moment.start + moment.end) / 2
    return middle - clip_seconds / 2, middle + clip_seconds / 2


def background_windows(duration: float, labelled: list[tuple[float, float]], clip_seconds: float, count: int,
                       rng: random.Random) -> list[tuple[float, float]]:
    """Up to `count` clip-long windows of a `duration`-second file that overlap no labelled span, chosen at
    random from starts half a clip apart."""
    if count <= 0 or duration < clip_seconds:
        return []
    step = clip_seconds / 2
    starts = np.arange(0.0, duration - clip_seconds + 1e-6, step)
    free = [(float(s), float(s) + clip_seconds) for s in starts
            if all(s + clip_seconds <= a or s >= b for a, b in labelled)]
    return rng.sample(free, min(count, len(free)))


def _widened(window: tuple[float, float], num_frames: int, margin: int) -> tuple[float, float, int]:
    """The window `margin` frame slots wider on each side, and its number of instants (same spacing)."""
    start, end = window
    slot = (end - start) / num_frames
    return start - margin * slot, end + margin * slot, num_frames + 2 * margin


def _decode_file(path: str, spans: list[tuple[float, float, int]], background_count: int, labelled, spec,
                 num_frames, clip_seconds, decode_edge, rng):
    """Frames of each (start, end, instants) span, then of the background windows chosen once the file's
    length is known; one pass over the file, falling back to the next decoder as ingest does. Returns the
    spans' stacks, the backgrounds as (start, end, frames), and the file's duration."""
    info = probe(Path(path))
    reasons = []
    for source in sources_for(info, decode_edge):
        try:
            times = source.frame_times()
            duration = video_duration(times, info.duration)
            extra = background_windows(duration, labelled, clip_seconds, background_count, rng)
            every = [sample_frame_indices(times, start, end, count) for start, end, count in spans]
            every += [sample_frame_indices(times, start, end, num_frames) for start, end in extra]
            wanted = sorted({int(i) for indices in every for i in indices})
            frames = {index: resize_and_crop(frame, spec) for index, frame in source.read_frames(wanted)}
            stacks = [np.stack([frames[int(i)] for i in indices]) for indices in every]
            return stacks[: len(spans)], [(s, e, f) for (s, e), f in zip(extra, stacks[len(spans):])], duration
        except (DecodeError, KeyError) as exc:
            reasons.append(f"{source.name}: {exc}")
        finally:
            source.close()
    raise DecodeError("; ".join(reasons) or "cannot decode")


def _moment_clip(moment: Moment, window: tuple[float, float], stack: np.ndarray, num_frames: int, margin: int,
                 duration: float) -> TrainingClip:
    if margin == 0:
        return TrainingClip(moment, stack)
    slot = (window[1] - window[0]) / num_frames
    # shifted windows stay inside the file, as ingest's clips do
    earliest = -min(margin, int(np.floor(window[0] / slot + 1e-6)))
    latest = min(margin, max(0, int(np.floor((duration - window[1]) / slot + 1e-6))))
    return TrainingClip(moment, stack[margin : margin + num_frames], stack, (earliest, latest))


def decode_labelled(moments: list[Moment], spec: PreprocessSpec, num_frames: int, clip_seconds: float,
                    decode_edge: int | None = None, backgrounds_per_file: int = 0, seed: int = 0,
                    margin: int = 0, on_file: Callable[[int, int], None] | None = None,
                    threads: int = 1) -> Decoded:
    """Every moment's clip (with `margin` extra frame slots each side, for shifted windows) and up to
    `backgrounds_per_file` background clips of each labelled file; `on_file(done, files)` after each file.
    `threads` files decode at once (the decoders and the resize let go of the GIL); each file draws its
    background windows from its own random stream, so the result does not depend on `threads`."""
    by_file: dict[str, list[Moment]] = {}
    for moment in moments:
        by_file.setdefault(moment.path, []).append(moment)

    def one_file(path: str, file_moments: list[Moment]):
        windows = [clip_window(m, clip_seconds) for m in file_moments]
        labelled = [(m.start, m.end) for m in file_moments]
        try:
            stacks, extra, duration = _decode_file(path, [_widened(w, num_frames, margin) for w in windows],
                                                   backgrounds_per_file, labelled, spec, num_frames,
                                                   clip_seconds, decode_edge, random.Random(f"{seed}:{path}"))
        except (DecodeError, OSError) as exc:
            return [], [], [(m, str(exc)) for m in file_moments]
        return ([_moment_clip(m, w, f, num_frames, margin, duration) for m, w, f in zip(file_moments, windows, stacks)],
                [BackgroundClip(path, s, e, f) for s, e, f in extra], [])

    clips, backgrounds, failed = [], [], []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        # in file order, each file as soon as it and the files before it are done
        for done, (file_clips, file_backgrounds, file_failed) in enumerate(
                pool.map(lambda item: one_file(*item), by_file.items()), 1):
            clips += file_clips
            backgrounds += file_backgrounds
            failed += file_failed
            if on_file:
                on_file(done, len(by_file))
    return Decoded(clips, backgrounds, failed)


def decode_moments(moments: list[Moment], spec: PreprocessSpec, num_frames: int, clip_seconds: float,
                   decode_edge: int | None = None) -> tuple[list[TrainingClip], list[tuple[Moment, str]]]:
    """(clips, [(moment, why)] for the moments that could not be decoded)."""
    decoded = decode_labelled(moments, spec, num_frames, clip_seconds, decode_edge)
    return decoded.clips, decoded.failed
