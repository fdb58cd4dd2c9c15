"""The built-in demo: the paper's method, its ablations and its strongest trusted-set peers (Gold Loss
Correction, forward correction + fine-tuning, Noisy-FT-L) on real digit images, no download.

The paper's regime: a massive noisy set and a clean set too small to learn the task alone (5% of
the training images; a fifth of those held out for validation). Noise is human-like: each digit is
relabelled as its most confusable digit at a class-dependent rate (40% on average, so for half the
classes the noisy majority is wrong); the multi-label task tiles four digits into a 2x2 mosaic and
takes the union of the tiles' noisy labels (missing and spurious labels, as in CIFAR-10N mosaics).
Every method trains heads on frozen ImageNet features of the scans (EfficientNet-Lite0, installed
offline, extracted once into ``out/cache``), chooses its weights on validation, and is scored once
on the test set. Writes results.json (with the versions that produced it), report.md (its text:
``report/demo.py``) and a plot.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig
from .distributed import resolve_device
from .methods import get_method_spec, list_methods
from .report import (
    Scores,
    data_summary,
    plot_convergence,
    score_set,
    versions,
    write_curves,
    write_evaluation,
    write_report,
    write_results,
    write_summary,
)
from .report.demo import demo_markdown
from .tasks.base import Task
from .tasks.digits import digits_multi_label, digits_single_label
from .train import Classifier, evaluate, fit


def demo_methods(single_label: bool = True) -> tuple[str, ...]:
    """The paper's method, its ablations, Backbone (Noisy) and the strongest trusted-set peers on the demo's
    tasks (``MethodSpec.demo_peer``; single-label-only ones on single-label data), as the registry names them."""

    def shown(m: str) -> bool:
        spec = get_method_spec(m)
        return (
            spec.group in ("paper", "ablation")
            or spec.is_backbone_noisy
            or (spec.demo_peer and (single_label or not spec.single_label_only))
        )

    own = [m for m in list_methods() if shown(m) and not get_method_spec(m).demo_peer]
    return tuple(own + [m for m in list_methods() if shown(m) and get_method_spec(m).demo_peer])


DEMO_CLEAN_FRACTION = 0.05


def demo_config(*, epochs: float = 30, seed: int = 0, quiet: bool = False, cache_dir: str | None = None) -> TrainConfig:
    """The demo's settings: the paper's alpha 0.2 and 1:9 batches of 32, Adam, heads on frozen
    ImageNet features, at most ``epochs`` passes over the noisy set with early stopping."""
    return TrainConfig(
        scheme="frozen",
        backbone="efficientnet-lite0",
        image_size=64,
        backbone_steps=0,
        hidden=256,
        lr=1e-3,
        weight_decay=0.0,
        alpha=0.2,
        clean_ratio=0.1,
        batch_size=32,
        epochs=epochs,
        seed=seed,
        quiet=quiet,
        device="auto",
        cache_dir=cache_dir,
    )


def demo_tasks(seed: int = 0) -> dict[str, Task]:
    """The single-label and multi-label digit tasks at the demo's clean share."""
    return {
        "single-label": digits_single_label(clean_fraction=DEMO_CLEAN_FRACTION, seed=seed),
        "multi-label": digits_multi_label(clean_fraction=DEMO_CLEAN_FRACTION, noise="flips", seed=seed),
    }


