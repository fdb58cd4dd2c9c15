"""The paper's experiment grid in one command: methods x clean fractions x activations x seeds.

Reuses what the scheme allows: features of a frozen ImageNet backbone are extracted once (feature
cache) for every run; with the frozen scheme on images one Backbone (Noisy) per (clean fraction,
seed) serves every method and activation. Writes ``results.csv`` (one row per run), ``table.md``
(mean ± std over seeds, the layout of the paper's Tables 2/3/5) and one convergence plot per
activation (the paper's Fig. 4).
"""
from __future__ import annotations

import csv
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from .config import TrainConfig
from .data.digits import DemoTask, digits_multi_label, digits_single_label
from .data.labelset import LabelledSet
from .errors import UserError
from .methods import METHODS, list_methods
from .report import plot_convergence
from .trainer import Classifier, evaluate, fit, resolve_device

DATASETS = ("digits", "digits-multi", "cifar10n", "cifar10n-multi", "manifest")
ACTIVATION_METHODS = ("proposed", "h-alone", "g-alone")  # the methods built on the clean/residual heads
OWN_TRAIN_SET = ("gt", "veit-wp", "veit-tj")  # see _variant: they cannot share Backbone (Noisy)
CSV_COLUMNS = ["dataset", "noise", "method", "clean_fraction", "activation", "alpha", "seed", "top1", "mAP",
               "AP_all", "seconds"]


@dataclass
class ExperimentConfig:
    """A grid on one dataset.

    Attributes:
        data: ``digits`` | ``digits-multi`` | ``cifar10n`` | ``cifar10n-multi`` | ``manifest``.
        manifest: for ``data: manifest``, a manifest whose train images carry clean labels (e.g. from
            ``noisereg protocol coco --clean-fraction 1`` or ``noisereg data manifest``); each clean
            fraction keeps a seeded share of them; evaluation on its test split (val when absent).
        noise: CIFAR-N label set for the cifar datasets (``worse``, ``random1``, ``aggre``, ...).
        data_root: CIFAR-10 ImageFolder root (``train/`` and ``test/``); labels: ``CIFAR-10_human.pt``.
        methods: method ids, or ``["all"]`` for every registered method the data allows.
        clean_fractions: shares of the training images whose clean labels are used (they leave D_n).
        activations: activations tried for the clean/residual-net methods.
        seeds: runs per setting (seed s also draws the clean subset).
        train: TrainConfig fields for every run (steps, lr, scheme, ...).
        feature_backbone / feature_image_size: frozen ImageNet backbone of the cifar datasets.
        features: cifar datasets on those frozen features (True) or on the images themselves (False,
            for a backbone trained end to end, e.g. ``train: {scheme: end-to-end, backbone: small-cnn}``).
        mosaics: number of training mosaics for the multi-label datasets (test: a fifth of it).
        cache_dir: feature cache folder (default: OUT/cache).
        out: output folder.
    """

    data: str = "digits"
    noise: str = "worse"
    data_root: Optional[str] = None
    labels: Optional[str] = None
    manifest: Optional[str] = None
    methods: list[str] = field(default_factory=lambda: ["proposed", "noisy", "g-alone", "h-alone"])
    clean_fractions: list[float] = field(default_factory=lambda: [0.1])
    activations: list[str] = field(default_factory=lambda: ["sigmoid"])
    seeds: int = 1
    train: dict[str, Any] = field(default_factory=dict)
    feature_backbone: str = "efficientnet-lite0"
    feature_image_size: int = 96
    features: bool = True
    mosaics: int = 10000
    cache_dir: Optional[str] = None
    out: str = "runs/experiment"

    def __post_init__(self) -> None:
        if self.data not in DATASETS:
            raise UserError(f"data '{self.data}' is not one of {list(DATASETS)}")
        if self.seeds < 1:
            raise UserError(f"seeds must be >= 1, got {self.seeds}")
        if self.data == "manifest" and not self.manifest:
            raise UserError("data 'manifest' needs manifest: FILE.csv")
        bad = [f for f in self.clean_fractions if not 0 < f < 1]
        if bad:
            raise UserError(f"clean fractions must be in (0, 1), got {bad}")
        methods = list_methods() if self.methods == ["all"] else self.methods
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise UserError(f"unknown method(s) {unknown}: expected some of {list_methods()} or all")
        self.methods = methods


def load_experiment(path: Optional[str] = None, **overrides: Any) -> ExperimentConfig:
    """YAML file (optional) updated by the non-None ``overrides``."""
    data: dict[str, Any] = {}
    if path:
        import yaml
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise UserError(f"experiment file not found: {path}") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(ExperimentConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"unknown experiment key(s) {unknown}; expected some of {sorted(known)}")
    return ExperimentConfig(**data)


