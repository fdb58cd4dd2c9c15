"""The parts of the CIFAR-10N / VOC benchmark (``bench_cifar10n.py``) as a registry: one ``Part`` per part
says its task, labels, metric, clean fractions, training settings, which methods run (drawn from the
method registry's facts) and how RESULTS.md and the README show it.

Adding a part is one ``register_part(Part(...))`` line here: ``bench_cifar10n.py``, ``bench_defaults.py``,
``alpha_choice.py`` and ``make_results.py`` read everything from it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2)
VOC_FRACTIONS = (0.02, 0.05, 0.1, 0.2)
TRAIN = {
    "epochs": 20,
    "batch_size": 128,
    "patience": 4,
    "hidden": 256,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "alpha": 0.2,
    "clean_ratio": 0.1,
}  # every method's first tuning trial (pinned: not the methods' defaults); patience in
# epochs: 4 = the 8 evaluations, half an epoch apart, that the rows before 2026-12-03 waited (9 for an odd epoch)
# voc: the length and batch from the data, the library's rule (20 epochs of the training set, at least 3,000
# steps; batch 32 under 4,000 rows), not 20 epochs of batch 128: a clean-only phase on 64-645 photos had 1-6
# steps an epoch there (g-alone at 5% stopped after 18 steps), so the methods that train on the clean set
# alone, or end on it, never converged; the same first tuning trial otherwise
TRAIN_VOC = {**TRAIN, "epochs": None, "steps": 0, "batch_size": 0}
TRAIN_E2E = {
    "scheme": "end-to-end",
    "backbone": "small-cnn",
    "image_size": 32,
    "batch_size": 128,
    "patience": 3,
    "hidden": 256,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "alpha": 0.2,
    "clean_ratio": 0.1,
}
BASELINE_GROUPS = ("fine-tuning", "label cleaning", "loss correction", "meta-learning")
FROZEN_REFUSED = ("ft-w",)  # fine-tunes the whole network: refuses the frozen scheme (methods/finetune.py)


def frozen_methods(multi_label: bool) -> list[str]:
    """Every registered method that trains on frozen features and, for a multi-label part, takes several
    labels per image (``MethodSpec.single_label_only``), in registry order."""
    from noisereg.methods import get_method_spec, list_methods

    return [
        m
        for m in list_methods()
        if m not in FROZEN_REFUSED and not (multi_label and get_method_spec(m).single_label_only)
    ]


def single_label_methods() -> list[str]:
    return frozen_methods(multi_label=False)


def multi_label_methods() -> list[str]:
    return frozen_methods(multi_label=True)


def best_baselines(n: int = 3, rows: list[dict] | None = None) -> list[str]:
    """The ``n`` baselines (``MethodSpec.group`` in ``BASELINE_GROUPS``) of the worse part with the highest
    mean *validation* score at 5% clean (the test column is never used to choose what runs)."""
    import numpy as np

    from benchmarks.common import RESULTS_DIR, current_rows
    from noisereg.methods import get_method_spec

    rows = [
        r
        for r in (rows if rows is not None else current_rows(RESULTS_DIR / "cifar10n.csv"))
        if r["part"] == "worse" and float(r["clean_fraction"]) == 0.05 and r.get("val_best") not in (None, "")
    ]
    means = {
        m: np.mean([float(r["val_best"]) for r in rows if r["method"] == m])
        for m in {r["method"] for r in rows}
        if m != "cleanlab-cl" and get_method_spec(m).group in BASELINE_GROUPS
    }
    return sorted(means, key=lambda m: (-means[m], m))[:n]


def proposed_with_best_baselines() -> list[str]:
    """``proposed``, ``g-alone`` and the three best baselines of ``worse`` by validation score."""
    return ["proposed", "g-alone", *best_baselines()]


@dataclass(frozen=True)
class Part:
    """One part of the benchmark.

    Attributes:
        name: ``--part`` value and the ``part`` column of ``results/cifar10n.csv``.
        title: its heading in RESULTS.md.
        data, noise: the experiment's task id and label set (``ExperimentConfig.data`` / ``noise``).
        metric: the headline score, ``mAP`` (multi-label) or ``top1``; a multi-label part also shows AP_all.
        methods: () -> the methods the part runs (from the method registry's facts, not a hand list).
        fractions: the clean fractions of the grid.
        train: every method's first tuning trial and training length.
        image_size: the feature backbone's input side.
        shared_data: the folder under ``../shared/data`` the part needs.
        annotated: labelled by a machine annotator (its noise is measured into ``results/noise_<name>.json``).
        cleanlab: cleanlab's rows run beside the grid; ``cleanlab_everywhere``: at every fraction (else 5%).
        unit: what one training row is, in prose (``images``, ``mosaics``, ``photos``).
        targets: (clean fraction, margin) claims of ``proposed`` over the best other method, checked in the
            Targets table; ``reference``: shown there for reference only (every fraction, no claim).
        per_class_ap: its test AP per class goes to ``results/per_class_<name>.csv`` (VOC: beside the noise).
        readme_title, readme_defaults: the README's heading for it, and whether its untuned defaults
            (``results/defaults.csv``) follow there.
        summary: its row name in the README's "other parts" table (empty: not there).
        headline: the README's rows for the part (empty: the part is in its "other parts" table as ``summary``).
    """

    name: str
    title: str
    data: str
    noise: str
    metric: str = "top1"
    methods: Callable[[], list[str]] = single_label_methods
    fractions: tuple[float, ...] = FRACTIONS
    train: dict[str, Any] = field(default_factory=lambda: dict(TRAIN))
    image_size: int = 160
    shared_data: str = "cifar10n"
    annotated: bool = False
    cleanlab: bool = False
    cleanlab_everywhere: bool = False
    unit: str = "images"
    targets: tuple[tuple[float, float], ...] = ()
    reference: bool = False
    per_class_ap: bool = False
    headline: tuple[str, ...] = ()
    readme_title: str = ""
    readme_defaults: bool = False
    summary: str = ""

    @property
    def multi_label(self) -> bool:
        return self.metric == "mAP"

    @property
    def scheme(self) -> str:
        return self.train.get("scheme", "frozen")

    @property
    def metrics(self) -> list[str]:
        """The scores its RESULTS.md tables show, headline first."""
        return ["mAP", "AP_all", "top1"] if self.multi_label else ["top1"]


_PARTS: dict[str, Part] = {}


def register_part(part: Part) -> Part:
    """Add ``part`` to the registry (its name must be new)."""
    if part.name in _PARTS:
        raise ValueError(f"part {part.name!r} is already registered")
    _PARTS[part.name] = part
    return part


def unregister_part(name: str) -> None:
    """Remove a part (for tests that register a toy one)."""
    _PARTS.pop(name, None)


def get_part(name: str) -> Part:
    if name not in _PARTS:
        raise KeyError(f"unknown part {name!r}; registered: {', '.join(_PARTS)}")
    return _PARTS[name]


def list_parts() -> list[str]:
    """The registered parts, in the order RESULTS.md shows them."""
    return list(_PARTS)


def metric_of(name: str) -> str:
    """The headline score of a part: mAP for the multi-label parts, top-1 otherwise."""
    return get_part(name).metric


def fractions(args: argparse.Namespace, name: str) -> list[float]:
    """The clean fractions of a part (``--fractions`` overrides them)."""
    if getattr(args, "fractions", None):
        return [float(f) for f in args.fractions.split(",")]
    return list(get_part(name).fractions)


def experiment(args: argparse.Namespace, name: str, methods: list[str], **fields: Any):
    """The part's ``ExperimentConfig`` for ``methods`` with the command's options; ``fields`` replace
    any of its settings (one cell's fraction and seed, the tuned values, the output folder)."""
    from noisereg.experiment import ExperimentConfig

    part = get_part(name)
    train = dict(part.train)
    if part.scheme == "end-to-end":
        train.update(epochs=args.e2e_epochs, num_workers=args.loader_workers)
    settings = dict(
        data=part.data,
        noise=part.noise,
        methods=methods,
        clean_fractions=fractions(args, name),
        seeds=args.seeds,
        train=train,
        feature_image_size=args.image_size or part.image_size,
        features=part.scheme == "frozen",
        mosaics=args.mosaics,
        cache_dir=args.cache_dir,
        out=f"{args.out}/{name}",
    )
    return ExperimentConfig(**{**settings, **fields})


ANNOTATOR = "EfficientNet-Lite2"
register_part(
    Part(
        "voc",
        f"real photos, the paper's protocol (multi-label): PASCAL VOC 2007 labelled by {ANNOTATOR}'s top-8",
        data="voc",
        noise="annotated",
        metric="mAP",
        methods=multi_label_methods,
        fractions=VOC_FRACTIONS,
        train=TRAIN_VOC,
        image_size=224,
        shared_data="voc2007",
        annotated=True,
        cleanlab=True,
        cleanlab_everywhere=True,
        unit="photos",
        per_class_ap=True,
        targets=((0.02, 0.0), (0.05, 3.0), (0.1, 0.0)),
        headline=("proposed", "g-alone", "h-alone", "mixed", "noisy", "ft-l", "mw-net", "cleanlab-cl", "gt"),
        readme_title=f"Real photos, the paper's protocol: PASCAL VOC 2007 labelled by {ANNOTATOR}'s top-8 "
        "(multi-label), test mAP %:",
        readme_defaults=True,
    )
)
register_part(
    Part(
        "annotated",
        f"machine-annotated, single-label: every training image labelled by {ANNOTATOR}",
        data="cifar10n",
        noise="annotated",
        annotated=True,
        cleanlab=True,
        targets=((0.01, 0.0), (0.02, 3.0), (0.05, 3.0), (0.1, 0.0)),
        headline=("proposed", "proposed-glc", "g-alone", "h-alone", "mixed", "noisy", "glc", "gt"),
        readme_title="Machine-annotated CIFAR-10 (single-label), test top-1 %:",
    )
)
register_part(
    Part(
        "annotated-mosaics",
        f"machine-annotated, multi-label 2x2 mosaics labelled as whole images by {ANNOTATOR}",
        data="cifar10n-multi",
        noise="annotated",
        metric="mAP",
        methods=multi_label_methods,
        annotated=True,
        unit="mosaics",
        targets=((0.05, 3.0),),
        headline=("proposed", "g-alone", "h-alone", "mixed", "noisy", "gt"),
        readme_title="Machine-annotated 2x2 mosaics (multi-label), test mAP %:",
    )
)
register_part(
    Part(
        "worse",
        "single-label, `worse` labels (40.2% noisy)",
        data="cifar10n",
        noise="worse",
        cleanlab=True,
        targets=((0.01, 3.0), (0.02, 3.0), (0.05, 3.0), (0.1, 0.0)),
        headline=("proposed", "proposed-glc", "glc", "mw-net", "cleannet", "g-alone", "noisy", "gt"),
        readme_title="CIFAR-10N human `worse` labels (40.2% wrong), test top-1 %:",
    )
)
register_part(
    Part(
        "random1",
        "single-label, `random1` (17.2%)",
        data="cifar10n",
        noise="random1",
        methods=proposed_with_best_baselines,
        cleanlab=True,
        reference=True,
        summary="`random1` labels (17.2% wrong), top-1",
    )
)
register_part(
    Part(
        "aggre",
        "single-label, `aggre` (9.0%)",
        data="cifar10n",
        noise="aggre",
        methods=proposed_with_best_baselines,
        cleanlab=True,
        reference=True,
        summary="`aggre` labels (9.0% wrong), top-1",
    )
)
register_part(
    Part(
        "mosaics",
        "multi-label 2x2 mosaics, tiles' `worse` labels",
        data="cifar10n-multi",
        noise="worse",
        metric="mAP",
        methods=multi_label_methods,
        unit="mosaics",
        targets=((0.05, 3.0),),
        summary="2x2 mosaics, tiles' `worse` labels (multi-label), mAP",
    )
)
register_part(
    Part(
        "e2e",
        "single-label `worse`, small CNN trained end to end on the images",
        data="cifar10n",
        noise="worse",
        methods=lambda: ["proposed", "noisy", "g-alone", "h-alone"],
        fractions=(0.1,),
        train=dict(TRAIN_E2E),
        summary="small CNN end to end (`worse`), top-1",
    )
)