def run_task(task: Task, cfg: TrainConfig, methods: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Train every method on ``task`` and evaluate g (and h for ``proposed``) on its test set.

    Every method chooses its weights on the same validation share of the clean set (``cfg.val_fraction``);
    the test set is used once, at the end. With the frozen scheme one Backbone (Noisy) is trained first and shared
    by all methods; their histories are then offset by its steps, so the curves show the whole training.
    """
    device = resolve_device(cfg.device)
    stage_one: Classifier | None = None
    out: dict[str, Any] = {"methods": {}, "histories": {}, "seconds": {}, "scores": {}}
    shown = methods = methods or demo_methods(task.single_label)
    if cfg.scheme == "frozen":  # stage one is Backbone (Noisy) itself: train it first, share it
        methods = tuple(sorted(methods, key=lambda m: not get_method_spec(m).is_backbone_noisy))
    train, val, _ = task.holdout(cfg.val_fraction, cfg.seed)
    for name in methods:
        start = time.perf_counter()
        result = fit(train, cfg.replace(method=name), eval_set=val, stage_one=stage_one, print_evaluations=False)
        if cfg.scheme == "frozen" and stage_one is None:
            stage_one = result.stage_one
        metrics: dict[str, Any] = evaluate(result.model, task.test, result.preprocess, device=device)
        if get_method_spec(name).group == "paper":
            metrics["h"] = evaluate(result.model, task.test, result.preprocess, device=device, which="h_logits")
            out["label_issues"] = suspects(result, train, task.train.clean, device)
        out["methods"][name] = metrics
        out["scores"][name] = score_set(result.model, task.test, result.preprocess, device=device)
        stage_one_shown = cfg.scheme == "frozen" and not get_method_spec(name).is_backbone_noisy
        offset = cfg.stage_one_steps() if stage_one_shown else 0
        out["histories"][name] = [{**r, "x": r["step"] + offset} for r in result.history]
        out["seconds"][name] = round(time.perf_counter() - start, 2)
    out["methods"] = {m: out["methods"][m] for m in shown if m in out["methods"]}
    return out


def suspects(result: Any, train: Any, truth: Any, device: torch.device, top: int = 5) -> dict[str, Any]:
    """The noisy labels the trained model flags in its own training set (``find_label_issues``' scores and
    default rule without validation labels: the labels g contradicts with a margin), checked against the
    truth the demo knows: every image's clean label ``truth`` (N, K)."""
    from sklearn.metrics import roc_auc_score

    from .label_issues import score_set

    scores = score_set(result.model, train, result.preprocess, device=device)
    wrong = truth[scores.rows] != scores.given
    wrong = wrong.any(1) if scores.single_label else wrong
    flags = scores.is_issue()
    names = lambda row: ";".join(train.classes[k] for k in row.nonzero()[0]) or "-"  # noqa: E731
    suggested = scores.suggested()
    worst = [
        {
            "image": scores.ids[i],
            "given": names(scores.given[i]),
            "suggested": names(suggested[i]),
            "truth": names(truth[scores.rows[i]]),
            "quality": round(float(scores.image_quality()[i]), 3),
        }
        for i in scores.image_quality().argsort(kind="stable")[:top]
    ]
    return {
        "score": scores.score,
        "rule": scores.rule,
        "labels": int(flags.size),
        "wrong": int(wrong.sum()),
        "flagged": int(flags.sum()),
        "precision": float(wrong[flags].mean()) if flags.any() else 0.0,
        "recall": float(flags[wrong].mean()),
        "auroc": float(roc_auc_score(wrong.ravel(), -scores.quality.ravel())),
        "worst": worst,
    }


def run_demo(
    out: str | Path = "runs/demo",
    *,
    epochs: float = 30,
    seed: int = 0,
    quiet: bool = False,
    tasks: dict[str, Task] | None = None,
) -> dict[str, Any]:
    """Run the demo and write ``out/results.json``, ``out/report.md``, ``out/convergence.png`` and the
    HTML report ``out/report.html`` (its path in ``results["report"]``)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    out = Path(out)
    cfg = demo_config(epochs=epochs, seed=seed, quiet=quiet, cache_dir=str(out / "cache"))
    tasks = tasks or demo_tasks(seed)
    results: dict[str, Any] = {"tasks": {}, "config": cfg.to_dict(), "versions": versions()}
    histories, scores = {}, {}
    for name, task in tasks.items():
        res = run_task(task, cfg)
        histories[name], scores[name] = res.pop("histories"), res.pop("scores")
        results["tasks"][name] = {
            **res,
            "single_label": task.single_label,
            "scheme": cfg.scheme,
            "noise": task.noise,
            "n_clean": int(task.train.has_clean.sum()),
            "n_noisy": int(task.train.has_noisy.sum()),
            "n_test": len(task.test),
        }
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["device"] = str(resolve_device(cfg.device))
    out.mkdir(parents=True, exist_ok=True)
    plot_convergence(
        histories, out / "convergence.png", {n: "top1" if t.single_label else "mAP" for n, t in tasks.items()}
    )
    write_results(out, results, demo_markdown(results, "convergence.png"))
    results["report"] = str(_html_report(out, cfg, tasks, histories, scores))
    return results


def _html_report(
    out: Path,
    cfg: TrainConfig,
    tasks: dict[str, Task],
    histories: dict[str, dict[str, list[dict]]],
    scores: dict[str, dict[str, Scores]],
) -> Path:
    """``out/report.html`` with the inputs it is rendered from (run.json, curves.csv, evaluation/)."""
    featured = list_methods(group="paper")[0]
    write_summary(
        out,
        kind="demo",
        title="noisereg demo: noise regularization on real digit images",
        settings=cfg.to_dict(),
        data=[data_summary(n, t.train, test=t.test, noise=t.noise) for n, t in tasks.items()],
        metric_of={n: "top1" if t.single_label else "mAP" for n, t in tasks.items()},
    )
    write_curves(out, histories)
    for name, task in tasks.items():
        write_evaluation(out, name, task.test, scores[name], featured=featured, split="test")
    return write_report(out)
