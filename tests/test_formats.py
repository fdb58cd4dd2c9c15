"""Every dataset format on fixture files in its official layout, including the error cases."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from conftest import SHARED_DATA
from formats import (
    CLOTHING,
    oi_id,
    write_cifar100_n,
    write_cifar100_pickles,
    write_cifar_n,
    write_cifar_pickles,
    write_clothing1m,
    write_coco,
    write_openimages,
    write_yolo,
)
from noisereg.cli import main
from noisereg.data.check import summarize
from noisereg.errors import UserError

needs_cifar = pytest.mark.skipif(
    not (SHARED_DATA / "cifar10n" / "CIFAR-10_human.pt").is_file(), reason="../shared/data/cifar10n is absent"
)
needs_coco128 = pytest.mark.skipif(
    not (SHARED_DATA / "coco128" / "annotations").is_dir(), reason="../shared/data/coco128 is absent"
)


def labels_of(table, matrix, id_):
    return table.label_names(matrix, list(table.ids).index(id_))


def run_cli(capsys, *argv):
    code = main(list(map(str, argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


# --- MS COCO -------------------------------------------------------------------------------------


def test_coco_instances_json_gives_80_class_style_multi_hot_labels(tmp_path):
    from noisereg.data.sources.coco import read_coco

    expected = write_coco(tmp_path)
    table = read_coco(tmp_path)
    assert table.classes == ["person", "car", "dog"]  # ordered by category id 1, 3, 18
    for image, names in expected.items():
        assert sorted(labels_of(table, table.clean, image)) == names
    assert table.splits() == ["train", "val"] and table.has_clean.all() and not table.has_noisy.any()
    s = summarize(table)
    assert s["images"] == {"train": 4, "val": 1, "total": 5}
    assert s["label_cardinality"]["clean"] == pytest.approx(6 / 5)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["annotations"].append({"image_id": 10, "category_id": 99}), "unknown category id 99"),
        (lambda d: d["annotations"].append({"image_id": 77, "category_id": 1}), "unknown image id 77"),
        (lambda d: d["images"].append(dict(d["images"][0])), "duplicate image id 10"),
        (lambda d: d["annotations"].append({"image_id": 10}), "malformed"),
        (lambda d: d["images"].append({"id": 5, "file_name": "gone.jpg"}), "1 image file(s) not found"),
    ],
)
def test_coco_errors_are_one_clear_line(tmp_path, capsys, edit, message):
    write_coco(tmp_path)
    path = tmp_path / "annotations" / "instances_train2014.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    code, out, err = run_cli(capsys, "data", "check", "--format", "coco", "--root", tmp_path)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_coco_malformed_json(tmp_path):
    from noisereg.data.sources.coco import read_coco

    write_coco(tmp_path)
    (tmp_path / "annotations" / "instances_val2014.json").write_text("{not json")
    with pytest.raises(UserError, match="malformed JSON"):
        read_coco(tmp_path)


def test_shipped_imagenet_to_coco_map_has_56_classes():
    from noisereg.protocol import read_class_map

    m = read_class_map()
    assert len(set(m.values())) == 56 and len(m) == 309
    assert m[817] == "car" and m[340] == "zebra" and m[920] == "traffic light" and m[151] == "dog"
    assert "person" not in m.values() and "toilet" not in m.values()


def test_inception_v3_annotator_from_a_local_weight_file(tmp_path):
    """The paper's annotator: torchvision's Inception V3 architecture with weights read from a local
    .safetensors file (random weights here: the download needs internet), 1000 logits at 299 px."""
    import torch
    import torchvision
    from safetensors.torch import save_file

    from noisereg.models.annotators import create_imagenet_classifier

    torch.manual_seed(0)
    reference = torchvision.models.inception_v3(weights=None, init_weights=False, aux_logits=True).eval()
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(tmp_path / "inception.safetensors"))
    model, pre = create_imagenet_classifier("inception_v3", weights=str(tmp_path / "inception.safetensors"))
    assert pre.image_size == 299
    x = torch.rand(1, 3, 299, 299)
    with torch.inference_mode():
        assert torch.equal(model(x), reference(x)) and model(x).shape == (1, 1000)
    with pytest.raises(UserError, match="unknown annotator"):
        create_imagenet_classifier("no-such-net")


def test_coco_protocol_on_real_photos_with_a_custom_map(tmp_path):
    """flower.jpg (a daisy, ImageNet 985) and china.jpg: the offline annotator's top-8 become noisy labels."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    from noisereg.data.manifest import read_table
    from noisereg.protocol import CocoProtocolConfig, compile_coco

    root = tmp_path / "coco"
    (root / "train2014").mkdir(parents=True)
    cats = [{"id": 64, "name": "potted plant"}, {"id": 70, "name": "toilet"}, {"id": 1, "name": "person"}]
    images, anns = [], []
    for i, name in enumerate(["flower.jpg", "china.jpg", "flower2.jpg"]):
        Image.fromarray(load_sample_image("china.jpg" if "china" in name else "flower.jpg")).resize((160, 120)).save(
            root / "train2014" / name
        )
        images.append({"id": i + 1, "file_name": name})
    anns = [
        {"image_id": 1, "category_id": 64},
        {"image_id": 2, "category_id": 70},
        {"image_id": 3, "category_id": 64},
        {"image_id": 3, "category_id": 1},
    ]
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_train2014.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats})
    )
    class_map = tmp_path / "map.csv"
    class_map.write_text("imagenet_index,imagenet_name,coco_id,coco_name\n985,daisy,64,potted plant\n")
    out = tmp_path / "out"
    result = compile_coco(
        CocoProtocolConfig(
            root=str(root),
            out=str(out),
            class_map=str(class_map),
            clean_fraction=0.5,
            split_sizes=(1, 0, 0),
            quiet=True,
            device="cpu",
        )
    )
    assert result["classes"] == ["potted plant"]
    assert result["images"]["kept"] == 2 and result["images"]["without_mapped_label_removed"] == 1
    table = read_table(out / "manifest.csv")
    assert table.has_noisy.all() and table.has_clean.sum() == 1
    assert all(table.label_names(table.noisy, i) == ["potted plant"] for i in range(2))  # daisy in the top-8
    assert result["noise"]["missing"] == 0.0 and result["noise"]["spurious"] == 0.0
    assert (out / "noise.md").is_file() and (out / "annotator_topk.npz").is_file()
    again = compile_coco(
        CocoProtocolConfig(
            root=str(root),
            out=str(out),
            class_map=str(class_map),
            clean_fraction=0.5,
            split_sizes=(1, 0, 0),
            quiet=True,
            device="cpu",
        )
    )
    assert again["noise"] == result["noise"]  # the cached annotations are reused


