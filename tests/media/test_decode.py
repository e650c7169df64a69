import numpy as np
import pytest

from vsearch.errors import DecodeError
from vsearch.media.decode import DecordSource, PyAVSource, sources_for, upright
from vsearch.media.probe import probe


def _frames(path):
    info = probe(path)
    source = next(iter(sources_for(info)))
    times = source.frame_times()
    return info, source, times


@pytest.mark.parametrize("name", ["h264", "vp9", "mjpeg", "vfr", "short", "no_duration", "raw_mpeg1"])
def test_every_good_file_decodes(video_files, name):
    info, source, times = _frames(video_files[name])
    assert times[0] == 0.0 and np.all(np.diff(times) >= 0)
    index, frame = next(source.read_frames([len(times) - 1]))
    assert index == len(times) - 1
    assert frame.shape == (info.height, info.width, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize("name", ["no_duration", "raw_mpeg1"])
def test_files_decord_cannot_open_fall_back_to_pyav(video_files, name):
    info = probe(video_files[name])
    assert [s.name for s in sources_for(info)] == ["pyav"]


def test_decord_and_pyav_agree(video_files):
    info = probe(video_files["h264"])
    decord, pyav = DecordSource(info), PyAVSource(info)
    np.testing.assert_allclose(decord.frame_times(), pyav.frame_times(), atol=1e-3)
    wanted = [0, 17, 44, 89]
    a = dict(decord.read_frames(wanted))
    b = dict(pyav.read_frames(wanted))
    for i in wanted:
        assert np.abs(a[i].astype(int) - b[i].astype(int)).mean() < 2


def test_variable_frame_rate_gives_real_timestamps(video_files):
    _, _, times = _frames(video_files["vfr"])
    assert len(times) == 56
    assert times[39] == pytest.approx(1.95, abs=1e-3)
    assert times[40] == pytest.approx(2.25, abs=1e-3)
    assert times[-1] == pytest.approx(6.0, abs=1e-3)


def test_rotation_metadata_is_honoured(video_files):
    info, source, _ = _frames(video_files["rotated"])
    assert source.name == "pyav"
    assert info.rotation == 90 and (info.width, info.height) == (48, 64)
    _, frame = next(source.read_frames([0]))
    assert frame.shape == (64, 48, 3)
    # the white square sits at the left of the coded picture; turned 90° counter-clockwise it is at the bottom
    white = np.argwhere(frame.min(axis=2) > 230)
    assert white[:, 0].min() > 40


def test_upright_turns_counter_clockwise():
    frame = np.zeros((2, 3, 1), np.uint8)
    frame[0, 0] = 1  # top-left
    assert upright(frame, 90)[2, 0, 0] == 1  # to bottom-left
    assert upright(frame, -90)[0, 1, 0] == 1  # to top-right
    assert upright(frame, 180)[1, 2, 0] == 1


@pytest.mark.parametrize(
    "name, reason",
    [("empty", "empty file"), ("text", "not a readable video"), ("truncated", "not a readable video")],
)
def test_bad_files_say_why(video_files, name, reason):
    with pytest.raises(DecodeError, match=reason):
        probe(video_files[name])


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError, match="cannot read file"):
        probe(tmp_path / "gone.mp4")


def test_the_main_stream_of_several_is_used(tmp_path):
    """A small preview stream first, the real (default) video second: the main one is decoded."""
    import av

    from vsearch.media.synthetic import scene

    path = tmp_path / "two-streams.mkv"
    with av.open(str(path), "w") as container:
        small = container.add_stream("libx264", rate=10)
        small.width, small.height, small.pix_fmt = 32, 24, "yuv420p"
        main = container.add_stream("libx264", rate=10)
        main.width, main.height, main.pix_fmt = 96, 64, "yuv420p"
        small.disposition = av.stream.Disposition(0)
        main.disposition = av.stream.Disposition.default
        for i in range(20):
            for stream in (small, main):
                frame = av.VideoFrame.from_ndarray(scene(i, stream.width, stream.height, 1), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for stream in (small, main):
            for packet in stream.encode():
                container.mux(packet)
    info = probe(path)
    assert (info.video_streams, info.stream_index, info.width, info.height) == (2, 1, 96, 64)
    source = next(iter(sources_for(info)))
    assert source.name == "pyav"
    _, frame = next(source.read_frames([3]))
    assert frame.shape == (64, 96, 3)


def test_scaled_size_keeps_aspect_and_skips_small_savings():
    from vsearch.media.decode import scaled_size

    assert scaled_size(1080, 1920, 448) == (448, 796)
    assert scaled_size(1920, 1080, 448) == (796, 448)  # portrait
    assert scaled_size(480, 640, 448) == (480, 640)  # saves under a quarter: decode as is
    assert scaled_size(720, 1280, None) == (720, 1280)


def test_decord_scales_frames_in_the_decoder(tmp_path):
    from vsearch.media.synthetic import encode

    path = encode(tmp_path / "hd.mp4", seconds=1.0, fps=10, width=1280, height=720)
    info = probe(path)
    source = DecordSource(info, decode_edge=320)
    index, frame = next(source.read_frames([3]))
    assert frame.shape == (320, 568, 3) and index == 3


def test_pyav_scales_rotated_frames_upright(tmp_path):
    from vsearch.media.synthetic import encode

    path = encode(tmp_path / "hd-rotated.mp4", seconds=1.0, fps=10, width=1280, height=720, rotation=90)
    info = probe(path)
    index, frame = next(PyAVSource(info, decode_edge=320).read_frames([2]))
    assert frame.shape == (568, 320, 3) and index == 2
    _, full = next(PyAVSource(info).read_frames([2]))
    assert full.shape == (1280, 720, 3)