# ------------------------------------------------------------------ datasets
def _default_train(exp: ExperimentConfig) -> dict[str, Any]:
    if exp.data == "digits":
        return dict(scheme="end-to-end", image_size=8, hidden=128, steps=500)
    if exp.data == "digits-multi":
        return dict(scheme="frozen", image_size=16, hidden=128, steps=500, backbone_steps=500)
    if exp.data == "manifest":  # frozen ImageNet features of the images, cached and shared by every run
        return dict(scheme="frozen", backbone=exp.feature_backbone, image_size=exp.feature_image_size,
                    backbone_steps=0, hidden=256, steps=2000, lr=1e-3,
                    cache_dir=exp.cache_dir or str(Path(exp.out) / "cache"))
    if not exp.features:
        return dict(scheme="end-to-end", backbone="small-cnn", image_size=32, hidden=256, steps=2000, lr=1e-3)
    return dict(scheme="frozen", backbone_steps=0, hidden=256, steps=2000, lr=1e-3)


def task_builder(exp: ExperimentConfig, device: torch.device) -> Callable[[float, int], DemoTask]:
    """A function (clean fraction, seed) -> task; heavy shared work (features) is done once here."""
    if exp.data == "digits":
        return lambda f, s: digits_single_label(clean_fraction=f, seed=s)
    if exp.data == "digits-multi":
        return lambda f, s: digits_multi_label(clean_fraction=f, seed=s)
    if exp.data == "manifest":
        return manifest_builder(exp.manifest, exp.data_root)
    from .data.cifar_tasks import cifar10n_builder
    cache = exp.cache_dir or str(Path(exp.out) / "cache")
    return cifar10n_builder(exp.data_root, exp.labels, noise=exp.noise, multi_label=exp.data == "cifar10n-multi",
                            backbone=exp.feature_backbone, image_size=exp.feature_image_size,
                            mosaics=exp.mosaics, cache_dir=cache, device=device, features=exp.features)


def manifest_builder(path: str, image_root: Optional[str] = None) -> Callable[[float, int], DemoTask]:
    """Tasks from a manifest: a seeded clean fraction of train keeps its clean labels (clean images keep
    their noisy labels too); the test split, or val when there is none, is the evaluation set."""
    from .data.check import summarize
    from .data.files import check_images
    from .data.manifest import read_table
    table = read_table(path, image_root=image_root)
    check_images(table.image_paths(), what=path)
    split = "test" if "test" in table.splits() else "val"
    test = table.to_labelled_set(split)
    test.require(clean=True, noisy=False, where=f"{path} split '{split}'")
    noise = summarize(table.select(table.split_mask("train")))["noise_rate"] or {}
    measured = {k: noise[k] for k in ("overall", "missing", "spurious") if noise.get(k) is not None}

    full = table.to_labelled_set("train")  # every clean label stays: gt (the upper bound) reads them all
    in_train = table.split_mask("train")

    def build(fraction: float, seed: int) -> DemoTask:
        train = dataclasses.replace(full, has_clean=table.clean_draw(fraction, seed)[in_train])
        return DemoTask(Path(path).stem, train, test, measured, single_label=not table.multi_label,
                        known_clean=full.has_clean)

    return build


def _variant(train: LabelledSet, method: str, known_clean: Optional[np.ndarray] = None) -> LabelledSet:
    """The training set as a method sees it: ``gt`` gets every clean label there is (an upper bound);
    label cleaning keeps the noisy labels of the clean images (the pairs its cleaner learns from)."""
    if method == "gt":
        rows = np.ones(len(train), bool) if known_clean is None else known_clean
        return dataclasses.replace(train.subset(np.flatnonzero(rows)) if not rows.all() else train,
                                   has_clean=np.ones(int(rows.sum()), bool), has_noisy=np.zeros(int(rows.sum()), bool))
    if method in ("veit-wp", "veit-tj"):
        return dataclasses.replace(train, has_noisy=np.ones(len(train), bool))
    return train


# ------------------------------------------------------------------ the grid
def _runs(exp: ExperimentConfig) -> list[tuple[str, str]]:
    """(method, activation) pairs; methods without the heads run once with activation '-'."""
    return [(m, a) for m in exp.methods for a in (exp.activations if m in ACTIVATION_METHODS else ["-"])]


