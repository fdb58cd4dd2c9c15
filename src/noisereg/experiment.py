"""The paper's experiment grid in one command: methods x clean fractions x activations x seeds.

Reuses what the scheme allows: features of a frozen ImageNet backbone are extracted once (feature
cache) for every run; with the frozen scheme on images one Backbone (Noisy) per (clean fraction,
seed) serves every method whose spec shares the training set. Writes ``results.csv`` (one row per
run), ``table.md`` (mean ± std over seeds, the layout of the paper's Tables 2/3/5) and one
convergence plot per activation (the paper's Fig. 4), written by ``report/grid.py``. Which methods
take an activation, alpha or a training set of their own is read from the method registry, never
from their ids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .config import ACTIVATION_NAMES, TrainConfig
from .errors import UserError
from .options import load_options, option
from .tasks import TASKS


@dataclass
class ExperimentConfig:
    """A grid on one dataset (see each field's help; ``noisereg experiment --help``)."""

    KIND: ClassVar[str] = "experiment"

    data: str = option("digits", "dataset", choices=tuple(TASKS))
    noise: str = option(
        "worse",
        "CIFAR-N label set of the cifar datasets: worse, random1-3, aggre; or annotated "
        "(machine labels: the annotator's top-8 mapped to CIFAR-10)",
    )
    annotator: str = option(
        "efficientnet-lite2",
        "ImageNet classifier that labels the images with noise annotated (never the feature backbone)",
    )
    annotator_image_size: int = option(
        0, "input side of the annotator (0: 160 px for the CIFAR thumbnails, the annotator's own size for photos)"
    )
    data_root: str | None = option(
        None,
        "CIFAR-10 image folder with train/ and test/ (voc: the VOC 2007 folder in "
        "the COCO layout; manifest: image root)",
    )
    labels: str | None = option(None, "CIFAR-10_human.pt (default: beside the image folder, in cifar10n/)")
    manifest: str | None = option(
        None,
        "data manifest: a manifest whose train images carry clean labels "
        "(e.g. from `noisereg protocol coco --clean-fraction 1`)",
    )
    methods: list[str] = option(
        help="comma-separated method ids, or all", default_factory=lambda: ["proposed", "noisy", "g-alone", "h-alone"]
    )
    clean_fractions: list[float] = option(
        help="shares of the training images whose clean labels are used", default_factory=lambda: [0.1]
    )
    activations: list[str] = option(
        help="activations tried for the methods built on the clean/residual heads", default_factory=lambda: ["sigmoid"]
    )
    seeds: int = option(1, "runs per setting (seed s also draws the clean subset)")
    first_seed: int = option(0, "the first seed (seeds first_seed .. first_seed + seeds - 1)")
    train: dict[str, Any] = option(help="TrainConfig fields for every run", default_factory=dict, cli=False)
    feature_backbone: str = option("efficientnet-lite0", "frozen ImageNet backbone of the cifar/manifest datasets")
    feature_image_size: int = option(96, "input side of that backbone")
    features: bool = option(
        True, "cifar datasets on the images themselves (train a backbone end to end)", flag="--no-features"
    )
    mosaics: int = option(10000, "training mosaics of the multi-label datasets (test: a fifth of it)")
    cache_dir: str | None = option(None, "feature cache folder (default OUT/cache); share it between experiments")
    tune_trials: int = option(
        0,
        "tune every method first with this many trials on validation (the same for "
        "each), then use its chosen values in every run (0 = no tuning)",
    )
    tune_fraction: float | None = option(None, "the clean fraction tuning runs at, seed 0 (default: the first)")
    tuned: str | None = option(None, "a tuned.json whose values every run uses (from an earlier tuning)")
    out: str = option("runs/experiment", "output folder")

    def __post_init__(self) -> None:
        from .methods import get_method_spec, list_methods

        if self.data not in TASKS:
            raise UserError(f"data '{self.data}' is not one of {list(TASKS)}")
        if self.seeds < 1:
            raise UserError(f"seeds must be >= 1, got {self.seeds}")
        if self.tune_trials < 0:
            raise UserError(f"tune_trials must be >= 0, got {self.tune_trials}")
        if self.data == "manifest" and not self.manifest:
            raise UserError("data 'manifest' needs manifest: FILE.csv")
        bad = [f for f in self.clean_fractions if not 0 < f < 1]
        if bad or not self.clean_fractions:
            raise UserError(f"clean fractions must be in (0, 1), got {bad or self.clean_fractions}")
        if not self.methods:
            raise UserError("methods: the list is empty; name at least one method, or all")
        self.methods = list_methods() if self.methods == ["all"] else self.methods
        for m in self.methods:
            get_method_spec(m)
        for a in self.activations:
            if a not in ACTIVATION_NAMES:
                raise UserError(f"activation '{a}' is not one of {list(ACTIVATION_NAMES)}")
        TrainConfig.from_dict(self.train)  # unknown keys and wrong types refused before any work


def load_experiment(path: str | None = None, **overrides: Any) -> ExperimentConfig:
    """YAML file (optional) updated by the non-None ``overrides`` (the one loader, ``load_options``)."""
    return load_options(ExperimentConfig, path, **overrides)


# ------------------------------------------------------------------ the grid
def _runs(exp: ExperimentConfig) -> list[tuple[str, str]]:
    """(method, activation) pairs; methods without the heads run once with activation '-'."""
    from .methods import get_method_spec

    return [(m, a) for m in exp.methods for a in (exp.activations if get_method_spec(m).uses_heads else ["-"])]


def run_experiment(exp: ExperimentConfig, *, quiet: bool = False) -> list[dict[str, Any]]:
    """Run the grid; write results.csv, table.md, convergence_<activation>.png and report.html into ``exp.out``.

    Every run chooses its weights on the validation share of the clean set and is scored once on the
    test set at the end. The report's per-class AP and example images are those of the first clean
    fraction and seed.
    """
    from .distributed import resolve_device
    from .methods import get_method_spec
    from .report import score_set, source_commit
    from .report.grid import results_row, write_grid, write_grid_report
    from .train import Classifier, evaluate, fit

    out, commit = Path(exp.out), source_commit()  # each row names the code that produced it
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(exp.train.get("device", "auto"))
    spec_of = TASKS[exp.data]
    base = TrainConfig.from_dict({**spec_of.default_train(exp), **exp.train, "quiet": True})
    build = spec_of.builder(exp, device)
    tuned = tune_grid(exp, base, build, quiet) if exp.tune_trials else {}
    if exp.tuned:
        from .tuning import read_tuned

        tuned = {**read_tuned(exp.tuned), **tuned}
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    curves: dict[str, dict[str, dict[str, Any]]] = {}  # activation -> clean fraction -> method -> history
    evidence: dict[str, Any] = {}
    for fraction in exp.clean_fractions:
        for seed in range(exp.first_seed, exp.first_seed + exp.seeds):
            task = build(fraction, seed)
            train, val, known = task.holdout(base.val_fraction, seed)
            stage_one: Classifier | None = None
            for method, activation in _runs(exp):
                spec = get_method_spec(method)
                cfg = base.replace(
                    method=method,
                    seed=seed,
                    activation=activation if activation != "-" else "sigmoid",
                    **tuned.get(method, {}),
                )
                start = time.perf_counter()
                try:
                    result = fit(
                        spec.train_view(train, known) if spec.train_view else train,
                        cfg,
                        eval_set=val,
                        stage_one=None if spec.train_view else stage_one,
                    )
                except UserError as e:
                    skipped[method] = str(e)
                    continue
                if stage_one is None and spec.train_view is None:
                    stage_one = result.stage_one
                scores = evaluate(result.model, task.test, result.preprocess, device=device)
                rows.append(
                    {
                        **results_row(
                            exp,
                            task,
                            cfg,
                            spec,
                            fraction,
                            activation,
                            scores,
                            result.history,
                            time.perf_counter() - start,
                        ),
                        "commit": commit,
                    }
                )
                if seed == exp.first_seed:
                    curves.setdefault(activation, {}).setdefault(f"{fraction:g}", {})[method] = result.history
                if seed == exp.first_seed and fraction == exp.clean_fractions[0]:
                    evidence["task"] = task
                    evidence[_label(exp, method, activation)] = score_set(
                        result.model, task.test, result.preprocess, device=device
                    )
                if not quiet:
                    r = rows[-1]
                    print(
                        f"{method:10s} {activation:8s} clean {fraction:<5g} seed {seed}: top1 {r['top1']:.4f} "
                        f"mAP {r['mAP']:.4f} AP_all {r['AP_all']:.4f} ({r['epochs']} epochs, {r['seconds']:.1f} s)",
                        flush=True,
                    )
    write_grid(out, exp, rows, skipped, curves, task.single_label)
    shown = evidence.pop("task", task)
    fig3: list[str] = [m for m in ("noisy", "ft-l") if m in evidence]  # the paper's Fig. 3 columns
    write_grid_report(out, exp, base, shown, evidence, compare=fig3)
    return rows


def _label(exp: ExperimentConfig, method: str, activation: str) -> str:
    """A run's name in the report: the method, with its activation when the grid tries several."""
    return method if activation == "-" or len(exp.activations) == 1 else f"{method} ({activation})"


def tune_grid(exp: ExperimentConfig, base: TrainConfig, build: Any, quiet: bool) -> dict[str, dict[str, Any]]:
    """Tune every method of the grid with the same number of trials, at one clean fraction and seed 0,
    on that task's validation set; write ``tuned.json`` / ``tune.csv``; return method -> values."""
    from .tuning import tune_method, write_tuned

    fraction = exp.tune_fraction if exp.tune_fraction is not None else exp.clean_fractions[0]
    task = build(fraction, 0)
    train, val, known = task.holdout(base.val_fraction, 0)
    from .methods import get_method_spec

    results = {}
    for method in exp.methods:
        spec = get_method_spec(method)
        cfg = base.replace(seed=0, activation=exp.activations[0] if spec.uses_heads else "sigmoid")
        try:
            results[method] = tune_method(
                spec.train_view(train, known) if spec.train_view else train,
                val,
                cfg,
                method,
                trials=exp.tune_trials,
                seed=0,
            )
        except UserError as e:
            if not quiet:
                print(f"tuning {method}: skipped ({e})", flush=True)
            continue
        if not quiet:
            r = results[method]
            print(
                f"tuned {method:10s} at clean {fraction:g}: val {r.value:.4f} with {r.params} "
                f"({len(r.trials)} trials, {r.seconds:.0f} s)",
                flush=True,
            )
    write_tuned(exp.out, results, base)
    return {m: r.params for m, r in results.items()}
