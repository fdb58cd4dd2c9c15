"""``noisereg protocol annotate`` and the machine-annotation primitives, on real photos.

The labels it writes must equal a mapping of the annotator's top-k done here by hand; single and
multi mode differ as the paper's annotation says; unmapped images are counted; the cached top-k is
reused (no second forward pass); a bad class map is one line, exit 2, nothing written.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from noisereg.annotation import CACHED_K, annotator_topk, assign_labels, class_lookup, read_class_map
from noisereg.cli import main
from noisereg.data.manifest import read_table
from noisereg.errors import UserError
from noisereg.tasks.mosaics import disjoint_mosaics


def _photos(root):
    """Six real photos: sklearn's flower and china pictures, whole, cropped and mirrored."""
    from sklearn.datasets import load_sample_image

    (root / "img").mkdir(parents=True)
    rows = []
    for name in ("flower.jpg", "china.jpg"):
        full = Image.fromarray(load_sample_image(name))
        w, h = full.size
        for j, im in enumerate([full, full.crop((0, 0, w // 2, h // 2)), full.transpose(Image.FLIP_LEFT_RIGHT)]):
            path = f"img/{name[:-4]}{j}.jpg"
            im.resize((128, 96)).save(root / path)
            rows.append((path, "flower" if name == "flower.jpg" else "building"))
    (root / "m.csv").write_text("path,noisy,clean,split\n" + "".join(f"{p},,{c},train\n" for p, c in rows))
    return root / "m.csv"


def _reference_topk(root, manifest, k):
    """The annotator's top-k of each photo, computed here: the model, its preprocessing, torch.topk."""
    from noisereg.data.images import image_to_tensor, load_image
    from noisereg.models.annotators import create_imagenet_classifier

    model, pre = create_imagenet_classifier("efficientnet-lite0")
    paths = [line.split(",")[0] for line in manifest.read_text().splitlines()[1:]]
    x = torch.stack([image_to_tensor(load_image(str(root / p)), pre) for p in paths])
    with torch.inference_mode():
        return torch.topk(model(x), k, dim=1).indices.numpy()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    manifest = _photos(root)
    top = _reference_topk(root, manifest, 8)
    # a map over ImageNet classes the annotator really predicts here: the first photo's top-3 -> flower,
    # the china photo's 2nd and 3rd -> building, one class nobody predicts -> flower
    china = top[3]
    mapping = {
        int(top[0, 0]): "flower",
        int(top[0, 1]): "flower",
        int(top[0, 2]): "flower",
        int(china[1]): "building",
        int(china[2]): "building",
    }
    free = next(i for i in range(1000) if i not in set(top.ravel().tolist()))
    mapping[free] = "flower"
    (root / "map.csv").write_text("imagenet_index,class\n" + "".join(f"{i},{c}\n" for i, c in mapping.items()))
    return root, manifest, top, mapping


def _annotate(root, manifest, out, *extra):
    return main(
        [
            "protocol",
            "annotate",
            "--manifest",
            str(manifest),
            "--image-root",
            str(root),
            "--class-map",
            str(root / "map.csv"),
            "--annotator",
            "efficientnet-lite0",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--quiet",
            *map(str, extra),
        ]
    )


def _by_hand(top, mapping, k, mode):
    lists = [[mapping[i] for i in row[:k] if i in mapping] for row in top.tolist()]
    if mode == "single":
        return [names[:1] for names in lists]
    return [sorted(set(names)) for names in lists]


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_written_labels_equal_a_mapping_of_the_annotators_top_k_by_hand(photos, tmp_path, mode):
    root, manifest, top, mapping = photos
    assert _annotate(root, manifest, tmp_path / "o", "--label-mode", mode) == 0
    table = read_table(tmp_path / "o" / "manifest.csv", image_root=str(root))
    written = [sorted(table.label_names(table.noisy, i)) for i in range(len(table))]
    expected = _by_hand(top, mapping, 8, mode)
    assert written == [sorted(e) for e in expected]
    assert [table.label_names(table.clean, i) for i in range(len(table))] == [["flower"]] * 3 + [
        ["building"]
    ] * 3  # the input's clean labels are kept
    result = json.loads((tmp_path / "o" / "protocol.json").read_text())
    unmapped = [i for i, e in enumerate(expected) if not e]
    assert result["without_mapped_prediction"] == len(unmapped)
    assert result["without_mapped_prediction_ids"] == [str(table.ids[i]) for i in unmapped]
    if mode == "single":  # an image without a mapped prediction has no noisy label: it leaves D_n
        assert table.has_noisy.tolist() == [bool(e) for e in expected]
    else:
        assert table.has_noisy.all()
    assert (tmp_path / "o" / "noise.md").is_file() and "agreement_per_class" in result


def test_single_mode_takes_the_best_ranked_mapped_class_and_multi_mode_every_one():
    lookup = np.full(1000, -1)
    lookup[[5, 6, 7]] = [0, 1, 1]
    index = np.array([[9, 6, 5, 7], [9, 8, 4, 3], [5, 6, 1, 2]])
    assert assign_labels(index, lookup, top_k=4, mode="single").tolist() == [1, -1, 0]
    assert assign_labels(index, lookup, top_k=4, mode="multi") == [[0, 1], [], [0, 1]]
    assert assign_labels(index, lookup, top_k=1, mode="multi") == [[], [], [0]]  # only the top-k count
    with pytest.raises(UserError, match="top-k 5 exceeds"):
        assign_labels(index, lookup, top_k=5, mode="multi")


def test_the_cached_top_k_serves_another_map_and_top_k_without_a_forward_pass(photos, tmp_path, monkeypatch):
    root, manifest, top, mapping = photos
    assert _annotate(root, manifest, tmp_path / "o", "--top-k", "8") == 0
    cached = np.load(tmp_path / "o" / "annotator_topk.npz")["index"]
    assert cached.shape == (6, CACHED_K) and (cached[:, :8] == top).all()

    def no_forward(*a, **k):
        raise AssertionError("the annotator ran again although its predictions are cached")

    monkeypatch.setattr("noisereg.annotation._predict_topk", no_forward)
    (root / "map2.csv").write_text(f"imagenet_index,class\n{top[0, 0]},building\n")
    code = main(
        [
            "protocol",
            "annotate",
            "--manifest",
            str(manifest),
            "--image-root",
            str(root),
            "--class-map",
            str(root / "map2.csv"),
            "--annotator",
            "efficientnet-lite0",
            "--out",
            str(tmp_path / "o"),
            "--top-k",
            "3",
            "--label-mode",
            "multi",
            "--quiet",
            "--device",
            "cpu",
            "--keep-unmapped-classes",
            "--overwrite",
        ]
    )
    assert code == 0
    table = read_table(tmp_path / "o" / "manifest.csv", image_root=str(root))
    assert table.label_names(table.noisy, 0) == ["building"]
    assert [bool(table.label_names(table.noisy, i)) for i in range(6)] == [int(top[0, 0]) in row[:3] for row in top]


def test_a_rerun_into_the_same_out_is_refused_before_any_forward_pass_unless_overwrite(
    photos, tmp_path, monkeypatch, capsys
):
    root, manifest, _, _ = photos
    out = tmp_path / "o"
    out.mkdir()
    (out / "manifest.csv").write_text("path,noisy,clean,split\nearlier,run,,train\n")

    def no_forward(*a, **k):
        raise AssertionError("the annotator ran before the earlier manifest was refused")

    monkeypatch.setattr("noisereg.annotation._predict_topk", no_forward)
    assert _annotate(root, manifest, out) == 2
    err = capsys.readouterr().err
    assert "manifest.csv" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (out / "manifest.csv").read_text() == "path,noisy,clean,split\nearlier,run,,train\n"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.csv"]


@pytest.mark.parametrize(
    "rows, message",
    [
        ("985,plant\n", "class(es) ['plant']"),
        ("1000,flower\n", "outside 0-999"),
        ("985,flower\n985,building\n", "mapped twice"),
        ("x,flower\n", "not an integer"),
    ],
)
def test_a_bad_class_map_is_one_line_exit_2_and_nothing_written(photos, tmp_path, capsys, rows, message):
    root, manifest, _, _ = photos
    bad = tmp_path / "bad.csv"
    bad.write_text("imagenet_index,class\n" + rows)
    code = main(
        [
            "protocol",
            "annotate",
            "--manifest",
            str(manifest),
            "--image-root",
            str(root),
            "--class-map",
            str(bad),
            "--annotator",
            "efficientnet-lite0",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_the_shipped_cifar10_map_covers_every_class_and_stands_antelopes_in_for_deer():
    m = read_class_map("cifar10")
    from noisereg.data.sources.cifar_n import CIFAR10_CLASSES

    lookup = class_lookup(m, CIFAR10_CLASSES)
    assert set(m.values()) == set(CIFAR10_CLASSES)
    assert {m[i] for i in (351, 352, 353)} == {"deer"}  # hartebeest, impala, gazelle
    assert m[817] == "automobile" and m[867] == "truck" and m[404] == "airplane" and m[281] == "cat"
    assert 717 not in m  # a pickup is neither CIFAR class (automobile: sedans, SUVs; truck: big trucks only)
    assert 286 not in m  # cougar: CIFAR's cats are house cats
    assert (lookup >= 0).sum() == len(m)


def test_annotator_topk_on_pixels_in_memory_is_cached_under_its_content(tmp_path):
    x = torch.rand(3, 3, 32, 32)
    a, _ = annotator_topk(
        x,
        cache=tmp_path,
        annotator="efficientnet-lite0",
        image_size=64,
        ids=["m"],
        content="three",
        device="cpu",
        quiet=True,
    )
    assert a.shape == (3, CACHED_K)
    key = json.loads((tmp_path / "annotator_topk.json").read_text())
    assert key["content"] == "three" and key["image_size"] == 64


def test_disjoint_mosaics_use_each_image_once():
    tiles = disjoint_mosaics(400, 100, seed=0)
    assert tiles.shape == (100, 4) and len(np.unique(tiles)) == 400
    clean, rest = tiles[:10].ravel(), tiles[10:].ravel()
    assert not set(clean) & set(rest)  # any split of the mosaics shares no tile
    with pytest.raises(UserError, match="at most 100 mosaics"):
        disjoint_mosaics(400, 101, seed=0)


@pytest.mark.parametrize("name", ["efficientnet-lite1", "efficientnet-lite2"])
def test_offline_lite1_and_lite2_classify_real_photos_and_give_features(name):
    """Real ImageNet weights: china.jpg's top class is palace (698); the flower's top-5 holds daisy (985)
    or, for Lite2, the bee and honeycomb it sees on it (309, 599)."""
    from sklearn.datasets import load_sample_image

    from noisereg.data.images import image_to_tensor
    from noisereg.models.annotators import create_imagenet_classifier
    from noisereg.models.backbones import create_backbone

    model, pre = create_imagenet_classifier(name)
    assert pre.image_size == {"efficientnet-lite1": 240, "efficientnet-lite2": 260}[name]
    x = torch.stack([image_to_tensor(Image.fromarray(load_sample_image(n)), pre) for n in ("china.jpg", "flower.jpg")])
    with torch.inference_mode():
        top = torch.topk(model(x), 5).indices.tolist()
        assert top[0][0] == 698 and set(top[1]) & {985, 309, 599}
        b = create_backbone(name, image_size=64).eval()
        assert b.feature_dim == 1280 and b(torch.rand(2, 3, 64, 64)).shape == (2, 1280)


def test_the_annotator_is_never_the_feature_backbone():
    from conftest import SHARED_DATA
    from noisereg.tasks.cifar10n import cifar10n_builder

    if not (SHARED_DATA / "cifar10").is_dir():
        pytest.skip("../shared/data/cifar10 is absent")
    with pytest.raises(UserError, match="must not be the feature backbone"):
        cifar10n_builder(
            None,
            None,
            noise="annotated",
            multi_label=False,
            backbone="efficientnet-lite2",
            image_size=64,
            mosaics=10,
            cache_dir="unused",
            device=torch.device("cpu"),
            annotator="efficientnet-lite2",
        )


def test_annotate_reads_cifar_n_pickles_and_labels_their_pixels(tmp_path, capsys):
    """--format cifar-n on the python-pickle layout (pixels in memory): every image gets the mapped
    annotator label or none, and the clean labels are CIFAR's."""
    from formats import write_cifar_n, write_cifar_pickles

    root, clean = write_cifar_pickles(tmp_path / "cifar")
    write_cifar_n(tmp_path / "CIFAR-10_human.pt", clean)
    code = main(
        [
            "protocol",
            "annotate",
            "--format",
            "cifar-n",
            "--root",
            str(root),
            "--labels",
            str(tmp_path / "CIFAR-10_human.pt"),
            "--class-map",
            "cifar10",
            "--annotator",
            "efficientnet-lite0",
            "--image-size",
            "64",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
            "--json",
            "--device",
            "cpu",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    assert result["counts"]["images"] == result["counts"]["noisy"] + result["without_mapped_prediction"]
    assert result["counts"]["clean"] == result["counts"]["images"]


def test_classes_the_map_leaves_out_are_dropped_with_the_images_they_alone_label(photos, tmp_path):
    """The paper's compilation: a map naming only ``building`` drops ``flower`` and its three photos; every
    count printed and recorded is counted on what the manifest holds; --keep-unmapped-classes keeps them."""
    root, manifest, top, _ = photos
    (root / "building.csv").write_text(f"imagenet_index,class\n{top[3, 1]},building\n{top[0, 0]},building\n")
    assert _annotate_with(root, manifest, tmp_path / "o", "building.csv", "--label-mode", "multi") == 0
    table = read_table(tmp_path / "o" / "manifest.csv", image_root=str(root))
    result = json.loads((tmp_path / "o" / "protocol.json").read_text())
    assert table.classes == ["building"] and len(table) == 3
    assert result["dropped_classes"] == ["flower"] and result["removed_images"] == 3
    assert result["removed_per_split"] == {"train": 3} and len(result["removed_ids"]) == 3
    assert result["counts"]["images"] == len(table) == result["counts"]["clean"]
    rows = (tmp_path / "o" / "manifest.csv").read_text().splitlines()[1:]
    empty = sum(1 for i in range(len(table)) if not table.label_names(table.noisy, i))
    assert result["without_mapped_prediction"] == empty == sum("<none>" in r for r in rows)
    noise_md = (tmp_path / "o" / "noise.md").read_text()
    assert "dropped 1 class(es)" in noise_md and "flower" in noise_md
    assert "3 images left without a clean label" in noise_md
    assert (
        _annotate_with(
            root, manifest, tmp_path / "k", "building.csv", "--label-mode", "multi", "--keep-unmapped-classes"
        )
        == 0
    )
    kept = read_table(tmp_path / "k" / "manifest.csv", image_root=str(root))
    assert sorted(kept.classes) == ["building", "flower"] and len(kept) == 6
    assert json.loads((tmp_path / "k" / "protocol.json").read_text())["removed_images"] == 0


def test_the_multi_mode_count_of_images_without_a_mapped_prediction_is_what_the_manifest_writes(photos, tmp_path):
    """Multi mode keeps an image without any mapped prediction in D_n with an empty label set (``<none>``); the
    count printed and recorded is those rows (it once read 0 whatever the manifest held)."""
    root, manifest, top, mapping = photos
    assert _annotate(root, manifest, tmp_path / "o", "--label-mode", "multi", "--top-k", "1") == 0
    result = json.loads((tmp_path / "o" / "protocol.json").read_text())
    rows = (tmp_path / "o" / "manifest.csv").read_text().splitlines()[1:]
    expected = sum(1 for row in top if int(row[0]) not in mapping)
    assert expected > 0 and result["without_mapped_prediction"] == expected == sum("<none>" in r for r in rows)
    assert f"{expected} without any mapped prediction" in (tmp_path / "o" / "noise.md").read_text()


def test_the_shipped_voc_map_covers_the_19_voc_classes_imagenet_has_and_not_person():
    m = read_class_map("voc")
    voc = [
        "aeroplane",
        "bicycle",
        "bird",
        "boat",
        "bottle",
        "bus",
        "car",
        "cat",
        "chair",
        "cow",
        "diningtable",
        "dog",
        "horse",
        "motorbike",
        "pottedplant",
        "sheep",
        "sofa",
        "train",
        "tvmonitor",
    ]
    assert sorted(set(m.values())) == voc  # every VOC class but person, which no ImageNet class names
    assert m[404] == "aeroplane" and m[831] == "sofa" and m[532] == "diningtable" and m[851] == "tvmonitor"
    assert m[738] == "pottedplant" and m[670] == "motorbike" and m[339] == "horse"
    coco = read_class_map("coco56")  # the same ImageNet members as coco56's class of the same name
    assert {i for i, c in m.items() if c == "dog"} == {i for i, c in coco.items() if c == "dog"}
    with pytest.raises(UserError, match=r"class\(es\) \['aeroplane'"):  # a map class the dataset lacks
        class_lookup(m, [c for c in voc if c != "aeroplane"] + ["person"])


def _voc_subset(tmp_path, n_per_split=6):
    """A few real VOC photos in the COCO layout, with at least one that only ``person`` labels."""
    from conftest import SHARED_DATA

    src = SHARED_DATA / "voc2007"
    if not (src / "annotations").is_dir():
        pytest.skip("../shared/data/voc2007 is absent")
    root = tmp_path / "voc"
    for split in ("train", "test"):
        full = json.loads((src / "annotations" / f"instances_{split}.json").read_text())
        person = next(c["id"] for c in full["categories"] if c["name"] == "person")
        by_image = {}
        for a in full["annotations"]:
            by_image.setdefault(a["image_id"], set()).add(a["category_id"])
        only_person = [i for i, cats in by_image.items() if cats == {person}][:1]
        others = [i for i, cats in by_image.items() if cats - {person}][:n_per_split]
        keep = set(only_person + others)
        images = [im for im in full["images"] if im["id"] in keep]
        (root / "images" / split).mkdir(parents=True)
        for im in images:
            name = im["file_name"]
            (root / "images" / split / name).write_bytes((src / "images" / split / name).read_bytes())
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").write_text(
            json.dumps(
                {**full, "images": images, "annotations": [a for a in full["annotations"] if a["image_id"] in keep]}
            )
        )
    return root


def test_voc_photos_annotated_with_the_shipped_map_lose_person_and_the_photos_only_it_labels(tmp_path, capsys):
    root = _voc_subset(tmp_path)
    code = main(
        [
            "protocol",
            "annotate",
            "--format",
            "coco",
            "--root",
            str(root),
            "--class-map",
            "voc",
            "--annotator",
            "efficientnet-lite0",
            "--label-mode",
            "multi",
            "--out",
            str(tmp_path / "o"),
            "--device",
            "cpu",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    assert result["dropped_classes"] == ["person"] and result["removed_per_split"] == {"train": 1, "test": 1}
    table = read_table(tmp_path / "o" / "manifest.csv", image_root=str(root))
    assert "person" not in table.classes and len(table) == 12 == result["counts"]["images"]
    assert all(table.label_names(table.clean, i) for i in range(len(table)))  # every kept photo has a clean label
    rows = (tmp_path / "o" / "manifest.csv").read_text().splitlines()[1:]
    assert result["without_mapped_prediction"] == sum("<none>" in r for r in rows)


def test_the_voc_task_is_the_papers_protocol_on_the_shared_photos():
    """The benchmark's VOC part reads 4,600 photos: person dropped with the 361 it alone labels, train 3,218,
    and the test photos are val + test (1,382), never the training split."""
    from conftest import SHARED_DATA
    from noisereg.tasks.voc import voc_table

    if not (SHARED_DATA / "voc2007" / "annotations").is_dir():
        pytest.skip("../shared/data/voc2007 is absent")
    table = voc_table(None)
    assert len(table.classes) == 19 and "person" not in table.classes
    assert len(table) == 4600 and int(table.split_mask("train").sum()) == 3218
    assert int((~table.split_mask("train")).sum()) == 1382


def _annotate_with(root, manifest, out, class_map, *extra):
    return main(
        [
            "protocol",
            "annotate",
            "--manifest",
            str(manifest),
            "--image-root",
            str(root),
            "--class-map",
            str(root / class_map),
            "--annotator",
            "efficientnet-lite0",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--quiet",
            *map(str, extra),
        ]
    )
