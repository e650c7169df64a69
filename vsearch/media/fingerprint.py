"""Frame fingerprints for finding copies: what a frame looks like, independent of container, codec,
resolution, quality and the model.

A print is the frame's luma, black borders (letterbox, pillarbox) cut off, averaged down to 16 × 16,
less its mean, scaled to unit length and stored as int8: two prints' dot product (/ PRINT_SCALE²) is the
cosine of the two frames' coarse pictures. Re-encodes of one frame score 0.97-1.0 (measured on real files
in three containers and at two qualities); different footage rarely passes 0.9 frame after frame.
Flat frames (black, white, a single-colour card) get no print: they are no evidence of anything.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from vsearch.media.blank import FLAT_STD

PRINT_SIDE = 16
PRINT_DIM = PRINT_SIDE * PRINT_SIDE
PRINT_SCALE = 127.0
_BORDER_LEVEL = 24  # a border row or column is darker than this throughout (of 255)
_MAX_BORDER = 0.3  # at most this share of each side is cut as border
THIN_SIMILARITY = 0.97  # a frame this like the last kept one adds nothing (a still shot); see thin()
THIN_SECONDS = 2.0  # ... unless the last kept one is this old


def frame_print(frame: np.ndarray) -> np.ndarray | None:
    """(h, w, 3) uint8 RGB frame → (PRINT_DIM,) int8 print, or None for a flat frame."""
    luma = np.asarray(Image.fromarray(np.ascontiguousarray(frame)).convert("L"))
    luma = _without_borders(luma)
    small = np.asarray(Image.fromarray(luma).resize((PRINT_SIDE, PRINT_SIDE), Image.BOX), np.float32).ravel()
    small -= small.mean()
    spread = float(np.sqrt((small * small).mean()))
    if spread < FLAT_STD / 2:  # averaging flattens a frame's detail: half the blank-clip threshold
        return None
    return np.round(small / (spread * np.sqrt(PRINT_DIM)) * PRINT_SCALE).astype(np.int8)


def _without_borders(luma: np.ndarray) -> np.ndarray:
    """The picture inside black bars on any side (kept whole when the bars would take most of it)."""
    height, width = luma.shape
    rows = np.flatnonzero(luma.max(axis=1) >= _BORDER_LEVEL)
    cols = np.flatnonzero(luma.max(axis=0) >= _BORDER_LEVEL)
    if rows.size == 0 or cols.size == 0:
        return luma
    top, bottom = rows[0], height - 1 - rows[-1]
    left, right = cols[0], width - 1 - cols[-1]
    if max(top, bottom) > _MAX_BORDER * height or max(left, right) > _MAX_BORDER * width:
        return luma
    return luma[top : height - bottom, left : width - right]


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosines of prints: (n, D) × (m, D) int8 → (n, m) float32."""
    return (a.astype(np.float32) @ b.astype(np.float32).T) / (PRINT_SCALE * PRINT_SCALE)


def as_float(prints: np.ndarray) -> np.ndarray:
    """int8 prints as unit-length float32 rows, for an inner-product index."""
    rows = prints.astype(np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-6)


def thin(times: np.ndarray, prints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop frames that repeat the last kept one (cosine ≥ THIN_SIMILARITY, less than THIN_SECONDS later):
    a still shot keeps a frame every two seconds, not every half second, so two still videos do not
    match every frame against every frame."""
    keep, last = [], None
    for i in range(len(times)):
        if last is None or times[i] - times[last] >= THIN_SECONDS or \
                float(similarity(prints[i : i + 1], prints[last : last + 1])[0, 0]) < THIN_SIMILARITY:
            keep.append(i)
            last = i
    return times[keep], prints[keep]
