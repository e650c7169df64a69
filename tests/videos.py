"""The test library: real video files of many kinds, good and bad (vsearch.media.synthetic encodes them)."""

from __future__ import annotations

from pathlib import Path

from vsearch.media.synthetic import encode


def make_library(folder: Path) -> dict[str, Path]:
    """The test library: good videos of several kinds, and files that must fail with a reason."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "h264": encode(folder / "h264.mp4", seconds=9.0, hue=0),
        "vp9": encode(folder / "sub" / "vp9.webm", codec="libvpx-vp9", seconds=5.0, hue=1),
        "mjpeg": encode(folder / "mjpeg.avi", codec="mjpeg", pix_fmt="yuvj420p", seconds=5.0, hue=2),
        "rotated": encode(folder / "rotated.mp4", seconds=4.5, width=64, height=48, rotation=90, hue=3),
        "vfr": encode(
            folder / "vfr.mp4",
            fps=30,
            frame_times=[i * 0.05 for i in range(40)] + [2.0 + i * 0.25 for i in range(1, 17)],
            hue=4,
        ),
        "short": encode(folder / "short.mp4", seconds=1.5, hue=5),
        "no_duration": encode(folder / "sub" / "live.webm", codec="libvpx", seconds=5.0, hue=6, seekable=False),
        "raw_mpeg1": encode(folder / "raw.mpv", codec="mpeg1video", seconds=3.0, fps=25, hue=7),
    }
    truncated = folder / "truncated.mp4"
    data = files["h264"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    files["truncated"] = truncated
    (folder / "empty.mp4").write_bytes(b"")
    files["empty"] = folder / "empty.mp4"
    (folder / "notes.mp4").write_text("this is a text file, not a video\n" * 20)
    files["text"] = folder / "notes.mp4"
    (folder / "README.txt").write_text("not a video, and not named like one\n")
    return files


GOOD = ("h264", "vp9", "mjpeg", "rotated", "vfr", "short", "no_duration", "raw_mpeg1")
BAD = ("truncated", "empty", "text")
