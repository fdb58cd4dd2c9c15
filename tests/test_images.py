"""Preprocessing through torchvision transforms v2: the evaluation transform (resize, centre crop,
normalise) and the seeded augmentation of end-to-end training (random resized crop, flip)."""

import numpy as np
import torch
from PIL import ExifTags, Image

from noisereg.data.images import Preprocess, eval_transform, image_to_tensor, iter_inputs, load_image
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.data.sampler import MixedBatchSampler
from noisereg.train import iter_training_batches

PRE = Preprocess(8, 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def test_eval_transform_resizes_the_short_side_and_crops_the_centre(tmp_path):
    wide = np.zeros((16, 48, 3), np.uint8)
    wide[:, 12:36] = 255  # a white centre between black sides
    x = image_to_tensor(Image.fromarray(wide), PRE)
    assert x.shape == (3, 8, 8)
    torch.testing.assert_close(x, torch.full((3, 8, 8), (1.0 - 0.5) / 0.25))  # only the centre is left
    grey = image_to_tensor(Image.fromarray(wide[..., 0]).convert("L"), PRE)  # grey input becomes RGB
    assert grey.shape == (3, 8, 8)
    assert [type(t).__name__ for t in eval_transform(PRE).transforms][:2] == ["Resize", "CenterCrop"]


def _files(tmp_path, n=12):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (12, 20, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def _batches(data, steps, augment_seed, rank=0, world_size=1):
    sampler = MixedBatchSampler(
        data.clean_indices, data.noisy_indices, batch_size=4, clean_ratio=0.25, seed=0, rank=rank, world_size=world_size
    )
    return [b.x for b in iter_training_batches(data, data.images, PRE, sampler, steps, augment_seed=augment_seed)]


def _digits_like(images):
    y = np.arange(12) % 3
    return LabelledSet(
        images=images,
        classes=["a", "b", "c"],
        noisy=one_hot(y, 3),
        clean=one_hot(y, 3),
        has_noisy=np.arange(12) >= 3,
        has_clean=np.arange(12) < 3,
    )


def test_augmentation_is_a_pure_function_of_seed_and_step(tmp_path):
    for images in (_files(tmp_path), torch.rand(12, 3, 12, 20)):
        y = np.arange(12) % 3
        data = LabelledSet(
            images=images,
            classes=["a", "b", "c"],
            noisy=one_hot(y, 3),
            clean=one_hot(y, 3),
            has_noisy=np.arange(12) >= 3,
            has_clean=np.arange(12) < 3,
        )
        plain, augmented = _batches(data, range(4), None), _batches(data, range(4), 0)
        resumed = _batches(data, range(2, 4), 0)  # a run resumed at step 2 sees the same batches
        for step in (2, 3):
            torch.testing.assert_close(resumed[step - 2], augmented[step])
        assert all(a.shape == (4, 3, 8, 8) for a in augmented)
        assert not any(torch.allclose(a, p) for a, p in zip(augmented, plain))
        assert not torch.allclose(_batches(data, range(1), 1)[0], augmented[0])  # another seed, other crops


def test_ranks_augment_their_blocks_as_one_process_augments_those_rows(tmp_path):
    """Under torchrun each rank holds a block of the global batch (here rows 0-1 and 2-3 of 4): its images
    get the crops and flips those rows get in one process, so N processes train on one process's inputs."""
    for images in (_files(tmp_path), torch.rand(12, 3, 12, 20)):
        data = _digits_like(images)
        single = _batches(data, range(3), 0)
        ranks = [_batches(data, range(3), 0, rank=r, world_size=2) for r in range(2)]
        for step in range(3):
            torch.testing.assert_close(torch.cat([ranks[0][step], ranks[1][step]]), single[step])


def test_features_are_never_augmented():
    feats = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    batches = [np.arange(3), np.arange(3, 6)]
    for a, b in zip(iter_inputs(feats, PRE, batches), iter_inputs(feats, PRE, batches, augment_seeds=[1, 2])):
        torch.testing.assert_close(a, b)


def _tagged_jpeg(path, orientation):
    """A 64 x 32 JPEG, red in its left half and blue in its right, with EXIF orientation ``orientation``
    (6: the camera was turned, show it rotated 90 degrees clockwise; 8: counter-clockwise)."""
    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[:, :32, 0] = 255
    pixels[:, 32:, 2] = 255
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    Image.fromarray(pixels).save(path, quality=95, exif=exif)
    return path


def test_load_image_applies_the_exif_orientation(tmp_path):
    assert load_image(_tagged_jpeg(tmp_path / "plain.jpg", 1)).size == (64, 32)
    for orientation, red_on_top in ((6, True), (8, False)):
        image = load_image(_tagged_jpeg(tmp_path / f"{orientation}.jpg", orientation))
        assert image.size == (32, 64)  # (width, height): upright, as a photo viewer shows it
        top, bottom = np.asarray(image)[4, 16], np.asarray(image)[60, 16]
        assert (top[0] > 200 and bottom[2] > 200) if red_on_top else (top[2] > 200 and bottom[0] > 200)
        assert load_image(tmp_path / f"{orientation}.jpg", 1).size == (32, 64)


def test_training_prediction_and_report_images_are_upright(tmp_path):
    """The folder dataset's images as the trainer, the feature extractor and ``predict`` read them, and
    a report thumbnail, all come out rotated by the tag."""
    from noisereg.data.folders import folders_table
    from noisereg.data.images import ImageFiles
    from noisereg.report.evidence import thumbnail

    for c in ("a", "b"):
        (tmp_path / "noisy" / c).mkdir(parents=True)
        _tagged_jpeg(tmp_path / "noisy" / c / "phone.jpg", 6)
    data = folders_table(noisy=tmp_path / "noisy").to_labelled_set("train")
    pre = Preprocess(8, 3, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    for x in (next(iter_inputs(data.images, pre, [np.arange(2)]))[0], ImageFiles(data.images, pre)[0]):
        red, blue = x[0], x[2]  # upright: red above blue (unrotated it would be red left of blue)
        assert red[:3].mean() > 0.8 and blue[-3:].mean() > 0.8 and red[-3:].mean() < 0.2
    assert thumbnail(data, 0, tmp_path / "thumb.png") == "thumb.png"
    width, height = Image.open(tmp_path / "thumb.png").size
    assert height == 2 * width


def test_export_notes_say_to_turn_the_image_upright_then_resize_as_recorded():
    from noisereg.export import deployment_info

    pre = Preprocess(224, resize_size=256, interpolation="bicubic")
    meta = {
        "preprocess": pre.to_dict(),
        "feature_dim": 512,
        "classes": ["a", "b"],
        "config": {"method": "proposed"},
        "backbone": "resnet18",
    }
    notes = deployment_info(meta)["input"]
    assert (notes["resize_short_side"], notes["center_crop"], notes["interpolation"]) == (256, 224, "bicubic")
    assert "EXIF orientation tag first, before resizing" in notes["orientation"]


def test_every_file_that_does_not_decode_is_found_at_once_with_its_reason(tmp_path):
    """Issue 44 (13): a truncated JPEG opens (its header is whole) but does not decode; a text file named
    .jpg does not open; both are returned in one pass, in path order, beside the images that decode."""
    import pytest
    from tests.conftest import write_unreadable

    from noisereg.data.decode import UnreadableImage, find_unreadable

    good = _files(tmp_path, 5)
    truncated, text = write_unreadable(tmp_path / "bad")
    Image.open(truncated).close()  # opening alone accepts it: the check must decode the pixels
    with pytest.raises(UnreadableImage, match="truncated") as e:
        load_image(truncated)
    assert e.value.path == str(truncated) and "truncated" in e.value.reason and str(truncated) not in e.value.reason
    found = find_unreadable(
        [good[0], str(text), *good[1:], str(truncated), str(tmp_path / "gone.png")], quiet=True, workers=2, chunk=2
    )
    assert [f.path for f in found] == [str(text), str(truncated), str(tmp_path / "gone.png")]
    assert "cannot identify image" in found[0].reason and "truncated" in found[1].reason
    assert found[2].reason == "not found"
    assert find_unreadable(good, quiet=True) == []