@pytest.mark.slow
@needs_coco128
def test_coco_protocol_on_coco128_real_photos(tmp_path, capsys):
    code, out, _ = run_cli(
        capsys,
        "protocol",
        "coco",
        "--root",
        SHARED_DATA / "coco128",
        "--out",
        tmp_path,
        "--quiet",
        "--json",
        "--device",
        "cpu",
    )
    assert code == 0
    result = json.loads(out)
    assert len(result["classes"]) == 56 and result["images"]["coco"] == 256
    img = result["images"]
    assert img["kept"] + img["without_mapped_label_removed"] == 256
    assert img["train"] + img["val"] + img["test"] == img["kept"]
    assert 0.2 < result["noise"]["missing"] < 0.9 and 0.2 < result["noise"]["spurious"] < 0.9
    from noisereg.data.manifest import read_manifest

    assert result["image_root"] == str((SHARED_DATA / "coco128").resolve())  # paths relative to the photos
    assert not any(ln.startswith("/") for ln in (tmp_path / "manifest.csv").read_text().splitlines())
    train = read_manifest(tmp_path / "manifest.csv", split="train", image_root=result["image_root"])
    assert train.has_noisy.all() and train.has_clean.sum() == round(0.05 * img["train"])


# --- OpenImages v1 -------------------------------------------------------------------------------


