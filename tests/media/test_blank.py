"""Blank clips: frames with almost no content."""

import numpy as np

from vsearch.media.blank import FLAT_STD, flat_frames, is_blank
from vsearch.media.synthetic import scene


def _clip(frames):
    return np.stack(frames).astype(np.uint8)


def test_black_white_and_single_colour_clips_are_blank():
    for level in ((0, 0, 0), (255, 255, 255), (30, 120, 200)):
        assert is_blank(_clip([np.full((32, 32, 3), level)] * 8))
    noisy = np.random.default_rng(0).integers(0, 3, (8, 32, 32, 3))  # compression noise on black
    assert is_blank(noisy.astype(np.uint8))


def test_content_is_not_blank_nor_is_a_clip_mostly_showing_it():
    shown = [scene(i, 32, 32, 1) for i in range(8)]
    assert not is_blank(_clip(shown))
    assert not flat_frames(_clip(shown)).any()
    black = [np.zeros((32, 32, 3), np.uint8)] * 5
    assert not is_blank(_clip(black + shown[:3]))  # the dark end of a fade: 5 of 8 flat
    assert is_blank(_clip(black + black[:1] + shown[:2]))  # 6 of 8 flat


def test_a_dim_title_card_is_content():
    card = np.zeros((32, 32, 3), np.uint8)
    card[12:20, 4:28] = 4 * FLAT_STD  # faint text on black
    assert not is_blank(_clip([card] * 8))
