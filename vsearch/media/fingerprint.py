"""Frame fingerprints for finding copies: what a frame looks like, independent of container, codec,
resolution, quality and the model.

A print is the frame's picture with black borders (letterbox, pillarbox) cut off, averaged down: its luma
at 16 × 16, less its mean, at unit length (the structure), beside its two colour-difference planes at
8 × 8 as they are (the colour: nothing for grey, up to COLOUR_WEIGHT for a saturated frame: the structure
decides, colour only tips the balance, so a tint or a grade leaves a copy a copy), the whole at unit
length, stored as int8. Two prints' dot product (/ PRINT_SCALE²) is their cosine. Re-encodes of
one frame score 0.97-1.0 (measured on real files in three containers and at two qualities); different
footage rarely passes 0.9 frame after frame. Flat frames (black, white, a single-colour card) get no
print: they are no evidence of anything.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

PRINT_SIDE = 16  # luma
COLOUR_SIDE = 8  # each colour-difference plane
PRINT_DIM = PRINT_SIDE * PRINT_SIDE + 2 * COLOUR_SIDE * COLOUR_SIDE
# the structure counts as 1, the colour at most this much (a fully saturated frame): flat, saturated footage
# is not all alike, and a tint does not make another picture
COLOUR_WEIGHT = 0.5
PRINT_SCALE = 127.0
_BORDER_LEVEL = 24  # a border row or column is darker than this throughout (of 255)
_MAX_BORDER = 0.3  # at most this share of each side is cut as border
THIN_SIMILARITY = 0.97  # a frame this like the last kept one adds nothing (a still shot); see thin()
THIN_SECONDS = 2.0  # ... unless the last kept one is this old
# a frame whose 16 x 16 luma varies by less than this (rms, of 255) has no print: averaging flattens detail
FLAT_SPREAD = 3.0


def frame_print(frame: np.ndarray) -> np.ndarray | None:
    """(h, w, 3) uint8 RGB frame → (PRINT_DIM,) int8 print, or None for a flat frame."""
    picture = Image.fromarray(np.ascontiguousarray(frame)).convert("YCbCr")
    luma = np.asarray(picture.getchannel(0))
    top, bottom, left, right = _picture_box(luma)
    picture = picture.crop((left, top, right, bottom))
    planes = picture.split()
    structure = np.asarray(planes[0].resize((PRINT_SIDE, PRINT_SIDE), Image.BOX), np.float32).ravel()
    structure -= structure.mean()
    spread = float(np.sqrt((structure * structure).mean()))
    if spread < FLAT_SPREAD:
        return None
    colour = np.concatenate([np.asarray(p.resize((COLOUR_SIDE, COLOUR_SIDE), Image.BOX), np.float32).ravel() - 128.0
                             for p in planes[1:]])
    colour *= COLOUR_WEIGHT / (128.0 * np.sqrt(colour.size))  # as it is: 0 for grey, up to the weight
    vector = np.concatenate([structure / np.linalg.norm(structure), colour])
    return np.round(vector / np.linalg.norm(vector) * PRINT_SCALE).astype(np.int8)


def _picture_box(luma: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the picture inside black bars on any side (the whole frame when the bars
    would take most of it)."""
    height, width = luma.shape
    rows = np.flatnonzero(luma.max(axis=1) >= _BORDER_LEVEL)
    cols = np.flatnonzero(luma.max(axis=0) >= _BORDER_LEVEL)
    if rows.size == 0 or cols.size == 0:
        return 0, height, 0, width
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if max(top, height - bottom) > _MAX_BORDER * height or max(left, width - right) > _MAX_BORDER * width:
        return 0, height, 0, width
    return top, bottom, left, right


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


def printed_frames(prints: dict[float, np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """The (times, prints) of a video's frames that have a print (a flat frame has None), in time order,
    still stretches thinned: what the library keeps of a video."""
    kept = sorted(((t, p) for t, p in prints.items() if p is not None), key=lambda item: item[0])
    times = np.array([t for t, _ in kept], dtype=np.float32)
    stacked = np.stack([p for _, p in kept]) if kept else np.zeros((0, PRINT_DIM), np.int8)
    return thin(times, stacked)
