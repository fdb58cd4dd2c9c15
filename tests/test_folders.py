"""Image folders as datasets: torchvision's ImageFolder layout, Hugging Face imagefolder metadata, the fixed
class list, and the file lists that prediction reads."""

import json

import numpy as np
import pytest
from PIL import Image
from tests.conftest import write_image_folders, write_manifest

from noisereg.cli import main
from noisereg.data.folders import folder_images, folder_labels, folders_table, image_paths
from noisereg.errors import UserError


def test_image_folder_layout_reads_as_torchvision_does(tmp_path):
    from torchvision.datasets import ImageFolder

    f = write_image_folders(tmp_path, {"noisy": 5, "clean": 2, "test": 3})
    theirs = ImageFolder(str(f["noisy"]))
    paths, names = folder_labels(f["noisy"])
    assert paths == [p for p, _ in theirs.samples]
    assert [n[0] for n in names] == [theirs.classes[k] for _, k in theirs.samples]

    table = folders_table(noisy=f["noisy"], clean=f["clean"], test=f["test"])
    assert table.classes == ["0", "1", "7"] and not table.multi_label
    train = table.to_labelled_set("train")
    assert int(train.has_noisy.sum()) == 15 and int(train.has_clean.sum()) == 6
    assert not (train.has_noisy & train.has_clean).any()
    test = table.to_labelled_set("test")
    assert len(test) == 9 and test.has_clean.all() and not test.has_noisy.any()
    # a clean image's label is its folder's name
    row = train.ids.index(str(f["clean"] / "7" / "7_5.png"))
    assert train.classes[int(train.clean[row].argmax())] == "7"


def test_an_image_in_both_noisy_and_clean_folders_keeps_both_labels(tmp_path):
    f = write_image_folders(tmp_path, {"noisy": 3})
    train = folders_table(noisy=f["noisy"], clean=f["noisy"]).to_labelled_set("train")  # one row per image
    assert len(train) == 9 and train.has_noisy.all() and train.has_clean.all()
    np.testing.assert_array_equal(train.noisy, train.clean)


def test_a_test_image_cannot_also_be_a_training_image(tmp_path):
    f = write_image_folders(tmp_path, {"noisy": 3})
    with pytest.raises(UserError, match="both the noisy folder and the test folder"):
        folders_table(noisy=f["noisy"], test=f["noisy"])