def test_openimages_v1_veit_partition_verified_mask_and_noise(tmp_path):
    from noisereg.data.sources.openimages import read_openimages

    write_openimages(tmp_path)
    t = read_openimages(tmp_path, quiet=True)
    assert t.classes == ["dog", "cat", "car"]
    assert len(t) == 14 and (t.split_mask("train").sum(), t.split_mask("test").sum()) == (6 + 2, 6)
    val = np.arange(len(t)) >= 6
    assert (t.has_clean == val).all() and t.has_noisy.all()
    assert (t.has_clean & t.split_mask("train")).sum() == 2  # a quarter of validation trains, clean
    i = list(t.ids).index(oi_id(101).encode())
    assert t.label_names(t.noisy, i) == ["dog", "car"] and t.label_names(t.clean, i) == ["dog", "car"]
    j = list(t.ids).index(oi_id(104).encode())
    assert t.label_names(t.clean, j) == [] and t.label_names(t.verified, j) == ["dog"]
    s = summarize(t)["noise_rate"]
    # dog: machine says dog on all 8 val images, humans deny it on 104 and 108 -> 2 of 8 spurious
    assert s["per_class"]["dog"]["spurious"] == pytest.approx(2 / 8)
    assert s["per_class"]["cat"]["clean_labels"] == 0 and s["missing"] == 0.0
    train = t.to_labelled_set("train")
    assert train.clean_mask is not None
    assert not train.clean_mask[train.has_clean][:, 1].any()  # cat never verified: unknown, not negative
    sparse = t.to_labelled_set("train", dense_limit=0)
    assert (sparse.known_rows(sparse.clean_indices) == train.known_rows(train.clean_indices)).all()
    assert (sparse.noisy.toarray() == train.noisy).all()


def test_openimages_reads_in_chunks_the_same(tmp_path, monkeypatch):
    from noisereg.data.sources import openimages

    write_openimages(tmp_path, n_train=20, n_val=12)
    whole = openimages.read_openimages(tmp_path, quiet=True)
    monkeypatch.setattr(openimages, "CHUNK_ROWS", 3)
    chunked = openimages.read_openimages(tmp_path, quiet=True)
    assert (whole.noisy != chunked.noisy).nnz == 0 and (whole.verified != chunked.verified).nnz == 0
    assert list(whole.ids) == list(chunked.ids)


@pytest.mark.parametrize(
    "file, row, message",
    [
        ("machine_ann_2016_08/train/labels.csv", "{id0},machine,/m/77,0.9", "unknown class id '/m/77'"),
        ("machine_ann_2016_08/train/labels.csv", "00zz,machine,/m/01,0.9", "malformed ImageID '00zz'"),
        ("machine_ann_2016_08/train/labels.csv", "ffffffffffffffff,machine,/m/01,0.9", "is not in images.csv"),
        ("machine_ann_2016_08/train/labels.csv", "{id0},machine,/m/01,high", "malformed Confidence 'high'"),
        ("images_2016_08/train/images.csv", "{id0},train,u,,,,,", "duplicate ImageID"),
    ],
)
def test_openimages_errors(tmp_path, capsys, file, row, message):
    write_openimages(tmp_path)
    _fails_after_appending(capsys, tmp_path, file, row.format(id0=oi_id(0)) + "\n", "openimages", message)


def _fails_after_appending(capsys, root, file, text, fmt, message):
    """Append ``text`` to one file of a dataset; ``data check`` must fail with one line naming ``message``."""
    with open(root / file, "a") as f:
        f.write(text)
    code, _, err = run_cli(capsys, "data", "check", "--format", fmt, "--root", root, "--quiet")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_openimages_missing_images_are_counted(tmp_path, capsys):
    write_openimages(tmp_path)
    (tmp_path / "images" / "train" / f"{oi_id(0)}.jpg").unlink()
    (tmp_path / "images" / "train" / f"{oi_id(1)}.jpg").unlink()
    code, _, err = run_cli(capsys, "data", "check", "--format", "openimages", "--root", tmp_path, "--quiet")
    assert code == 2 and "2 of 14 image file(s) not found" in err
    code, out, _ = run_cli(
        capsys, "data", "check", "--format", "openimages", "--root", tmp_path, "--quiet", "--no-image-check", "--json"
    )
    assert code == 0 and json.loads(out)["images"]["total"] == 14


