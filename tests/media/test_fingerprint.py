"""Frame fingerprints: flat frames have none, borders and size do not change them, other pictures differ."""

import numpy as np
from PIL import Image

from vsearch.media.fingerprint import PRINT_DIM, frame_print, similarity, thin
from vsearch.media.synthetic import footage


def _frame(seed: int, index: int = 0, width: int = 160, height: int = 120) -> np.ndarray:
    return footage(seed, 10)(index, width, height, 0)


def test_flat_frames_have_no_print():
    assert frame_print(np.zeros((48, 64, 3), np.uint8)) is None
    assert frame_print(np.full((48, 64, 3), 250, np.uint8)) is None


def test_a_print_survives_scaling_and_letterboxing_but_not_other_footage():
    frame = _frame(1)
    printed = frame_print(frame)
    assert printed.shape == (PRINT_DIM,) and printed.dtype == np.int8
    small = np.asarray(Image.fromarray(frame).resize((80, 60), Image.BILINEAR))
    boxed = np.zeros((160, 160, 3), np.uint8)
    boxed[20:140] = frame  # black bars above and below
    for copy in (small, boxed):
        assert similarity(printed[None], frame_print(copy)[None])[0, 0] > 0.97
    assert similarity(printed[None], frame_print(_frame(2))[None])[0, 0] < 0.9


def test_thinning_keeps_a_still_shot_every_few_seconds():
    still = np.repeat(frame_print(_frame(1))[None], 20, axis=0)
    times = np.arange(20, dtype=np.float32) * 0.5
    kept_times, kept = thin(times, still)
    assert kept_times.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0] and len(kept) == 5
    moving = np.stack([frame_print(_frame(s)) for s in range(6)])
    assert len(thin(times[:6], moving)[0]) == 6
