"""Blank clips: frames with almost no content."""

import numpy as np

from vsearch.media.blank import CONTENT_SHARE, STAND_OUT, flat_frames, is_blank
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
    card[12:20, 4:28] = 2 * STAND_OUT  # faint text on black
    assert not is_blank(_clip([card] * 8))


def test_a_small_object_on_a_plain_backdrop_is_content_even_as_bright_as_it():
    for size in (64, 224):
        frame = np.full((size, size, 3), 93, np.uint8)  # mid-grey
        side = size // 5
        frame[side : 2 * side, side : 2 * side] = (220, 40, 40)  # a red square of the grey's luma
        assert not is_blank(_clip([frame] * 8))


def test_a_speck_smaller_than_the_content_share_leaves_a_frame_flat():
    frame = np.zeros((224, 224, 3), np.uint8)
    side = int((CONTENT_SHARE / 4) ** 0.5 * 224)  # a channel logo in a corner of a black frame
    frame[:side, :side] = 255
    assert flat_frames(_clip([frame] * 8)).all()