def _mosaic(root, name, digits):
    from sklearn.datasets import load_digits

    d = load_digits()
    tiles = [d.images[np.flatnonzero(d.target == k)[i]] for i, k in enumerate(digits)]
    Image.fromarray((np.hstack(tiles) * 255 / 16).astype(np.uint8)).save(root / name)


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_hugging_face_imagefolder_metadata_gives_multi_label_sets(tmp_path, kind):
    rows = [("a.png", ["1", "7"]), ("b.png", ["0"]), ("c.png", [])]
    for name, labels in rows:
        _mosaic(tmp_path, name, [int(c) for c in labels] or [3])
    if kind == "jsonl":
        (tmp_path / "metadata.jsonl").write_text(
            "".join(json.dumps({"file_name": n, "labels": ls}) + "\n" for n, ls in rows)
        )
    else:
        (tmp_path / "metadata.csv").write_text("file_name,label\n" + "".join(f"{n},{';'.join(ls)}\n" for n, ls in rows))
    table = folders_table(clean=tmp_path)
    assert table.classes == ["0", "1", "7"] and table.multi_label
    data = table.to_labelled_set("train")
    assert data.clean.tolist() == [[0, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert data.has_clean.all()  # an empty list is a known empty label set


def test_metadata_errors_name_the_file(tmp_path):
    (tmp_path / "metadata.csv").write_text("file_name,colour\na.png,red\n")
    with pytest.raises(UserError, match="expected columns file_name and label"):
        folders_table(noisy=tmp_path)
    (tmp_path / "metadata.csv").write_text("file_name,label\nmissing.png,cat\n")
    with pytest.raises(UserError, match="missing.png"):
        folders_table(noisy=tmp_path)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(UserError, match="image folder not found"):
        folders_table(noisy=tmp_path / "nope")
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "notes.txt").write_text("no images here")
    with pytest.raises(UserError, match="no images in its class folders"):
        folders_table(noisy=tmp_path)


def _fails(capsys, argv, *patterns):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("noisereg: error:") and len(err.strip().splitlines()) == 1, err
    for p in patterns:
        assert p in err, err


def test_a_class_typo_is_refused_with_a_suggestion(tmp_path, capsys):
    f = write_image_folders(tmp_path, {"noisy": 3, "clean": 2})
    (f["noisy"] / "7").rename(f["noisy"] / "seven")
    (f["clean"] / "7").rename(f["clean"] / "sevn")  # the typo
    train = ["train", "--noisy-dir", str(f["noisy"]), "--clean-dir", str(f["clean"]), "--out", str(tmp_path / "run")]
    classes = tmp_path / "classes.txt"
    classes.write_text("0\n1\nseven\n")
    _fails(
        capsys, train + ["--classes", str(classes)], f"{f['clean']}", "unknown class 'sevn'", "did you mean 'seven'?"
    )
    # the same list refuses a manifest label
    rows = [
        {"path": str(p), "noisy": "", "clean": "sevn", "split": "train"} for p in list(f["noisy"].rglob("*.png"))[:2]
    ]
    write_manifest(tmp_path / "m.csv", rows)
    _fails(
        capsys,
        ["train", "--manifest", str(tmp_path / "m.csv"), "--classes", str(classes), "--out", str(tmp_path / "run")],
        "m.csv:2 column clean",
        "unknown class 'sevn'",
        "did you mean 'seven'?",
    )


def test_class_names_that_look_misspelt_are_warned_about_before_any_work(tmp_path, capsys, digit_folder):
    """Without --classes: a folder 'airplnae' beside 'airplane', 'Cat' beside 'cat' in a manifest, 'persn' beside
    'person' in metadata.jsonl: one line on stderr naming both, when the data is opened (nothing trained yet)."""
    from noisereg.cli import build_parser
    from noisereg.cli.training import train_and_val
    from noisereg.data.classes import look_alike_classes

    f = write_image_folders(tmp_path, {"noisy": 3})
    (f["noisy"] / "0").rename(f["noisy"] / "airplane")
    (f["noisy"] / "1").rename(f["noisy"] / "airplnae")
    train_and_val(build_parser().parse_args(["train", "--noisy-dir", str(f["noisy"]), "--out", str(tmp_path / "r")]))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'airplane' and 'airplnae'" in err[0] and "--classes" in err[0], err
    lines = digit_folder.read_text().splitlines()
    named = [lines[0]] + [
        ln.replace(",0,", ",cat,").replace(",1,", ",Cat,").replace(",7,", ",dog,") for ln in lines[1:]
    ]
    (tmp_path / "named.csv").write_text("\n".join(named) + "\n")
    train_and_val(
        build_parser().parse_args(
            [
                "train",
                "--manifest",
                str(tmp_path / "named.csv"),
                "--image-root",
                str(digit_folder.parent),
                "--out",
                str(tmp_path / "r"),
            ]
        )
    )
    assert "'Cat' and 'cat'" in capsys.readouterr().err
    (tmp_path / "classes.txt").write_text("airplane\nairplnae\n7\n")  # a fixed list: said by the user, no warning
    train_and_val(
        build_parser().parse_args(
            [
                "train",
                "--noisy-dir",
                str(f["noisy"]),
                "--classes",
                str(tmp_path / "classes.txt"),
                "--out",
                str(tmp_path / "r"),
            ]
        )
    )
    assert capsys.readouterr().err == ""
    meta = tmp_path / "meta"
    meta.mkdir()
    for i in range(2):
        (meta / f"{i}.png").write_bytes(next((f["noisy"] / "7").glob("*.png")).read_bytes())
    (meta / "metadata.jsonl").write_text(
        "".join(
            json.dumps({"file_name": f"{i}.png", "label": label}) + "\n" for i, label in enumerate(["person", "persn"])
        )
    )
    train_and_val(build_parser().parse_args(["train", "--noisy-dir", str(meta), "--out", str(tmp_path / "r")]))
    assert "'persn' and 'person'" in capsys.readouterr().err
    assert look_alike_classes(["person", "persn", "car", "cat", "0", "1", "7", "dog", "dogs"]) == [("person", "persn")]
    from noisereg.data.inputs import training_sets  # the Python API warns the same way

    training_sets(f["noisy"])
    assert "'airplane' and 'airplnae'" in capsys.readouterr().err


def test_folder_and_manifest_options_exclude_each_other(tmp_path, capsys, digit_folder):
    f = write_image_folders(tmp_path, {"noisy": 2})
    _fails(
        capsys,
        ["train", "--manifest", str(digit_folder), "--noisy-dir", str(f["noisy"]), "--out", str(tmp_path / "r")],
        "not both",
    )
    _fails(capsys, ["train", "--out", str(tmp_path / "r")], "--manifest FILE or image folders")
    (tmp_path / "empty.txt").write_text("\n")
    _fails(
        capsys,
        [
            "train",
            "--noisy-dir",
            str(f["noisy"]),
            "--classes",
            str(tmp_path / "empty.txt"),
            "--out",
            str(tmp_path / "r"),
        ],
        "class list is empty",
    )


def test_image_paths_expands_folders_and_globs_in_order(tmp_path):
    f = write_image_folders(tmp_path, {"test": 2})
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("b.png", "a.jpg"):
        (plain / name).write_bytes((f["test"] / "0" / "0_0.png").read_bytes())
    (plain / "readme.txt").write_text("not an image")
    got = image_paths([str(plain), str(f["test"] / "7" / "*.png"), str(tmp_path / "missing.png")])
    assert got == [
        str(plain / "a.jpg"),
        str(plain / "b.png"),
        *sorted(str(p) for p in (f["test"] / "7").glob("*.png")),
        str(tmp_path / "missing.png"),
    ]
    assert len(image_paths([f["test"]])) == 6  # a labelled folder: the images of its class folders
    with pytest.raises(UserError, match="no file matches"):
        image_paths([str(tmp_path / "*.tiff")])


def _stray_folders(folder, png: bytes) -> None:
    """What unpacking a Mac zip or running Jupyter leaves: __MACOSX/ with ._ files, .ipynb_checkpoints/, an
    empty folder."""
    for stray in ("__MACOSX/._a.png", "__MACOSX/7/._7_0.png", ".ipynb_checkpoints/a-checkpoint.png", "0/._0_0.png"):
        (folder / stray).parent.mkdir(parents=True, exist_ok=True)
        (folder / stray).write_bytes(png)
    (folder / "empty").mkdir()


def test_a_flat_folder_is_predicted_with_its_subfolders_whatever_they_hold(tmp_path):
    png = (write_image_folders(tmp_path / "src", {"test": 1})["test"] / "0" / "0_0.png").read_bytes()
    flat = tmp_path / "flat"
    for name in ("a.jpg", "b.png", "sub/c.png", "sub/deeper/d.png"):
        (flat / name).parent.mkdir(parents=True, exist_ok=True)
        (flat / name).write_bytes(png)
    _stray_folders(flat, png)
    expected = [str(flat / n) for n in ("a.jpg", "b.png", "sub/c.png", "sub/deeper/d.png")]
    assert folder_images(flat) == (expected, None)  # not read as class folders: every image, unlabelled
    assert image_paths([flat]) == expected
    only_stray = tmp_path / "only_stray"
    _stray_folders(only_stray, png)
    with pytest.raises(UserError, match="no image files"):
        folder_images(only_stray)


def test_hidden_folders_and_macosx_are_never_classes_or_images(tmp_path, capsys):
    f = write_image_folders(tmp_path, {"noisy": 3, "test": 2})
    before = folders_table(noisy=f["noisy"])
    png = (f["noisy"] / "0" / "0_0.png").read_bytes()
    for folder in (f["noisy"], f["test"]):
        _stray_folders(folder, png)
    table = folders_table(noisy=f["noisy"])
    assert table.classes == ["0", "1", "7"] and list(table.ids) == list(before.ids)
    paths, labels = folder_images(f["test"])
    assert len(paths) == 6 and sorted({n for (n,) in labels}) == ["0", "1", "7"]  # still read as class folders
    assert capsys.readouterr().err == ""
    (f["noisy"] / "loose.png").write_bytes(png)  # an image beside the class folders: said, not read
    assert list(folders_table(noisy=f["noisy"]).ids) == list(before.ids)
    err = capsys.readouterr().err
    assert "1 image(s) directly inside it" in err and "not read" in err and len(err.splitlines()) == 1


def test_data_check_and_manifest_read_folders(tmp_path, capsys):
    from noisereg.data.manifest import read_table

    f = write_image_folders(tmp_path, {"noisy": 5, "clean": 2, "test": 3}, noise=0.4)
    dirs = ["--noisy-dir", str(f["noisy"]), "--clean-dir", str(f["clean"]), "--test-dir", str(f["test"])]
    assert main(["data", "check", "--format", "folders", *dirs, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == {"train": 21, "test": 9, "total": 30} and summary["class_names"] == ["0", "1", "7"]
    assert main(["data", "manifest", "--format", "folders", *dirs, "--out", str(tmp_path / "m.csv")]) == 0
    table = read_table(tmp_path / "m.csv")
    assert table.classes == ["0", "1", "7"] and table.splits() == ["train", "test"] and len(table) == 30


def test_data_manifest_writes_paths_relative_to_its_root(tmp_path, capsys):
    """Inside the image root: paths relative to the manifest's folder, read as they are. Elsewhere: paths
    relative to the images' root, which the output names; read without --image-root they are not found,
    and an absolute path outside the root is refused (issue 13)."""
    from noisereg.data.files import check_images
    from noisereg.data.manifest import read_table

    f = write_image_folders(tmp_path / "data", {"noisy": 3, "clean": 2}, noise=0.4)
    dirs = ["--noisy-dir", str(f["noisy"]), "--clean-dir", str(f["clean"])]
    assert main(["data", "manifest", "--format", "folders", *dirs, "--out", str(tmp_path / "data" / "m.csv")]) == 0
    assert "--image-root" not in capsys.readouterr().out
    text = (tmp_path / "data" / "m.csv").read_text()
    assert "noisy/" in text and str(tmp_path) not in text
    check_images(read_table(tmp_path / "data" / "m.csv").image_paths())

    assert main(["data", "manifest", "--format", "folders", *dirs, "--out", str(tmp_path / "runs" / "m.csv")]) == 0
    assert f"read it with --image-root {tmp_path / 'data'}" in capsys.readouterr().out
    assert (tmp_path / "runs" / "m.csv").read_text() == text
    check_images(read_table(tmp_path / "runs" / "m.csv", image_root=tmp_path / "data").image_paths())
    with pytest.raises(UserError, match="not found"):
        check_images(read_table(tmp_path / "runs" / "m.csv").image_paths())

    absolute = text.replace("\nnoisy/", f"\n{tmp_path / 'data'}/noisy/")
    (tmp_path / "runs" / "abs.csv").write_text(absolute)
    with pytest.raises(UserError, match=r"abs\.csv:2: .*absolute and outside"):
        read_table(tmp_path / "runs" / "abs.csv")
    n = len(text.splitlines()) - 1
    assert len(read_table(tmp_path / "runs" / "abs.csv", image_root=tmp_path / "data")) == n  # inside the root
    assert len(read_table(tmp_path / "runs" / "abs.csv", allow_outside_root=True)) == n
