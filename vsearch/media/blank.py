"""Blank clips: frames that carry almost no content (black or white frames, the dark end of a fade, a frozen
single-colour card). Such clips match everything and nothing: they are never results of example queries and
sink below the others in text results (vsearch.retrieve)."""

from __future__ import annotations

import numpy as np

FLAT_STD = 6.0  # a frame whose luma varies less than this (of 255) shows nothing
BLANK_SHARE = 0.75  # a clip is blank when at least this share of its frames is flat


def flat_frames(frames: np.ndarray) -> np.ndarray:
    """(T, h, w, 3) uint8 frames → (T,) whether each is flat."""
    luma = np.asarray(frames, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return luma.reshape(len(luma), -1).std(axis=1) < FLAT_STD


def is_blank(frames: np.ndarray) -> bool:
    """Whether a clip's frames (as the model sees them) carry almost no content."""
    return bool(flat_frames(frames).mean() >= BLANK_SHARE)
