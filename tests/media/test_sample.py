import numpy as np
import pytest

from vsearch.media.sample import plan_clips, plan_windows, sample_frame_indices, video_duration


def test_short_video_is_one_window_over_all_of_it():
    assert plan_windows(1.5, 4.0, 4.0) == [(0.0, 1.5)]


def test_windows_cover_the_tail():
    windows = plan_windows(9.0, 4.0, 4.0)
    assert windows == [(0.0, 4.0), (4.0, 8.0), (5.0, 9.0)]


def test_exact_multiple_has_no_extra_window():
    assert plan_windows(8.0, 4.0, 4.0) == [(0.0, 4.0), (4.0, 8.0)]


def test_overlapping_stride():
    assert plan_windows(10.0, 4.0, 2.0) == [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (6.0, 10.0)]


@pytest.mark.parametrize("duration", [0.3, 4.0, 4.01, 7.9, 33.3, 79.5])
def test_no_second_is_left_out(duration):
    windows = plan_windows(duration, 4.0, 4.0)
    assert windows[0][0] == 0.0 and windows[-1][1] == pytest.approx(duration)
    for (_, end), (start, _) in zip(windows, windows[1:]):
        assert start <= end + 1e-9


@pytest.mark.parametrize("duration", [4.004, 4.5, 4.99])
def test_a_tail_of_under_a_quarter_clip_makes_no_twin_window(duration):
    assert plan_windows(duration, 4.0, 4.0) == [(0.0, duration)]


def test_a_short_tail_stretches_the_last_window():
    assert plan_windows(8.5, 4.0, 4.0) == [(0.0, 4.0), (4.0, 8.5)]
    assert plan_windows(12.5, 4.0, 1.0)[-2:] == [(7.0, 11.0), (8.0, 12.5)]


def test_a_tail_of_a_quarter_clip_is_a_window_of_its_own():
    assert plan_windows(5.0, 4.0, 4.0) == [(0.0, 4.0), (1.0, 5.0)]
    assert plan_windows(12.0, 4.0, 1.0)[-1] == (8.0, 12.0)


def test_stride_longer_than_clip_is_refused():
    with pytest.raises(ValueError):
        plan_windows(10, 2, 3)


def test_sampling_picks_frames_shown_at_evenly_spread_instants():
    times = np.arange(40) / 10.0  # 10 fps, 4 s
    indices = sample_frame_indices(times, 0.0, 4.0, 8)
    assert indices.tolist() == [2, 7, 12, 17, 22, 27, 32, 37]


def test_sampling_follows_real_timestamps_for_variable_frame_rate():
    times = np.array([0.0, 0.1, 0.2, 0.3, 2.0, 3.5])  # a long still between 0.3 and 2.0
    indices = sample_frame_indices(times, 0.0, 4.0, 4)  # instants 0.5, 1.5, 2.5, 3.5
    assert indices.tolist() == [3, 3, 4, 5]


def test_fewer_frames_than_samples_repeats_frames():
    assert sample_frame_indices(np.array([0.0]), 0.0, 0.04, 8).tolist() == [0] * 8


def test_plan_clips_records_indices_and_times():
    times = np.arange(90) / 10.0
    plans = plan_clips(times, 4.0, 4.0, 4)
    assert [(p.start, p.end) for p in plans] == [(0.0, 4.0), (4.0, 8.0), (5.0, 9.0)]
    assert video_duration(times) == pytest.approx(9.0)
    for plan in plans:
        assert len(plan.frame_indices) == 4
        assert list(plan.frame_indices) == sorted(plan.frame_indices)
        assert all(plan.start <= t < plan.end for t in plan.frame_times)
        assert plan.frame_times == tuple(round(times[i], 6) for i in plan.frame_indices)


def test_stated_duration_bounds_an_irregular_last_frame():
    times = np.array([0.0, 1.0, 2.0, 2.2, 3.0])  # last gap 0.8, file says 3.3
    assert video_duration(times) == pytest.approx(3.8)
    assert video_duration(times, stated=3.3) == pytest.approx(3.3)
    assert video_duration(times, stated=0.01) == pytest.approx(3.8)  # a stated duration before the last frame is wrong