# --- Clothing1M ----------------------------------------------------------------------------------


def test_clothing1m_official_files(tmp_path, capsys):
    write_clothing1m(tmp_path)
    code, out, _ = run_cli(capsys, "data", "check", "--format", "clothing1m", "--root", tmp_path, "--json")
    s = json.loads(out)
    assert code == 0 and s["classes"] == 14 and s["class_names"] == CLOTHING and not s["multi_label"]
    assert s["images"] == {"train": 14, "val": 2, "test": 2, "total": 18}
    assert s["clean"]["train"] == 4 and s["noisy"]["train"] == 13
    assert s["noise_rate"]["images"] == 3 and s["noise_rate"]["overall"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "file, text, message",
    [
        ("noisy_label_kv.txt", "images/x.jpg 14\n", "class index 14 is outside 0..13"),
        ("noisy_label_kv.txt", "images/x.jpg\n", "expected '<image path> <class index>'"),
        ("clean_val_key_list.txt", "images/unknown.jpg\n", "has no label"),
        ("clean_test_key_list.txt", "images/1/10/1010.jpg\n", "another split"),
        ("noisy_label_kv.txt", "images/0/00/1000.jpg 3\n", "duplicate image"),
    ],
)
def test_clothing1m_errors(tmp_path, capsys, file, text, message):
    write_clothing1m(tmp_path)
    _fails_after_appending(capsys, tmp_path, file, text, "clothing1m", message)


# --- CIFAR + CIFAR-N -----------------------------------------------------------------------------


def test_cifar_python_pickles_with_cifar_n_labels(tmp_path):
    from noisereg.data.sources.cifar_n import read_cifar_n

    folder, clean = write_cifar_pickles(tmp_path)
    write_cifar_n(tmp_path / "CIFAR-10_human.pt", clean)
    t = read_cifar_n(tmp_path, tmp_path / "CIFAR-10_human.pt", noise="worse")
    assert t.pixels.shape == (24, 32, 32, 3) and t.pixels.dtype == np.uint8
    assert summarize(t)["noise_rate"]["overall"] == pytest.approx(5 / 20)
    train = t.to_labelled_set("train")
    assert tuple(train.images.shape) == (20, 3, 32, 32) and float(train.images.max()) <= 1.0
    assert read_cifar_n(folder, tmp_path / "CIFAR-10_human.pt", noise="aggre").noisy.nnz == 20


def test_cifar_pickles_read_arrays_and_refuse_any_other_global(tmp_path):
    """``cifar_pickles.safe_unpickle``: numpy arrays come back; a pickle naming another callable is refused."""
    import os
    import pickle

    from noisereg.data.sources.cifar_pickles import read_pickles, safe_unpickle

    folder, clean = write_cifar_pickles(tmp_path)
    classes, x_train, y_train, x_test, y_test = read_pickles(folder)
    assert classes[0] == "airplane" and x_train.shape == (20, 32, 32, 3) and (y_train == clean).all()
    (tmp_path / "evil").write_bytes(pickle.dumps({"data": os.getcwd}, protocol=2))
    with pytest.raises(UserError, match="without unsafe unpickling.*not allowed"):
        safe_unpickle(tmp_path / "evil")


def test_cifar100_pickles_with_cifar100n_labels(tmp_path, capsys):
    _, clean = write_cifar100_pickles(tmp_path)
    write_cifar100_n(tmp_path / "CIFAR-100_human.pt", clean)
    code, out, err = run_cli(
        capsys,
        "data",
        "check",
        "--format",
        "cifar-n",
        "--root",
        tmp_path,
        "--labels",
        tmp_path / "CIFAR-100_human.pt",
        "--noise",
        "noisy",
        "--json",
    )
    assert code == 0, err
    s = json.loads(out)
    assert s["classes"] == 100 and s["class_names"][:2] == ["fine00", "fine01"]
    assert s["images"] == {"train": 30, "test": 10, "total": 40}
    assert s["noise_rate"]["overall"] == pytest.approx(10 / 30)
    code, _, err = run_cli(
        capsys,
        "data",
        "check",
        "--format",
        "cifar-n",
        "--root",
        tmp_path,
        "--labels",
        tmp_path / "CIFAR-100_human.pt",
        "--noise",
        "worse",
    )
    assert code == 2 and "this file has ['clean', 'noisy', 'noisy-coarse'" in err


