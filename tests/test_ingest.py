"""Ingest end to end: real files, the real tiny X-CLIP, a real database and FAISS index."""

import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from tests.videos import BAD, GOOD
from vsearch.errors import EmptyLibraryError, ModelMismatchError
from vsearch.ingest import ingest
from vsearch.library import Library
from vsearch.media.probe import probe
from vsearch.media.synthetic import encode
from vsearch.media.thumbnails import make_thumbnail, thumbnail_path
from vsearch.search import search
from vsearch.status import iter_export, library_status, prune_missing
from vsearch.store import repo


def _by_path(records):
    grouped = {}
    for record in records:
        grouped.setdefault(record["path"], []).append(record)
    return grouped


def test_ingest_indexes_good_files_and_reports_bad_ones(ingested, video_files):
    library, summary = ingested.library, ingested.summary
    assert sorted(summary.indexed) == sorted(str(video_files[k]) for k in GOOD)
    failed = dict(summary.failed)
    assert sorted(failed) == sorted(str(video_files[k]) for k in BAD)
    assert "empty" in failed[str(video_files["empty"])]
    assert all(reason for reason in failed.values())
    assert summary.clips > 0 and not summary.interrupted

    status = library_status(library)
    assert status["videos"] == {"indexed": len(GOOD), "failed": len(BAD)}
    assert status["clips"] == summary.clips and status["index"]["state"] == "up to date"
    assert {f["path"] for f in status["failed"]} == set(failed)


def test_clips_cover_every_second_of_every_video(ingested, video_files):
    library = ingested.library
    clips = _by_path(iter_export(library))
    num_frames = library.model.num_frames
    expected_durations = {"h264": 9.0, "vp9": 5.0, "mjpeg": 5.0, "rotated": 4.5, "vfr": 6.25, "short": 1.5,
                          "no_duration": 5.0, "raw_mpeg1": 3.0}
    for name, duration in expected_durations.items():
        records = sorted(clips[str(video_files[name])], key=lambda r: r["start"])
        assert records[0]["start"] == 0.0
        assert records[-1]["end"] == pytest.approx(duration, abs=0.06), name
        for before, after in zip(records, records[1:]):
            assert after["start"] <= before["end"] + 1e-6
        for record in records:
            assert record["end"] - record["start"] <= 4.0 * 1.25 + 1e-6  # a short tail stretches the last clip
            assert len(record["frame_indices"]) == num_frames == len(record["frame_times"])
            assert record["frame_indices"] == sorted(record["frame_indices"])
            assert all(record["start"] - 0.3 <= t <= record["end"] for t in record["frame_times"])
    assert len(clips[str(video_files["short"])]) == 1
    assert len(clips[str(video_files["rotated"])]) == 1  # 4.5 s: no twin window 0.5 s later
    assert [(r["start"], r["end"]) for r in sorted(clips[str(video_files["h264"])], key=lambda r: r["start"])] == [
        (0.0, 4.0), (4.0, 8.0), (5.0, 9.0)
    ]


