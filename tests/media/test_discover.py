from vsearch.media.discover import discover, looks_like_video


def test_finds_videos_by_extension_and_by_content(tmp_path, video_files):
    folder = video_files["h264"].parent
    found = {p.name for p in discover([folder])}
    assert {"h264.mp4", "vp9.webm", "mjpeg.avi", "raw.mpv", "empty.mp4", "notes.mp4"} <= found
    assert "README.txt" not in found


def test_content_sniffing_finds_a_video_without_extension(tmp_path, video_files):
    renamed = tmp_path / "holiday"
    renamed.write_bytes(video_files["h264"].read_bytes())
    (tmp_path / ".hidden.mp4").write_bytes(b"x")
    assert looks_like_video(renamed)
    assert [p.name for p in discover([tmp_path])] == ["holiday"]


def test_a_named_file_is_always_a_candidate(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("hi")
    assert list(discover([note])) == [note]


def test_each_file_once_in_stable_order(video_files):
    folder = video_files["h264"].parent
    first = list(discover([folder, folder / "sub"]))
    assert len(first) == len(set(first))
    assert first == list(discover([folder, folder / "sub"]))