def run_experiment(exp: ExperimentConfig, *, quiet: bool = False) -> list[dict[str, Any]]:
    """Run the grid; write results.csv, table.md and convergence_<activation>.png into ``exp.out``."""
    out = Path(exp.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(exp.train.get("device", "auto"))
    base = {**_default_train(exp), **exp.train, "quiet": True}
    base.setdefault("eval_every", max(1, int(base.get("steps", 1000)) // 20))
    build = task_builder(exp, device)
    rows, skipped, curves = [], {}, {}
    for fraction in exp.clean_fractions:
        for seed in range(exp.seeds):
            task = build(fraction, seed)
            stage_one: Optional[Classifier] = None
            for method, activation in _runs(exp):
                cfg = TrainConfig(**{**base, "method": method, "seed": seed,
                                     "activation": activation if activation != "-" else "sigmoid"})
                start = time.perf_counter()
                try:
                    share = stage_one if method not in OWN_TRAIN_SET else None
                    result = fit(_variant(task.train, method, task.known_clean), cfg, eval_set=task.test,
                                 stage_one=share)
                except UserError as e:
                    skipped[method] = str(e)
                    continue
                if cfg.scheme == "frozen" and stage_one is None and result.stage_one is not None \
                        and method not in OWN_TRAIN_SET:
                    stage_one = result.stage_one
                scores = evaluate(result.model, task.test, result.preprocess, device=device)
                rows.append({"dataset": exp.data if exp.data != "manifest" else task.name,
                             "noise": exp.noise if exp.data.startswith("cifar") else "-",
                             "method": method, "clean_fraction": fraction, "activation": activation,
                             "alpha": cfg.alpha if method == "proposed" else "-", "seed": seed,
                             **{k: round(scores[k], 5) for k in ("top1", "mAP", "AP_all")},
                             "seconds": round(time.perf_counter() - start, 2)})
                if seed == 0:
                    curves.setdefault(activation, {}).setdefault(f"{fraction:g}", {})[method] = result.history
                if not quiet:
                    r = rows[-1]
                    print(f"{method:10s} {activation:8s} clean {fraction:<5g} seed {seed}: top1 {r['top1']:.4f} "
                          f"mAP {r['mAP']:.4f} AP_all {r['AP_all']:.4f} ({r['seconds']:.1f} s)", flush=True)
    _write(out, exp, rows, skipped, curves, task.single_label)
    return rows


# ------------------------------------------------------------------ outputs
def summary_table(rows: list[dict[str, Any]], fractions: list[float], metrics: list[str]) -> str:
    """Markdown: one row per (method, activation), columns metric x clean fraction, mean ± std in %."""
    keys = list(dict.fromkeys((r["method"], r["activation"]) for r in rows))
    head = "| method | activation | " + " | ".join(f"{m} @ {f:g}" for m in metrics for f in fractions) + " |"
    lines = [head, "|---|---|" + "---:|" * (len(metrics) * len(fractions))]
    for method, act in keys:
        cells = []
        for m in metrics:
            for f in fractions:
                vals = [100 * r[m] for r in rows if (r["method"], r["activation"], r["clean_fraction"]) == (method, act, f)]
                cells.append(f"{np.mean(vals):.2f} ± {np.std(vals):.2f}" if vals else "-")
        lines.append(f"| {method} | {act} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _write(out: Path, exp: ExperimentConfig, rows: list[dict], skipped: dict[str, str],
           curves: dict[str, dict], single_label: bool) -> None:
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    metrics = ["top1"] if single_label else ["mAP", "AP_all", "top1"]
    metric = metrics[0]
    shared = curves.pop("-", {})  # methods without the heads' activation appear in every plot
    for activation in curves or {"all": None}:
        for fraction, by_method in shared.items():
            curves.setdefault(activation, {}).setdefault(fraction, {}).update(by_method)
    for activation, by_fraction in curves.items():
        plot_convergence({f"clean {k}": v for k, v in by_fraction.items()}, out / f"convergence_{activation}.png",
                         {f"clean {k}": metric for k in by_fraction})
    text = [f"# Experiment: {exp.data}" + (f" ({exp.noise} labels)" if exp.data.startswith("cifar") else ""), "",
            f"Mean ± std over {exp.seeds} seed(s), in %, on the test set; columns are metric @ clean fraction.", "",
            summary_table(rows, exp.clean_fractions, metrics), ""]
    if skipped:
        text += ["Skipped (the method refuses this data):", ""] + [f"- {m}: {why}" for m, why in skipped.items()] + [""]
    text += [f"![convergence {a}](convergence_{a}.png)" for a in curves] + [""]
    (out / "table.md").write_text("\n".join(text))
