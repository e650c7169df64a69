"""Blank clips: frames that carry almost no content (black or white frames, the dark end of a fade, a frozen
single-colour card). Such clips match everything and nothing: they are never results of example queries and
sink below the others in text results (vsearch.retrieve).

A frame is flat when almost none of its pixels stand out from its typical colour (the per-channel median).
Counting the pixels that stand out, not a spread, keeps a small object on a plain backdrop as content (a
ball on a lawn, a logo on a black card: a 12-pixel square on a 64-pixel frame moves the luma's standard
deviation by 6 levels only when it is 32 levels brighter or darker), and comparing every channel, not the
luma alone, keeps an object as bright as its backdrop (a red square on mid-grey)."""

from __future__ import annotations

import numpy as np

STAND_OUT = 12  # levels (of 255) in some channel by which a pixel differs from the frame's typical colour
CONTENT_SHARE = 0.005  # a frame with fewer pixels that stand out than this share shows nothing
BLANK_SHARE = 0.75  # a clip is blank when at least this share of its frames is flat
SAMPLES = 56  # rows and columns looked at (about): a 224-pixel frame every 4th, a sixteenth of the work


def flat_frames(frames: np.ndarray) -> np.ndarray:
    """(T, h, w, 3) uint8 frames → (T,) whether each is flat."""
    frames = np.asarray(frames)
    step = max(1, min(frames.shape[1:3]) // SAMPLES)
    typical = np.median(frames[:, :: 2 * step, :: 2 * step].reshape(len(frames), -1, 3), axis=1).astype(np.int16)
    seen = frames[:, ::step, ::step].astype(np.int16)
    stands_out = (np.abs(seen - typical[:, None, None, :]) > STAND_OUT).any(axis=3)
    return stands_out.reshape(len(frames), -1).mean(axis=1) < CONTENT_SHARE


def is_blank(frames: np.ndarray) -> bool:
    """Whether a clip's frames (as the model sees them) carry almost no content."""
    return bool(flat_frames(frames).mean() >= BLANK_SHARE)
