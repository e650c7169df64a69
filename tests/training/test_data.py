"""Training clips decoded as ingest decodes, and the background clips of labelled files."""

import random

import numpy as np

from vsearch.evaluation.labels import Moment
from vsearch.media.resize import PreprocessSpec
from vsearch.training.data import background_windows, decode_labelled

SPEC = PreprocessSpec(shortest_edge=32, resize_height=None, resize_width=None, crop_height=32, crop_width=32,
                      resample=2, rescale_factor=1 / 255, mean=(0.5,) * 3, std=(0.5,) * 3)


def test_background_windows_stay_clear_of_every_labelled_span():
    rng = random.Random(0)
    windows = background_windows(12.0, [(2.0, 5.0), (9.0, 10.0)], 2.0, 10, rng)
    assert sorted(windows) == [(0.0, 2.0), (5.0, 7.0), (6.0, 8.0), (7.0, 9.0), (10.0, 12.0)]
    assert background_windows(12.0, [(0.0, 12.0)], 2.0, 3, rng) == []
    assert background_windows(1.0, [], 2.0, 3, rng) == []
    assert len(background_windows(12.0, [], 2.0, 3, rng)) == 3


def test_moments_and_backgrounds_of_one_file_come_from_one_pass(video_files, tmp_path):
    path = str(video_files["h264"])
    moments = [Moment("first", path, 0.0, 1.0), Moment("second", path, 0.5, 1.5)]
    missing = Moment("gone", str(tmp_path / "none.mp4"), 0.0, 1.0)
    progress = []
    decoded = decode_labelled(moments + [missing], SPEC, 4, 1.0, backgrounds_per_file=1,
                              on_file=lambda done, files: progress.append((done, files)))
    assert progress == [(1, 2), (2, 2)]
    assert [c.moment.query for c in decoded.clips] == ["first", "second"]
    assert all(c.frames.shape == (4, 32, 32, 3) and c.frames.dtype == np.uint8 for c in decoded.clips)
    assert [m.query for m, _ in decoded.failed] == ["gone"]
    (background,) = decoded.backgrounds
    assert background.path == path and background.start >= 1.5 and background.frames.shape == (4, 32, 32, 3)


def test_files_decoded_at_once_give_what_one_at_a_time_gives(video_files, tmp_path):
    moments = [Moment(f"q{name}", str(path), 0.5, 1.5) for name, path in sorted(video_files.items())]
    moments.append(Moment("gone", str(tmp_path / "none.mp4"), 0.0, 1.0))
    one, many = (decode_labelled(moments, SPEC, 4, 1.0, backgrounds_per_file=2, seed=3, threads=threads)
                 for threads in (1, 4))
    assert [c.moment for c in one.clips] == [c.moment for c in many.clips] and one.failed == many.failed
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(one.clips, many.clips))
    assert [(b.path, b.start) for b in one.backgrounds] == [(b.path, b.start) for b in many.backgrounds]


def test_shifted_windows_are_the_clips_ingest_would_sample_there(video_files):
    path = str(video_files["h264"])  # 9 s; a clip's 4 frames are 0.25 s apart for a 1 s moment
    moment = Moment("q", path, 0.5, 1.5)
    (wide,) = decode_labelled([moment], SPEC, 4, 1.0, margin=3).clips
    assert wide.wide.shape == (10, 32, 32, 3) and wide.shifts == (-2, 3)  # no window before the file's start
    (plain,) = decode_labelled([moment], SPEC, 4, 1.0).clips
    np.testing.assert_array_equal(wide.frames, plain.frames)
    for slots in (-2, 1, 3):
        start = 0.5 + 0.25 * slots
        (moved,) = decode_labelled([Moment("q", path, start, start + 1.0)], SPEC, 4, 1.0).clips
        np.testing.assert_array_equal(wide.shifted(slots).frames, moved.frames)
    drawn = {wide.random_shift(random.Random(seed)).frames.tobytes() for seed in range(40)}
    assert len(drawn) > 1 and plain.random_shift(random.Random(0)) is plain
    (late,) = decode_labelled([Moment("q", path, 8.0, 9.0)], SPEC, 4, 1.0, margin=2).clips
    assert late.shifts == (-2, 0)  # nor after its end


def test_an_offset_window_takes_a_side_the_file_allows(video_files):
    path = str(video_files["h264"])
    (late,) = decode_labelled([Moment("q", path, 8.0, 9.0)], SPEC, 4, 1.0, margin=2).clips
    for seed in range(5):  # the file ends with the moment: always the earlier side
        np.testing.assert_array_equal(late.offset(random.Random(seed), 2).frames, late.shifted(-2).frames)
    (plain,) = decode_labelled([Moment("q", path, 8.0, 9.0)], SPEC, 4, 1.0).clips
    assert plain.offset(random.Random(0), 2) is plain and plain.margin == 0 and late.margin == 2