def test_cifar_pickles_become_png_files_in_a_manifest(tmp_path, capsys):
    from noisereg.data.manifest import read_manifest

    _, clean = write_cifar_pickles(tmp_path)
    write_cifar_n(tmp_path / "n.pt", clean)
    code, _, err = run_cli(
        capsys,
        "data",
        "manifest",
        "--format",
        "cifar-n",
        "--root",
        tmp_path,
        "--labels",
        tmp_path / "n.pt",
        "--out",
        tmp_path / "out" / "cifar.csv",
        "--clean-fraction",
        "0.25",
    )
    assert code == 0, err
    train = read_manifest(tmp_path / "out" / "cifar.csv", split="train")
    assert len(train) == 20 and train.has_clean.sum() == 5 and train.has_noisy.all()
    from PIL import Image

    first = np.asarray(Image.open(train.images[0]))
    from noisereg.data.sources.cifar_n import read_cifar_n

    assert (first == read_cifar_n(tmp_path, tmp_path / "n.pt").pixels[0]).all()  # lossless PNG


def test_cifar_pickle_with_code_is_refused(tmp_path):
    import os

    from noisereg.data.sources.cifar_n import read_cifar_n

    folder, clean = write_cifar_pickles(tmp_path)
    write_cifar_n(tmp_path / "n.pt", clean)
    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": os.getcwd}))
    with pytest.raises(UserError, match="not allowed"):
        read_cifar_n(tmp_path, tmp_path / "n.pt")


def test_cifar_n_mismatched_or_missing_files(tmp_path, capsys):
    from noisereg.data.sources.cifar_n import read_cifar_n

    _, clean = write_cifar_pickles(tmp_path)
    write_cifar_n(tmp_path / "n.pt", (clean + 1) % 10)
    with pytest.raises(UserError, match="does not match the training labels"):
        read_cifar_n(tmp_path, tmp_path / "n.pt")
    code, _, err = run_cli(
        capsys, "data", "check", "--format", "cifar-n", "--root", tmp_path, "--labels", tmp_path / "none.pt"
    )
    assert code == 2 and "--download" in err
    write_cifar_n(tmp_path / "n.pt", clean)
    with pytest.raises(UserError, match="unknown CIFAR-N label set 'worst'"):
        read_cifar_n(tmp_path, tmp_path / "n.pt", noise="worst")


def test_download_fetches_only_the_missing_cifar_n_file(tmp_path, monkeypatch, capsys):
    """--download goes through the real downloader; here the official URL is swapped for a local file:// URL."""
    from noisereg.data.sources import cifar_n

    _, clean = write_cifar_pickles(tmp_path)
    write_cifar_n(tmp_path / "served" / "CIFAR-10_human.pt", clean)
    monkeypatch.setattr(cifar_n, "CIFAR10N_URL", (tmp_path / "served" / "CIFAR-10_human.pt").as_uri())
    target = tmp_path / "labels" / "CIFAR-10_human.pt"
    code, out, err = run_cli(
        capsys, "data", "check", "--format", "cifar-n", "--root", tmp_path, "--labels", target, "--download", "--json"
    )
    assert code == 0, err
    assert target.is_file() and json.loads(out)["noise_rate"]["overall"] == pytest.approx(0.25)


@needs_cifar
def test_data_check_cifar10n_worse_is_40_21_percent(capsys):
    code, out, _ = run_cli(
        capsys,
        "data",
        "check",
        "--format",
        "cifar-n",
        "--root",
        SHARED_DATA / "cifar10",
        "--labels",
        SHARED_DATA / "cifar10n" / "CIFAR-10_human.pt",
        "--noise",
        "worse",
        "--json",
    )
    s = json.loads(out)
    assert code == 0 and set(s) >= {"images", "classes", "clean", "noisy", "label_cardinality", "noise_rate"}
    assert round(100 * s["noise_rate"]["overall"], 2) == 40.21
    assert s["images"] == {"train": 50000, "test": 10000, "total": 60000} and s["classes"] == 10
    assert s["noise_rate"]["per_class"]["cat"]["images"] == 5000


