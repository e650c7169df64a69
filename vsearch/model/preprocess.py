"""Preprocess: frames to X-CLIP pixel values, exactly as the checkpoint's XCLIPProcessor does.

The processor (VideoMAEImageProcessor) resizes the shortest edge with PIL, centre-crops,
rescales and normalises with the checkpoint's mean and std. Here the same steps are pure
functions of a `PreprocessSpec` read from the checkpoint, split in two halves so that the
costly uint8 half (resize, crop: vsearch.media.resize) can run in decode workers and the float
half (this module) next to the model.
"""

from __future__ import annotations

import functools

import numpy as np

from vsearch.media.resize import PreprocessSpec, resize_and_crop


def normalize(frames: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """(..., H, W, 3) uint8 frames to (..., 3, H, W) float32 pixel values: rescale, then (x - mean) / std.

    uint8 input has 256 levels a channel, so the arithmetic is done once per level and looked up
    (the same float operations on the same values: bit-identical, and 3x faster than converting
    every pixel through float64).
    """
    frames = np.asarray(frames)
    if frames.dtype == np.uint8 and frames.shape[-1] == 3:
        table = _level_table(spec.rescale_factor, spec.mean, spec.std)
        out = np.empty(frames.shape[:-3] + (3,) + frames.shape[-3:-1], np.float32)
        for channel in range(3):
            np.take(table[channel], frames[..., channel], out=out[..., channel, :, :])
        return out
    return _normalize_values(frames, spec.rescale_factor, spec.mean, spec.std)


def normalize_tensor(torch, frames, spec: PreprocessSpec):
    """`normalize` for a (..., H, W, 3) uint8 torch tensor, on its own device: the level table travels
    there instead of float pixels (4x the bytes), and the lookup runs there (bit-identical)."""
    table = torch.from_numpy(_level_table(spec.rescale_factor, spec.mean, spec.std)).to(frames.device)
    levels = frames.long()
    return torch.stack([table[channel][levels[..., channel]] for channel in range(3)], dim=-3)


def _normalize_values(values, rescale_factor, mean, std) -> np.ndarray:
    values = np.asarray(values).astype(np.float64)
    if rescale_factor is not None:
        values = values * rescale_factor
    values = values.astype(np.float32)
    if mean is not None and std is not None:
        values = (values - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(np.moveaxis(values, -1, -3))


@functools.cache
def _level_table(rescale_factor, mean, std) -> np.ndarray:
    """(3, 256): each channel's pixel value for each uint8 level."""
    levels = np.broadcast_to(np.arange(256, dtype=np.uint8)[:, None, None], (256, 1, 3))  # a 256 x 1 image
    return _normalize_values(levels, rescale_factor, mean, std).reshape(3, 256)


def preprocess_frames(frames: list[np.ndarray] | np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """A clip's RGB frames to its (T, 3, H, W) pixel values: the whole processor in one call."""
    return normalize(np.stack([resize_and_crop(np.asarray(f), spec) for f in frames]), spec)
