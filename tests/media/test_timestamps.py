"""Files whose timestamps say nothing (all equal, running backwards, restarting halfway) are timed by their
frames' order and the stream's frame rate, whichever decoder reads them, and `vsearch status` says so."""

from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from vsearch.cli import cli
from vsearch.errors import DecodeError
from vsearch.ingest import ingest
from vsearch.media.decode import DecordSource, PyAVSource, sources_for, untrusted_reason
from vsearch.media.probe import VideoProbe, iter_decoded, probe
from vsearch.media.sample import plan_clips
from vsearch.media.synthetic import encode, with_broken_timestamps
from vsearch.status import library_status
from vsearch.store.models import Video

FRAMES, FPS = 191, 25  # 7.64 s, as in the issue
MODES = ("constant", "backwards", "reset")
REASONS = {
    "constant": "all timestamps equal",
    "backwards": "timestamps run backwards",
    "reset": "timestamps run backwards",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A normal H.264 MP4 and copies of it whose timestamps say nothing; an MJPEG one that states no frame rate."""
    sources = tmp_path_factory.mktemp("sources")
    folder = tmp_path_factory.mktemp("timestamps")
    normal = encode(folder / "normal.mp4", seconds=FRAMES / FPS, fps=FPS)
    made = {"normal": normal}
    for mode in MODES:
        made[mode] = with_broken_timestamps(normal, folder / f"{mode}.mp4", mode)
    mjpeg = encode(sources / "mjpeg.mp4", codec="mjpeg", pix_fmt="yuvj420p", seconds=3.0, fps=10)
    made["no_rate"] = with_broken_timestamps(mjpeg, folder / "no_rate.mp4", "constant")
    return made


def _stamps(path: Path) -> list[int | None]:
    """Presentation timestamps of the decoded frames, in the order the decoder gives them."""
    with av.open(str(path)) as container:
        return [frame.pts for frame in iter_decoded(container, container.streams.video[0])]


def test_the_files_have_the_timestamps_they_claim(files):
    steps = {name: np.diff(_stamps(files[name])) for name in ("normal", *MODES)}
    assert all(len(s) == FRAMES - 1 for s in steps.values())
    assert np.all(steps["normal"] > 0)
    assert np.all(steps["constant"] == 0) and probe(files["constant"]).duration is None
    assert np.all(steps["backwards"] < 0)
    assert np.sum(steps["reset"] < 0) >= 1 and np.mean(steps["reset"] > 0) > 0.95


@pytest.mark.parametrize("mode", MODES)
def test_pyav_times_the_frames_by_their_order(files, mode):
    source = PyAVSource(probe(files[mode]))
    times = source.frame_times()
    assert len(times) == FRAMES and times[0] == 0.0
    np.testing.assert_allclose(np.diff(times), 1 / FPS)
    assert times[-1] == pytest.approx((FRAMES - 1) / FPS)
    assert source.timing == f"frame order at 25 fps ({REASONS[mode]})"
    # the frames are the normal file's, in its order: the same pictures at the same times
    wanted = [0, 1, 95, FRAMES - 1]
    normal = dict(PyAVSource(probe(files["normal"])).read_frames(wanted))
    for index, frame in source.read_frames(wanted):
        assert np.array_equal(frame, normal[index])


@pytest.mark.parametrize("mode", MODES)
def test_decord_declines_and_every_decoder_gives_the_same_clips(files, mode):
    """decord orders frames by their timestamps, so where those say nothing its order is wrong too: it declines,
    and what PyAV gives is the normal file's timeline."""
    info = probe(files[mode])
    with pytest.raises(DecodeError, match="cannot be trusted here"):
        DecordSource(info).frame_times()
    normal_info = probe(files["normal"])
    normal = [(s.name, s.frame_times(), s.timing) for s in sources_for(normal_info)]
    assert [name for name, _, _ in normal] == ["decord", "pyav"]
    for _, times, timing in normal:
        assert timing is None
        np.testing.assert_allclose(times, PyAVSource(info).frame_times(), atol=1e-3)
    expected = plan_clips(normal[0][1], 4.0, 4.0, 8, normal_info.duration)
    assert plan_clips(PyAVSource(info).frame_times(), 4.0, 4.0, 8, info.duration) == expected


def test_a_file_stating_no_frame_rate_is_timed_at_25_fps(files):
    info = probe(files["no_rate"])
    assert info.fps is None and info.order_fps is None
    source = PyAVSource(info)
    times = source.frame_times()
    assert len(times) == 30
    np.testing.assert_allclose(np.diff(times), 1 / 25)
    assert source.timing == "frame order at an assumed 25 fps (all timestamps equal; the file states no frame rate)"


def _info(duration: float | None = None, fps: float | None = 25.0) -> VideoProbe:
    return VideoProbe(Path("x.mp4"), "mp4", "h264", 0, 1, 64, 48, 0, fps, duration, fps)


def test_which_timestamps_are_trusted():
    even = np.arange(200) / 25
    assert untrusted_reason(even, _info(8.0)) is None
    vfr = np.concatenate([np.arange(40) * 0.05, 2.0 + np.arange(1, 17) * 0.25])
    assert untrusted_reason(vfr, _info(6.0)) is None
    glitch = even.copy()
    glitch[[50, 51]] = glitch[[51, 50]]  # one frame a frame early: kept, sampling takes the latest one shown
    assert untrusted_reason(glitch, _info(8.0)) is None
    assert untrusted_reason(np.array([0.0]), _info()) is None
    assert untrusted_reason(np.zeros(200), _info()) == "all timestamps equal"
    assert untrusted_reason(even[::-1], _info(8.0)) == "timestamps run backwards"
    assert untrusted_reason(np.concatenate([even[:100], even[:100]]), _info(8.0)) == "timestamps run backwards"
    repeated = np.repeat(np.arange(100) / 12.5, 2)
    assert untrusted_reason(repeated, _info(8.0)) == "timestamps repeat"
    assert untrusted_reason(even * 10, _info(8.0)) == "timestamps span 79.6 s, the file states 8 s"
    assert untrusted_reason(np.array([0.0, np.nan]), _info()) == "timestamps missing"


def test_an_ingest_keeps_every_clip_and_status_says_how_they_were_timed(library, files, checkpoint):
    folder = files["normal"].parent
    summary = ingest(library, [folder])
    assert len(summary.indexed) == 5 and not summary.failed
    with library.store.session() as session:
        videos = {Path(v.path).stem: v for v in session.query(Video)}
        clips = {name: [(c.start_time, c.end_time) for c in video.clips] for name, video in videos.items()}
    assert videos["normal"].timing is None and videos["normal"].decoder == "decord"
    for mode in MODES:
        assert videos[mode].num_clips == videos["normal"].num_clips == 2
        assert clips[mode] == clips["normal"]
        assert videos[mode].duration == pytest.approx(FRAMES / FPS)
        assert videos[mode].decoder == "pyav"

    timed = library_status(library)["timed_by_frame_rate"]
    assert [Path(t["path"]).stem for t in timed] == ["backwards", "constant", "no_rate", "reset"]
    assert timed[1]["reason"] == "frame order at 25 fps (all timestamps equal)"

    settings = library.settings
    env = {
        "VSEARCH_DATA_DIR": str(settings.data_dir),
        "VSEARCH_DB_URL": settings.db_url,
        "VSEARCH_MODEL": str(checkpoint),
    }
    output = CliRunner().invoke(cli, ["status"], env=env, catch_exceptions=False).output
    assert f"timing:    {files['constant']}: timed by frame order at 25 fps (all timestamps equal)" in output
    assert str(files["normal"]) not in output


def test_a_preview_of_a_file_timed_by_order_spans_its_clip(files, tmp_path):
    """The preview takes the clip's frames by the same timing the ingest used, not by the useless pts."""
    from vsearch.media.preview import make_preview

    for name, by_order in (("normal", False), ("constant", True)):
        target = make_preview(str(files[name]), 4.0, 7.64, tmp_path / f"{name}.webm", by_order=by_order)
        with av.open(str(target)) as container:
            frames = list(container.decode(video=0))
        assert len(frames) >= 0.8 * 3.64 * 15, name  # about 15 fps over 3.64 s, not one frame
