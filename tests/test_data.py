import numpy as np
import pytest
import torch
from tests.conftest import write_manifest

from noisereg.data.labelset import LabelledSet, multi_hot, one_hot
from noisereg.data.manifest import read_manifest
from noisereg.data.noise import class_flip_rates, flip_to_confusable, noise_rates, top_k_labels
from noisereg.errors import UserError
from noisereg.methods import Batch, NoiseRegularization, masked_bce
from noisereg.tasks.digits import digits_multi_label, digits_single_label
from noisereg.tasks.mosaics import mosaics


def test_label_index_out_of_range_names_the_sample():
    with pytest.raises(UserError, match="sample 1 has class index 5, expected 0..2"):
        multi_hot([[0], [5]], 3)
    with pytest.raises(UserError, match="class index -1"):
        one_hot([0, -1], 3)


def test_labelled_set_validates_shapes_and_values():
    with pytest.raises(UserError, match="noisy has shape"):
        LabelledSet(
            images=["a", "b"],
            classes=["x"],
            noisy=np.zeros((3, 1)),
            clean=np.zeros((2, 1)),
            has_noisy=[1, 1],
            has_clean=[0, 0],
        )
    with pytest.raises(UserError, match="multi-hot"):
        LabelledSet(images=["a"], classes=["x"], noisy=[[0.5]], clean=[[0]], has_noisy=[1], has_clean=[0])


def test_manifest_reads_unpaired_multi_label_rows(tmp_path):
    rows = [
        {"path": "a.png", "noisy": "cat;dog", "clean": "", "split": "train"},
        {"path": "b.png", "noisy": "", "clean": "dog", "split": "train"},
        {"path": "c.png", "noisy": "cat", "clean": "cat; bird", "split": "train"},
        {"path": "d.png", "noisy": "", "clean": "bird", "split": "test"},
    ]
    write_manifest(tmp_path / "m.csv", rows)
    s = read_manifest(tmp_path / "m.csv", split="train", check_files=False)
    assert s.classes == ["bird", "cat", "dog"]
    assert s.has_noisy.tolist() == [True, False, True] and s.has_clean.tolist() == [False, True, True]
    assert s.noisy[0].tolist() == [0, 1, 1] and s.clean[2].tolist() == [1, 1, 0]
    assert s.images[0] == str(tmp_path / "a.png") and not s.is_single_label


def test_manifest_reports_missing_columns(tmp_path):
    (tmp_path / "m.csv").write_text("path,labels\na.png,cat\n")
    with pytest.raises(UserError, match=r"missing column\(s\) \['noisy', 'clean', 'split'\]"):
        read_manifest(tmp_path / "m.csv", split="train")


def test_clean_mask_removes_entries_from_l_clean():
    logits = torch.tensor([[2.0, -1.0, 0.5]], requires_grad=True)
    targets = torch.tensor([[1.0, 1.0, 0.0]])
    mask = torch.tensor([[1.0, 0.0, 1.0]])
    loss = masked_bce(logits, targets, mask)
    loss.backward()
    assert logits.grad[0, 1] == 0 and logits.grad[0, 0] != 0
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, [0, 2]], targets[:, [0, 2]])
    assert loss.item() == pytest.approx(expected.item())
    # inside the method: changing a masked clean target changes nothing
    m = NoiseRegularization(4, 3, hidden=5)
    x = torch.randn(1, 4)
    a = m(x, Batch(x, targets, mask, torch.tensor([True])))["loss"]
    b = m(x, Batch(x, torch.tensor([[1.0, 0.0, 0.0]]), mask, torch.tensor([True])))["loss"]
    assert a.item() == b.item()


def test_class_dependent_flips_hit_their_rate():
    labels = np.repeat(np.arange(10), 1000)
    target = (np.arange(10) + 1) % 10
    rates = class_flip_rates(10, 0.4, seed=0)
    assert rates.mean() == pytest.approx(0.4) and sorted(set(rates.round(6))) == [0.2, 0.6]
    noisy = flip_to_confusable(labels, target, rates, seed=0)
    assert (noisy != labels).mean() == pytest.approx(0.4, abs=0.02)
    assert set(noisy[noisy != labels] - labels[noisy != labels]) <= {1, -9}  # only to the paired class


def test_top_k_labels_and_noise_rates():
    scores = np.array([[0.1, 0.9, 0.5, 0.2], [0.8, 0.1, 0.1, 0.7]])
    noisy = top_k_labels(scores, 2)
    assert noisy.tolist() == [[0, 1, 1, 0], [1, 0, 0, 1]]
    clean = np.array([[0, 1, 0, 0], [1, 1, 0, 0]])
    r = noise_rates(noisy, clean)
    assert r == {"image": 1.0, "missing": pytest.approx(1 / 3), "spurious": pytest.approx(2 / 4)}


def test_mosaic_labels_are_exactly_the_union_of_tiles():
    images = np.random.default_rng(0).random((30, 8, 8)).astype(np.float32)
    labels = np.arange(30) % 10
    m, tiles, multi = mosaics(images, labels, 50, seed=0)
    assert m.shape == (50, 16, 16)
    np.testing.assert_array_equal(m[:, :8, 8:], images[tiles[:, 1]])
    np.testing.assert_array_equal(m[:, 8:, :8], images[tiles[:, 2]])
    for row, t in zip(multi, tiles):
        assert set(np.flatnonzero(row)) == set(labels[t])


