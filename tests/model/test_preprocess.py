"""The frames-to-tensor path equals the checkpoint's XCLIPProcessor on the same frames."""

import numpy as np
import pytest

from vsearch.media.resize import PreprocessSpec, resize_and_crop
from vsearch.model.preprocess import normalize, preprocess_frames


def _pil_image_processor_class():
    """The processor's PIL implementation, which vsearch reproduces. Where torchvision is installed,
    transformers 5 picks a torchvision backend by default, whose resize rounds a few pixels (about 0.2 %)
    to the neighbouring level; the PIL class is the reference either way."""
    import transformers

    return getattr(transformers, "VideoMAEImageProcessorPil", transformers.VideoMAEImageProcessor)


@pytest.fixture(scope="module")
def processor(checkpoint):
    from transformers import XCLIPProcessor

    processor = XCLIPProcessor.from_pretrained(checkpoint)
    processor.image_processor = _pil_image_processor_class().from_pretrained(checkpoint)
    return processor


@pytest.mark.parametrize("shape", [(48, 64), (64, 48), (33, 97), (32, 32), (20, 30), (720, 1280)])
def test_matches_xclip_processor(processor, shape):
    rng = np.random.default_rng(sum(shape))
    frames = [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(4)]
    expected = processor(videos=frames, return_tensors="np")["pixel_values"][0]
    ours = preprocess_frames(frames, PreprocessSpec.from_image_processor(processor.image_processor))
    assert ours.shape == expected.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)


def test_full_size_processor_settings(processor):
    """The 224-pixel settings of xclip-base-patch32's processor, on a 1080p-like frame."""
    from vsearch.model.random_checkpoint import CLIP_MEAN, CLIP_STD

    image_processor = _pil_image_processor_class()(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}, image_mean=CLIP_MEAN, image_std=CLIP_STD
    )
    frame = np.random.default_rng(1).integers(0, 256, (270, 480, 3), dtype=np.uint8)
    expected = image_processor([frame], return_tensors="np")["pixel_values"][0]
    spec = PreprocessSpec.from_image_processor(image_processor)
    np.testing.assert_allclose(preprocess_frames([frame], spec), expected, atol=1e-6)


def test_split_halves_compose(processor):
    spec = PreprocessSpec.from_image_processor(processor.image_processor)
    frame = np.random.default_rng(3).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    cropped = resize_and_crop(frame, spec)
    assert cropped.dtype == np.uint8 and cropped.shape == (32, 32, 3)
    np.testing.assert_array_equal(normalize(cropped[None], spec), preprocess_frames([frame], spec))


def test_resized_size_follows_transformers():
    spec = PreprocessSpec(224, None, None, 224, 224, 2, 1 / 255, (0.5,) * 3, (0.5,) * 3)
    assert spec.resized_size(1080, 1920) == (224, 398)
    assert spec.resized_size(1920, 1080) == (398, 224)


def test_normalize_by_level_table_is_bit_identical_to_the_float_arithmetic():
    from vsearch.model.preprocess import _normalize_values

    spec = PreprocessSpec(None, None, None, None, None, 2, 1 / 255, (0.48145466, 0.4578275, 0.40821073),
                          (0.26862954, 0.26130258, 0.27577711))
    frames = np.random.default_rng(0).integers(0, 256, (2, 8, 12, 10, 3), dtype=np.uint8)
    fast = normalize(frames, spec)
    assert fast.shape == (2, 8, 3, 12, 10) and fast.dtype == np.float32 and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, _normalize_values(frames, spec.rescale_factor, spec.mean, spec.std))
    torch = pytest.importorskip("torch")
    from vsearch.model.preprocess import normalize_tensor

    on_tensor = normalize_tensor(torch, torch.from_numpy(frames), spec)
    assert on_tensor.dtype == torch.float32
    np.testing.assert_array_equal(on_tensor.numpy(), fast)