# --- YOLO ----------------------------------------------------------------------------------------


def test_yolo_label_folders_as_multi_label(tmp_path):
    from noisereg.data.sources.yolo import read_yolo

    write_yolo(tmp_path)
    t = read_yolo(tmp_path)
    assert t.classes == ["person", "bicycle", "car"] and t.splits() == ["train", "val"]
    assert labels_of(t, t.clean, "images/train2017/a.jpg") == ["person", "car"]
    assert labels_of(t, t.clean, "images/train2017/c.jpg") == []  # background image
    assert labels_of(t, t.clean, "images/val2017/d.jpg") == ["car"]  # polygon row
    assert any("orphan.txt" in n for n in t.notes)


@pytest.mark.parametrize(
    "text, message",
    [
        ("7 0.5 0.5 0.1 0.1", "class id 7 is outside 0..2"),
        ("person 0.5 0.5 0.1 0.1", "malformed row"),
        ("1 0.5 0.5", "malformed row"),
    ],
)
def test_yolo_errors(tmp_path, capsys, text, message):
    write_yolo(tmp_path)
    (tmp_path / "labels" / "train2017" / "b.txt").write_text(text + "\n")
    code, _, err = run_cli(capsys, "data", "check", "--format", "yolo", "--root", tmp_path)
    assert code == 2 and message in err and "b.txt:1" in err


@needs_coco128
def test_yolo_and_coco_json_agree_on_coco128():
    from noisereg.data.sources.coco import read_coco
    from noisereg.data.sources.yolo import read_yolo

    coco, yolo = summarize(read_coco(SHARED_DATA / "coco128")), summarize(read_yolo(SHARED_DATA / "coco128"))
    assert coco["images"] == yolo["images"] == {"train": 128, "val": 128, "total": 256}
    assert coco["class_names"] == yolo["class_names"] and len(coco["class_names"]) == 80
    assert coco["label_cardinality"] == yolo["label_cardinality"]


# --- generic: CSV / JSONL manifests and precomputed features --------------------------------------


def test_jsonl_manifest_equals_csv_and_round_trips(tmp_path, digit_folder):
    from noisereg.data.manifest import read_table
    from noisereg.data.manifest_writer import write_manifest

    csv_table = read_table(digit_folder)
    jsonl = write_manifest(csv_table, tmp_path / "m.jsonl")
    back = read_table(jsonl)
    assert back.classes == csv_table.classes and (back.noisy != csv_table.noisy).nnz == 0
    assert (back.has_clean == csv_table.has_clean).all() and list(back.split) == list(csv_table.split)
    assert summarize(back)["images"] == summarize(csv_table)["images"]


def test_manifest_verified_column_becomes_the_clean_mask(tmp_path):
    from noisereg.data.manifest import read_manifest

    (tmp_path / "m.jsonl").write_text(
        '{"path": "a.png", "clean": ["dog"], "verified": ["dog", "cat"], "split": "train"}\n'
        '{"path": "b.png", "noisy": "cat;car", "split": "train"}\n'
    )
    d = read_manifest(tmp_path / "m.jsonl", split="train", check_files=False)
    assert d.classes == ["car", "cat", "dog"]
    assert d.clean_mask[0].tolist() == [False, True, True] and not d.has_clean[1]  # row 1 never reaches L_clean


@pytest.mark.parametrize(
    "rows, message",
    [
        ("a.png,x,,train\na.png,y,,train\n", "duplicate path 'a.png'"),
        ("a.png,x,,validation\n", "split 'validation' is not one of"),
        (",x,,train\n", "empty path"),
    ],
)
def test_manifest_row_errors(tmp_path, capsys, rows, message):
    (tmp_path / "m.csv").write_text("path,noisy,clean,split\n" + rows)
    code, _, err = run_cli(
        capsys, "data", "check", "--format", "csv", "--manifest", tmp_path / "m.csv", "--no-image-check"
    )
    assert code == 2 and message in err


