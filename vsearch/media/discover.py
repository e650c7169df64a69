"""Discover: walk the given paths and pick the files that look like videos.

A file is a candidate when its extension is a video extension or its first bytes are a
video container's signature; candidates are then proven (or failed, with a reason) by the
decoder. Files named explicitly on the command line are always candidates.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

VIDEO_EXTENSIONS = frozenset(
    """
    .3g2 .3gp .264 .asf .avi .divx .dv .f4v .flv .h264 .h265 .hevc .ivf .m1v .m2t .m2ts .m2v .m4v
    .mj2 .mjpeg .mjpg .mkv .mov .mp4 .mpe .mpeg .mpg .mpv .mts .mxf .nut .ogg .ogm .ogv .qt .rm
    .rmvb .ts .vob .webm .wmv .y4m
    """.split()
)

# (offset, bytes) signatures of video containers and elementary streams.
_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"),  # ISO BMFF: mp4, mov, 3gp
    (4, b"moov"),
    (4, b"mdat"),
    (0, b"\x1a\x45\xdf\xa3"),  # EBML: mkv, webm
    (0, b"OggS"),
    (0, b"\x00\x00\x01\xba"),  # MPEG program stream
    (0, b"\x00\x00\x01\xb3"),  # MPEG-1/2 video elementary stream
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),  # ASF / WMV
    (0, b"FLV"),
    (0, b"YUV4MPEG2"),
    (0, b"DKIF"),  # IVF (VP8/VP9/AV1)
    (0, b"\x00\x00\x00\x01\x09"),  # H.264 Annex B with access unit delimiter
)


def looks_like_video(path: Path) -> bool:
    """True when the file starts with a known video container signature."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return False
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if len(head) >= 1 and head[0] == 0x47 and _is_transport_stream(path):
        return True
    return any(head[offset : offset + len(sig)] == sig for offset, sig in _SIGNATURES)


def _is_transport_stream(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            data = handle.read(188 * 3)
    except OSError:
        return False
    return len(data) == 188 * 3 and all(data[i * 188] == 0x47 for i in range(3))


def is_candidate(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS or looks_like_video(path)


def discover(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield candidate video files under `paths`, absolute, in a stable order, each once.

    Hidden files and folders (name starting with '.') are skipped when walking; a file named
    directly is always yielded so that its failure, if any, is reported.
    """
    seen: set[Path] = set()
    for root in paths:
        root = Path(root).expanduser().absolute()
        if root.is_file():
            found: Iterable[Path] = [root]
        else:
            found = _walk(root)
        for path in found:
            if path not in seen:
                seen.add(path)
                yield path


def _walk(root: Path) -> Iterator[Path]:
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(directory) / name
            if path.is_file() and is_candidate(path):
                yield path
