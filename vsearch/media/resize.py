"""Frame resizing: the uint8 half of the checkpoint's preprocessing, as its image processor does it.

The processor (VideoMAEImageProcessor) resizes the shortest edge with PIL, centre-crops, then
rescales and normalises. `PreprocessSpec` holds all of its settings, read from the checkpoint;
resizing and cropping (the costly part) run here, in the decode workers, next to the decoder, and
the float half (vsearch.model.preprocess.normalize) runs next to the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class PreprocessSpec:
    shortest_edge: int | None
    resize_height: int | None
    resize_width: int | None
    crop_height: int | None
    crop_width: int | None
    resample: int
    rescale_factor: float | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    @classmethod
    def from_image_processor(cls, processor) -> "PreprocessSpec":
        """Read the settings of a transformers image processor (the checkpoint's)."""
        size = _as_dict(processor.size) if getattr(processor, "do_resize", True) else {}
        crop = _as_dict(processor.crop_size) if getattr(processor, "do_center_crop", False) else {}
        normalize = getattr(processor, "do_normalize", True)
        rescale = getattr(processor, "do_rescale", True)
        return cls(
            shortest_edge=size.get("shortest_edge"),
            resize_height=size.get("height"),
            resize_width=size.get("width"),
            crop_height=crop.get("height"),
            crop_width=crop.get("width"),
            resample=int(getattr(processor, "resample", Image.BILINEAR)),
            rescale_factor=float(processor.rescale_factor) if rescale else None,
            mean=tuple(float(x) for x in processor.image_mean) if normalize else None,
            std=tuple(float(x) for x in processor.image_std) if normalize else None,
        )

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after resizing, as transformers' get_resize_output_image_size computes it."""
        if self.shortest_edge:
            short, long = (width, height) if width <= height else (height, width)
            new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
            return (new_long, new_short) if width <= height else (new_short, new_long)
        if self.resize_height and self.resize_width:
            return self.resize_height, self.resize_width
        return height, width

    def prescale_edge(self, minimum: int = 320) -> int | None:
        """The shortest edge a decoder may scale frames to before `resize_and_crop`: twice the
        resize target (so the exact resize still filters from a denser image), at least `minimum`
        (thumbnails are made from the same frames). None when the spec does not resize."""
        edge = self.shortest_edge or max(self.resize_height or 0, self.resize_width or 0)
        return max(2 * edge, minimum) if edge else None


def _as_dict(size) -> dict:
    if size is None:
        return {}
    if isinstance(size, dict):
        return {k: v for k, v in size.items() if v is not None}
    return {k: getattr(size, k) for k in ("shortest_edge", "height", "width") if getattr(size, k, None)}


def resize_and_crop(frame: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """One HxWx3 uint8 RGB frame resized (PIL) and centre-cropped; stays uint8, as in the processor."""
    height, width = frame.shape[:2]
    new_height, new_width = spec.resized_size(height, width)
    if (new_height, new_width) != (height, width):
        image = Image.fromarray(frame).resize((new_width, new_height), resample=spec.resample)
        frame = np.asarray(image)
    if spec.crop_height and spec.crop_width:
        frame = _center_crop(frame, spec.crop_height, spec.crop_width)
    return frame


def _center_crop(frame: np.ndarray, crop_height: int, crop_width: int) -> np.ndarray:
    height, width = frame.shape[:2]
    if crop_height > height or crop_width > width:  # pad with zeros, centred, as the processor does
        padded = np.zeros((max(height, crop_height), max(width, crop_width), frame.shape[2]), frame.dtype)
        top, left = (padded.shape[0] - height) // 2, (padded.shape[1] - width) // 2
        padded[top : top + height, left : left + width] = frame
        frame, height, width = padded, padded.shape[0], padded.shape[1]
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    return frame[top : top + crop_height, left : left + crop_width]