def write_features(tmp_path, n: int = 120, k: int = 3):
    """A (n, 16) float32 feature array (.npy and .safetensors) with a label CSV: 90 train rows, 30 test."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    y = rng.integers(0, k, n)
    x = (np.eye(k)[y] * 3 + rng.normal(0, 1, (n, k))).astype(np.float32) @ rng.normal(0, 1, (k, 16)).astype(np.float32)
    np.save(tmp_path / "f.npy", x)
    save_file({"features": x}, str(tmp_path / "f.safetensors"))
    names = ["a", "b", "c"]
    rows = ["path,noisy,clean,split"]
    for i in range(n):
        split = "train" if i < 90 else "test"
        clean = names[y[i]] if (split == "test" or i % 5 == 0) else ""
        noisy = names[(y[i] + (i % 7 == 0)) % k] if split == "train" and i % 5 else ""
        rows.append(f"row{i},{noisy},{clean},{split}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")


def test_features_npy_and_safetensors_train_directly(tmp_path, capsys):
    n = 120
    write_features(tmp_path, n)
    code, out, _ = run_cli(
        capsys,
        "data",
        "check",
        "--format",
        "features",
        "--features",
        tmp_path / "f.safetensors",
        "--manifest",
        tmp_path / "labels.csv",
        "--json",
    )
    assert code == 0 and json.loads(out)["images"]["total"] == n
    code, _, err = run_cli(
        capsys,
        "train",
        "--manifest",
        tmp_path / "labels.csv",
        "--features",
        tmp_path / "f.npy",
        "--out",
        tmp_path / "ckpt",
        "--steps",
        "150",
        "--quiet",
    )
    assert code == 0, err
    code, out, _ = run_cli(
        capsys,
        "evaluate",
        "--checkpoint",
        tmp_path / "ckpt",
        "--manifest",
        tmp_path / "labels.csv",
        "--features",
        tmp_path / "f.npy",
        "--json",
    )
    assert code == 0 and json.loads(out)["top1"] > 0.8


def test_sparse_labels_train_exactly_like_dense(tmp_path):
    """Label spaces too large to hold densely stay CSR; training on them gives the same weights."""
    import scipy.sparse as sp

    from noisereg.config import TrainConfig
    from noisereg.data.embeddings import features_table
    from noisereg.train import fit

    write_features(tmp_path)
    table = features_table(tmp_path / "f.npy", tmp_path / "labels.csv")
    dense, sparse = table.to_labelled_set("train"), table.to_labelled_set("train", dense_limit=0)
    assert sp.issparse(sparse.noisy) and not sp.issparse(dense.noisy)
    cfg = TrainConfig(scheme="frozen", steps=30, backbone_steps=0, quiet=True, device="cpu")
    a, b = fit(dense, cfg).model.state_dict(), fit(sparse, cfg).model.state_dict()
    assert all(torch_equal(a[k], b[k]) for k in a)


def torch_equal(x, y) -> bool:
    import torch

    return bool(torch.equal(x, y))


def test_features_errors(tmp_path, capsys):
    np.save(tmp_path / "f.npy", np.zeros((3, 4), np.float32))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "labels.csv").write_text("path,noisy,clean,split\n,a,,train\n,a,,train\n")
    code, _, err = run_cli(
        capsys,
        "data",
        "check",
        "--format",
        "features",
        "--features",
        tmp_path / "f.npy",
        "--manifest",
        tmp_path / "labels.csv",
    )
    assert code == 2 and "3 feature rows but" in err
    code, _, err = run_cli(
        capsys,
        "data",
        "check",
        "--format",
        "features",
        "--features",
        tmp_path / "obj.npy",
        "--manifest",
        tmp_path / "labels.csv",
    )
    assert code == 2 and "cannot read features" in err


def test_data_manifest_with_clean_fraction(tmp_path, capsys):
    from noisereg.data.manifest import read_table

    write_clothing1m(tmp_path / "c1m")
    code, _, err = run_cli(
        capsys,
        "data",
        "manifest",
        "--format",
        "clothing1m",
        "--root",
        tmp_path / "c1m",
        "--out",
        tmp_path / "m.csv",
        "--clean-fraction",
        "0.2",
    )
    assert code == 0, err
    t = read_table(tmp_path / "m.csv")
    assert (t.has_clean & t.split_mask("train")).sum() == round(0.2 * 14)
    assert t.has_clean[t.split_mask("test")].all()


def test_openimages_pair_accumulator_equals_a_plain_sparse_build():
    import scipy.sparse as sp

    from noisereg.data.sources.openimages import _PairAccumulator

    rng = np.random.default_rng(0)
    n, k = 500, 40
    acc, rows, cols = _PairAccumulator(n, k), [], []
    for size in (0, 700, 1, 2000):  # an empty chunk and a one-pair chunk included
        r, c = rng.integers(0, n, size), rng.integers(0, k, size)
        acc.add(r, c)
        rows.append(r)
        cols.append(c)
    r, c = np.concatenate(rows), np.concatenate(cols)
    expected = sp.csr_matrix((np.ones(len(r), bool), (r, c)), shape=(n, k)).astype(bool)
    got = acc.to_csr()
    assert (got != expected).nnz == 0 and got.has_sorted_indices


def test_openimages_manifest_keeps_the_verified_mask(tmp_path, capsys):
    from noisereg.data.manifest import read_table
    from noisereg.data.sources.openimages import read_openimages

    write_openimages(tmp_path / "oi")
    code, _, err = run_cli(
        capsys,
        "data",
        "manifest",
        "--format",
        "openimages",
        "--root",
        tmp_path / "oi",
        "--out",
        tmp_path / "oi.csv",
        "--quiet",
    )
    assert code == 0, err
    direct, back = read_openimages(tmp_path / "oi", quiet=True), read_table(tmp_path / "oi.csv")
    assert back.classes == direct.classes  # oi.classes.txt keeps 'cat', which no kept label uses
    for a, b in ((direct.verified, back.verified), (direct.clean, back.clean), (direct.noisy, back.noisy)):
        assert (a != b).nnz == 0
    assert (back.has_clean == direct.has_clean).all() and list(back.split) == list(direct.split)


def test_manifest_read_in_chunks_names_the_right_line(tmp_path, monkeypatch):
    from noisereg.data import manifest

    rows = ["path,noisy,clean,split"] + [
        f"img{i}.png, cat ; dog;cat ,{'<none>' if i % 4 == 0 else ''},train" for i in range(10)
    ]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    whole = manifest.read_table(tmp_path / "m.csv")
    monkeypatch.setattr(manifest, "CHUNK_ROWS", 3)
    chunked = manifest.read_table(tmp_path / "m.csv")
    assert whole.classes == chunked.classes == ["cat", "dog"]
    assert (whole.noisy != chunked.noisy).nnz == 0 and whole.noisy.nnz == 20  # 'cat' twice in a cell counts once
    assert chunked.has_clean.tolist() == [i % 4 == 0 for i in range(10)] and chunked.clean.nnz == 0
    with open(tmp_path / "m.csv", "a") as f:
        f.write("img99.png,cow,,train\n")
    with pytest.raises(UserError, match=r"m.csv:12 column noisy: unknown class 'cow'"):
        manifest.read_table(tmp_path / "m.csv", classes=["cat", "dog"])


def test_cifar_image_folder_with_fewer_labels_than_images_is_one_line(tmp_path, capsys):
    from PIL import Image

    from noisereg.data.sources.cifar_n import CIFAR10_CLASSES

    for split in ("train", "test"):
        for name in CIFAR10_CLASSES:
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(5):
                Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(tmp_path / split / name / f"{i:04d}.jpg")
    write_cifar_n(tmp_path / "n.pt", np.arange(10) % 10)  # 10 labels for 50 training images
    code, out, err = run_cli(
        capsys, "data", "check", "--format", "cifar-n", "--root", tmp_path, "--labels", tmp_path / "n.pt"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "name 10 training images" in err and "holds 50" in err
    write_cifar_n(tmp_path / "n.pt", np.arange(50) % 10)
    code, out, err = run_cli(
        capsys, "data", "check", "--format", "cifar-n", "--root", tmp_path, "--labels", tmp_path / "n.pt"
    )
    assert code == 0, err
