"""YOLO-format detection datasets read as multi-label classification data.

Layout (Ultralytics): ``images/<split>/*.jpg`` beside ``labels/<split>/*.txt``, one line per
object: ``class cx cy w h`` (or a polygon ``class x1 y1 x2 y2 ...``), class names in a data YAML
(``names:`` as a list or an index -> name mapping). An image's label set is the set of classes of
its objects; an image without a label file is a background image (an empty, known label set);
a label file without an image is skipped and reported.
The labels are human annotations, so they are read as clean labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import UserError
from ...options import option
from ..table import LabelTable
from .registry import Layout

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def split_name(folder: str) -> str | None:
    """train2017 -> train, val2017 / valid -> val, test-dev -> test; None for other folders."""
    for prefix, split in (("train", "train"), ("val", "val"), ("test", "test")):
        if folder.lower().startswith(prefix):
            return split
    return None


def read_names(path: Path) -> list[str]:
    """Class names from a YOLO data YAML (``names`` list or {index: name})."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise UserError(f"{path}: malformed YAML ({str(e).splitlines()[0]})") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        if sorted(str(k) for k in names) != sorted(str(i) for i in range(len(names))):
            raise UserError(
                f"{path}: 'names' must be a list or a mapping 0..{len(names) - 1} -> name, got keys {list(names)[:3]}"
            )
        return [str(names[k]) for k in sorted(names, key=int)]
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    raise UserError(f"{path}: no class 'names' list")


def _find_yaml(root: Path) -> Path:
    found = sorted(root.glob("*.yaml")) + sorted(root.glob("*.yml"))
    with_names = [p for p in found if "names" in p.read_text(encoding="utf-8", errors="replace")]
    if not with_names:
        raise UserError(f"no data YAML with class names in {root} (pass --names FILE.yaml)")
    return with_names[0]


def read_label_file(path: Path, k: int) -> list[int]:
    """The classes of one YOLO label file; malformed lines and unknown class ids are errors."""
    classes = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = text.split()
        if not parts:
            continue
        try:
            cls, coords = int(parts[0]), [float(v) for v in parts[1:]]
        except ValueError:
            raise UserError(f"{path}:{line}: malformed row '{text[:80]}' (expected 'class cx cy w h')") from None
        if len(coords) < 4 or (len(coords) > 4 and len(coords) % 2):
            raise UserError(f"{path}:{line}: malformed row '{text[:80]}' (expected 'class cx cy w h')")
        if not 0 <= cls < k:
            raise UserError(f"{path}:{line}: class id {cls} is outside 0..{k - 1}")
        classes.append(cls)
    return classes


def read_yolo(root: str | Path, *, names: str | Path | None = None) -> LabelTable:
    """Every ``images/<split>`` folder of a YOLO dataset with its label files as a ``LabelTable``."""
    root = Path(root)
    classes = read_names(Path(names) if names else _find_yaml(root))
    image_dir = root / "images"
    folders = sorted(p for p in image_dir.iterdir() if p.is_dir() and split_name(p.name)) if image_dir.is_dir() else []
    if not folders:
        raise UserError(f"no images/<train|val|test>* folders in {root}")
    paths, splits, labels, orphans = [], [], [], []
    for folder in folders:
        label_dir = root / "labels" / folder.name
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        stems = {p.stem for p in images}
        if len(stems) != len(images):
            raise UserError(f"{folder}: two images share a file stem, so their label files would clash")
        for image in images:
            txt = label_dir / f"{image.stem}.txt"
            labels.append(read_label_file(txt, len(classes)) if txt.is_file() else [])
            paths.append(str(image.relative_to(root)))
            splits.append(split_name(folder.name))
        if label_dir.is_dir():
            orphans += [str(t) for t in sorted(label_dir.glob("*.txt")) if t.stem not in stems]
    table = LabelTable.human_labelled(
        classes=classes,
        ids=paths,
        paths=paths,
        splits=splits,
        labels=labels,
        root=root,
        source=f"yolo {root}",
        empty_note="image(s) without objects (empty label sets)",
    )
    if orphans:  # real releases have a few (coco128 has 2); the image defines the sample, so skip them
        table.notes.append(
            f"{len(orphans)} label file(s) without an image skipped: {', '.join(orphans[:3])}"
            + (" ..." if len(orphans) > 3 else "")
        )
    return table


@dataclass
class YoloOptions:
    """``--format yolo``: the dataset folder and its class names."""

    root: str | None = option(None, "dataset folder: images/<split>*/ and labels/<split>*/")
    names: str | None = option(None, "data YAML with the class names (default: the YAML in ROOT)")


def _read(o: YoloOptions, *, classes: list[str] | None, quiet: bool) -> LabelTable:
    return read_yolo(str(o.root), names=o.names)


LAYOUT = Layout("yolo", YoloOptions, _read, required=("root",))