def test_demo_tasks_are_seeded_unpaired_and_as_noisy_as_documented():
    a, b = digits_single_label(seed=0), digits_single_label(seed=0)
    np.testing.assert_array_equal(a.train.noisy, b.train.noisy)
    assert a.noise["image"] == pytest.approx(0.4, abs=0.04)
    assert a.train.has_clean.mean() == pytest.approx(0.1, abs=0.01)
    assert not (a.train.has_clean & a.train.has_noisy).any()  # clean images left the noisy set
    m = digits_multi_label(seed=0)
    assert m.noise["missing"] > 0.1 and m.noise["spurious"] > 0.05  # both kinds of multi-label noise
    assert m.train.images.shape[1:] == (1, 16, 16) and not m.train.is_single_label


TINY_TRAIN = [
    "--scheme",
    "end-to-end",
    "--backbone",
    "small-cnn",
    "--image-size",
    "8",
    "--hidden",
    "8",
    "--batch-size",
    "8",
    "--steps",
    "4",
    "--quiet",
    "--device",
    "cpu",
]


def _folders_with_two_unreadable(tmp_path):
    """Digit folders with a truncated JPEG among the noisy images and a text .jpg among the clean ones."""
    from tests.conftest import write_image_folders, write_unreadable

    folders = write_image_folders(tmp_path / "photos", {"noisy": 6, "clean": 3, "val": 2}, side=16)
    truncated, _ = write_unreadable(folders["noisy"] / "0")
    _, text = write_unreadable(folders["clean"] / "1")
    truncated.with_name("text.jpg").unlink()
    text.with_name("truncated.jpg").unlink()
    return folders, truncated, text


def test_data_check_lists_every_image_that_does_not_decode_in_one_run(tmp_path, capsys):
    """Issue 44 (13): both bad files in one run, each with its reason; exit code 2 and one error line."""
    from noisereg.cli import main

    folders, truncated, text = _folders_with_two_unreadable(tmp_path)
    dirs = [
        "--format",
        "folders",
        "--noisy-dir",
        str(folders["noisy"]),
        "--clean-dir",
        str(folders["clean"]),
        "--val-dir",
        str(folders["val"]),
    ]
    for extra in (["--decode"], []):  # a set this small is decoded by default
        assert main(["data", "check", *dirs, "--quiet", *extra]) == 2
        out, err = capsys.readouterr()
        assert "decoded      35 images: 2 do not decode" in out
        assert f"  {truncated}: image file is truncated" in out and f"  {text}: cannot identify image file" in out
        errors = [ln for ln in err.splitlines() if ln.startswith("noisereg: error: ")]
        assert len(errors) == 1 and "2 of 35 images do not decode" in errors[0] and "--skip-unreadable" in errors[0]
    assert main(["data", "check", *dirs, "--no-decode"]) == 0
    assert "decoded" not in capsys.readouterr().out


def test_train_skip_unreadable_trains_without_them_and_says_how_many(tmp_path, capsys):
    """Issue 44 (13): --skip-unreadable decodes the training and validation images first, drops the two
    that do not decode, says so in one line, and trains on the rest (the config records the flag)."""
    from noisereg.cli import main

    folders, truncated, _ = _folders_with_two_unreadable(tmp_path)
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--noisy-dir",
                str(folders["noisy"]),
                "--clean-dir",
                str(folders["clean"]),
                "--val-dir",
                str(folders["val"]),
                "--out",
                str(out),
                "--skip-unreadable",
                *TINY_TRAIN,
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    skipped = [ln for ln in captured.err.splitlines() if ln.startswith("skipped")]
    assert len(skipped) == 1 and skipped[0].startswith(
        f"skipped 2 unreadable images (first: {truncated}: image file is truncated"
    )
    assert "on 9 clean + 18 noisy images" in captured.out  # 10 clean + 19 noisy files, one of each unreadable
    assert "skip_unreadable: true" in (out / "config.yaml").read_text()


def test_train_skip_unreadable_on_a_manifest_also_finds_label_issues(tmp_path, capsys):
    """The rows dropped from train and val stay out of the label-issue scoring after training (it reads the
    manifest again, as the checkpoint's config says)."""
    import pandas as pd
    from tests.conftest import write_digit_folder, write_unreadable

    from noisereg.cli import main

    manifest = write_digit_folder(tmp_path / "data", n_per_class=8)
    write_unreadable(tmp_path / "data" / "img")
    with open(manifest, "a") as f:
        f.write("img/truncated.jpg,0,,train\nimg/text.jpg,,1,val\n")
    argv = ["train", "--manifest", str(manifest), "--out", str(tmp_path / "run"), *TINY_TRAIN]
    assert main([*argv, "--skip-unreadable"]) == 0
    assert capsys.readouterr().err.count("skipped 2 unreadable images") == 1
    issues = pd.read_csv(tmp_path / "run" / "label_issues.csv")
    assert len(issues) == 15 and "img/truncated.jpg" not in set(issues["path"])