def _decode_with_pyav(path, indices):
    import av

    wanted, frames = set(indices), {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                frames[i] = frame.to_ndarray(format="rgb24")
    return [frames[i] for i in indices]


@pytest.mark.parametrize("name", ["h264", "vfr", "no_duration"])
def test_stored_embeddings_equal_the_reference_model(ingested, video_files, checkpoint, name):
    """Frames decoded independently, XCLIPProcessor and get_video_features give the stored vectors."""
    from transformers import XCLIPProcessor

    library = ingested.library
    processor = XCLIPProcessor.from_pretrained(checkpoint)
    records = _by_path(iter_export(library))[str(video_files[name])]
    assert records
    for record in records:
        frames = _decode_with_pyav(record["path"], record["frame_indices"])
        pixels = processor(videos=frames, return_tensors="pt").pixel_values
        with torch.inference_mode():
            out = library.model.model.get_video_features(pixel_values=pixels)
        reference = out if isinstance(out, torch.Tensor) else out.pooler_output
        reference = torch.nn.functional.normalize(reference, dim=-1)[0].numpy()
        assert float(np.dot(reference, np.asarray(record["embedding"], np.float32))) >= 0.999


def test_second_ingest_embeds_nothing(library, library_folder):
    first = ingest(library, [library_folder])
    second = ingest(library, [library_folder])
    assert second.indexed == [] and second.clips == 0
    assert second.unchanged == len(GOOD)
    assert len(second.failed) == len(BAD)  # still failing, still reported
    assert library_status(library)["clips"] == first.clips


def test_changed_touched_moved_and_deleted_files(library, fresh_library_folder):
    folder = fresh_library_folder
    ingest(library, [folder])
    with library.store.session() as session:
        old_ids = set(repo.clip_ids_of(session, repo.video_by_path(session, str(folder / "h264.mp4")).id))
    before = library_status(library)["clips"]

    encode(folder / "h264.mp4", seconds=13.0, hue=9)  # changed: re-embedded, old clips replaced
    stat = (folder / "short.mp4").stat()
    os.utime(folder / "short.mp4", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched only
    shutil.move(folder / "mjpeg.avi", folder / "sub" / "moved.avi")  # moved
    (folder / "vfr.mp4").unlink()  # deleted

    summary = ingest(library, [folder])
    assert summary.indexed == [str(folder / "h264.mp4")]
    assert summary.removed == [str(folder / "vfr.mp4")]
    with library.store.session() as session:
        video = repo.video_by_path(session, str(folder / "h264.mp4"))
        new_ids = set(repo.clip_ids_of(session, video.id))
        assert repo.video_by_path(session, str(folder / "sub" / "moved.avi")) is not None
        assert repo.video_by_path(session, str(folder / "mjpeg.avi")) is None
    assert len(new_ids) == 4 and not (new_ids & old_ids)
    index = library.index()
    assert len(index) == library_status(library)["clips"] == before + 1 - 2
    stored = set(index.ids().tolist())
    assert new_ids <= stored and not (stored & old_ids)
    data_dir = library.settings.data_dir
    assert all(thumbnail_path(data_dir, i).exists() for i in new_ids)
    assert not any(thumbnail_path(data_dir, i).exists() for i in old_ids)


def test_prune_forgets_missing_files(library, fresh_library_folder):
    ingest(library, [fresh_library_folder / "h264.mp4", fresh_library_folder / "short.mp4"])
    (fresh_library_folder / "short.mp4").unlink()
    assert prune_missing(library) == [str(fresh_library_folder / "short.mp4")]
    assert library_status(library)["videos"]["indexed"] == 1
    assert len(library.index()) == 3


def test_search_returns_clips_with_absolute_paths(ingested):
    library = ingested.library
    response = search(library, "a white square moving", k=5, rerank=False)
    assert response.ranking == "embedding-cosine" and len(response.results) == 5
    assert [r.rank for r in response.results] == [1, 2, 3, 4, 5]
    scores = [r.score for r in response.results]
    assert scores == sorted(scores, reverse=True)
    assert all(os.path.isabs(r.path) and r.end > r.start for r in response.results)
    # stage 1's score is the cosine of the stored clip vector and the text embedding
    text = library.model.embed_text(["a white square moving"])[0]
    with library.store.session() as session:
        clip, _ = repo.clips_with_videos(session, [response.results[0].clip_id])[response.results[0].clip_id]
        assert float(np.dot(text, clip.vector())) == pytest.approx(scores[0], abs=1e-5)
    exact = search(library, "a white square moving", k=5)
    assert exact.ranking == "xclip" and [r.score for r in exact.results] == sorted(
        [r.score for r in exact.results], reverse=True)


def test_an_empty_library_says_so(library):
    with pytest.raises(EmptyLibraryError, match="vsearch ingest"):
        search(library, "anything")


def test_another_model_is_refused_until_reembedded(library, settings, video_files, tmp_path):
    from vsearch.model.random_checkpoint import build_checkpoint
    from vsearch.model.xclip import XClip

    ingest(library, [video_files["short"]])
    other_dir = build_checkpoint(tmp_path / "other", seed=1)
    other_settings = settings.model_copy(update={"model": str(other_dir)})
    other = Library(other_settings, model=XClip.load(str(other_dir), str(other_dir), "cpu", "fp32"))
    with pytest.raises(ModelMismatchError, match="--reembed"):
        ingest(other, [video_files["short"]])
    with pytest.raises(ModelMismatchError):
        search(other, "a dog")
    summary = ingest(other, [video_files["short"]], reembed=True)
    assert summary.indexed == [str(video_files["short"])]
    assert search(other, "a dog").model == str(other_dir)
    other.close()


def test_inline_and_worker_decoding_agree(ingested, video_files, xclip, tmp_path):
    library = ingested.library
    inline = Library(library.settings.model_copy(update={"workers": 0, "data_dir": tmp_path / "inline",
                                                         "db_url": None}), model=xclip)
    ingest(inline, [video_files["vp9"]])
    a = [r["embedding"] for r in _by_path(iter_export(library))[str(video_files["vp9"])]]
    b = [r["embedding"] for r in iter_export(inline)]
    np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-6)
    inline.close()


@pytest.mark.parametrize("name", ["h264", "rotated", "mjpeg"])
def test_ingest_stores_each_clips_thumbnail(ingested, video_files, name, tmp_path):
    library = ingested.library
    records = _by_path(iter_export(library))[str(video_files[name])]
    assert records
    for record in records:
        stored = thumbnail_path(library.settings.data_dir, record["clip_id"])
        remade = make_thumbnail(record["path"], record["frame_indices"], tmp_path / f"{record['clip_id']}.jpg")
        a, b = (np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) for p in (stored, remade))
        assert a.shape == b.shape and max(a.shape[:2]) <= 320
        assert np.abs(a - b).mean() < 2.0  # the same frame; only the decoder's seek path differs


@pytest.mark.parametrize("rotation", [0, 90])  # decord, and PyAV (decord is skipped for rotated video)
def test_decoder_prescale_keeps_the_embeddings(library, settings, xclip, tmp_path, rotation):
    """Frames scaled down in the decoder (to 320 px here) embed as full-resolution frames do."""
    path = encode(tmp_path / "hd.mp4", seconds=5.0, fps=10, width=1280, height=720, hue=3, rotation=rotation)
    ingest(library, [path])
    full = Library(settings.model_copy(update={"decoder_prescale": False, "data_dir": settings.data_dir / "full",
                                               "db_url": None}), model=xclip)
    ingest(full, [path])
    a = {(r["start"], r["end"]): np.asarray(r["embedding"]) for r in iter_export(library)}
    b = {(r["start"], r["end"]): np.asarray(r["embedding"]) for r in iter_export(full)}
    assert a.keys() == b.keys() and len(a) == 2
    assert min(float(a[key] @ b[key]) for key in a) >= 0.999
    full.close()


def test_probe_reports_what_ingest_records(ingested, video_files):
    library = ingested.library
    with library.store.session() as session:
        video = repo.video_by_path(session, str(video_files["rotated"]))
        info = probe(video_files["rotated"])
        assert (video.width, video.height, video.rotation, video.decoder) == (info.width, info.height, 90, "pyav")
