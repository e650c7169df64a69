"""Examples as queries ("more like this"): a clip of the library, an image, or a clip of a video file, each
as an X-CLIP video embedding. Example and clip are compared by the cosine of their video embeddings: X-CLIP
defines no video-video logit (its prompt generator conditions a text on a video), so results of an
example query are ranked by that cosine (`ranking`: VIDEO_COSINE) and carry no relevance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.errors import VsearchError
from vsearch.store import repo

if TYPE_CHECKING:
    from vsearch.library import Library

VIDEO_COSINE = "video-cosine"


class ExampleError(VsearchError):
    """The example cannot be used: no such clip, not an image, a video that cannot be decoded."""

    exit_code = 2


@dataclass(frozen=True)
class Example:
    vector: np.ndarray  # (D,) L2-normalised video embedding
    description: str  # what the example was, for the response
    clip_id: int | None = None  # a library clip: never a result of its own query


def clip_example(library: Library, clip_id: int) -> Example:
    """A clip of the library, by id."""
    with library.store.session() as session:
        vectors = repo.clip_vectors(session, [clip_id])
    if clip_id not in vectors:
        raise ExampleError(f"no clip {clip_id} in the library: take a clip_id from `vsearch query ... --json`")
    return Example(np.asarray(vectors[clip_id], np.float32), f"clip {clip_id}", clip_id)


def image_example(library: Library, path: Path) -> Example:
    """An image, embedded as a still clip: the frame repeated for the model's frame count."""
    from PIL import Image, UnidentifiedImageError

    from vsearch.model.preprocess import preprocess_frames

    try:
        with Image.open(path) as image:
            frame = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ExampleError(f"{path}: not an image this can read ({exc.__class__.__name__}: {exc})") from exc
    model = library.model
    pixels = preprocess_frames([frame] * model.num_frames, model.spec)
    return Example(model.embed_clips(pixels[None]).vectors[0], f"image {Path(path).name}")


def video_example(library: Library, path: Path, at: float = 0.0) -> Example:
    """The clip of a video file that starts at `at` seconds, sampled and preprocessed as ingest does."""
    from vsearch.evaluation.labels import Moment
    from vsearch.model.preprocess import normalize
    from vsearch.training.data import decode_moments

    model = library.model
    seconds = library.settings.clip_seconds
    moment = Moment("", str(Path(path).absolute()), float(at), float(at) + seconds)
    clips, failed = decode_moments([moment], model.spec, model.num_frames, seconds)
    if failed or not clips:
        why = failed[0][1] if failed else "no frames there"
        raise ExampleError(f"{path}: cannot use its clip at {at:g} s ({why})")
    pixels = normalize(clips[0].frames, model.spec)
    return Example(model.embed_clips(pixels[None]).vectors[0], f"video {Path(path).name} at {at:g} s")
