"""The built-in demo: the paper's method and its ablations on real digit images, no download.

Runs ``proposed``, ``noisy``, ``g-alone`` and ``h-alone`` on a single-label task (end-to-end scheme,
as the paper does for single-label data) and a multi-label task (frozen scheme: Backbone (Noisy)
first, then the heads on its cached features), then writes results.json, report.md and a plot.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import torch

from .config import TrainConfig
from .distributed import resolve_device
from .methods import get_method_spec, list_methods
from .report import pct, plot_convergence, results_table, write_results
from .tasks.base import Task
from .tasks.digits import digits_multi_label, digits_single_label
from .train import Classifier, evaluate, fit


def demo_methods() -> tuple[str, ...]:
    """The paper's method, its ablations and Backbone (Noisy), as the registry names them."""
    return tuple(m for m in list_methods() if get_method_spec(m).group in ("paper", "ablation")
                 or get_method_spec(m).is_backbone_noisy)


def demo_configs(*, steps: int = 500, seed: int = 0, quiet: bool = False) -> dict[str, TrainConfig]:
    """The demo's per-task settings (paper defaults: alpha 0.2, 1:9 batches of 32, Adam)."""
    common = dict(backbone="small-cnn", hidden=128, lr=1e-3, alpha=0.2, batch_size=32, seed=seed,
                  quiet=quiet, eval_every=max(1, steps // 20), device="auto")
    return {"single-label": TrainConfig(scheme="end-to-end", image_size=8, steps=steps, **common),
            "multi-label": TrainConfig(scheme="frozen", image_size=16, steps=steps, backbone_steps=steps, **common)}


def run_task(task: Task, cfg: TrainConfig, methods: Optional[tuple[str, ...]] = None) -> dict[str, Any]:
    """Train every method on ``task`` and evaluate g (and h for ``proposed``) on its test set.

    With the frozen scheme one Backbone (Noisy) is trained first and shared by all methods; their
    histories are then offset by its steps, so the curves show the whole training.
    """
    device = resolve_device(cfg.device)
    stage_one: Optional[Classifier] = None
    out: dict[str, Any] = {"methods": {}, "histories": {}, "seconds": {}}
    shown = methods = methods or demo_methods()
    if cfg.scheme == "frozen":  # stage one is Backbone (Noisy) itself: train it first, share it
        methods = tuple(sorted(methods, key=lambda m: not get_method_spec(m).is_backbone_noisy))
    for name in methods:
        start = time.perf_counter()
        result = fit(task.train, cfg.replace(method=name), eval_set=task.test, stage_one=stage_one)
        if cfg.scheme == "frozen" and stage_one is None:
            stage_one = result.stage_one
        metrics = evaluate(result.model, task.test, result.preprocess, device=device)
        if get_method_spec(name).group == "paper":
            metrics["h"] = evaluate(result.model, task.test, result.preprocess, device=device, which="h_logits")
        out["methods"][name] = metrics
        offset = cfg.backbone_steps if cfg.scheme == "frozen" and not get_method_spec(name).is_backbone_noisy else 0
        out["histories"][name] = [{**r, "x": r["step"] + offset} for r in result.history]
        out["seconds"][name] = round(time.perf_counter() - start, 2)
    out["methods"] = {m: out["methods"][m] for m in shown if m in out["methods"]}
    return out


def _reading(tasks: dict[str, Any]) -> list[str]:
    """Plain sentences comparing ``proposed`` with each other method, computed from the results."""
    lines = []
    for task, res in tasks.items():
        proposed = list_methods(group="paper")[0]
        mine = res["methods"][proposed]
        for metric in ["top1"] if res["single_label"] else ["mAP", "AP_all", "top1"]:
            diffs = ", ".join(f"{other} {100 * (mine[metric] - m[metric]):+.1f}"
                              for other, m in res["methods"].items() if other != proposed)
            lines.append(f"- {task} {metric}: proposed {pct(mine[metric]).strip()}%; "
                         f"proposed minus {diffs} points.")
        h = mine.get("h", {})
        if h:
            lines.append(f"- {task}: h = sigmoid(r + c), which fits the noisy labels, scores top-1 "
                         f"{pct(h['top1']).strip()}% against the clean test labels (g: {pct(mine['top1']).strip()}%).")
    return lines


def _noise_text(task: dict[str, Any]) -> str:
    n = task["noise"]
    if task["single_label"]:
        return f"{100 * n['image']:.1f}% of noisy labels wrong (class-dependent flips)"
    return (f"{100 * n['image']:.1f}% of images with a wrong label set, {100 * n['missing']:.1f}% of true labels "
            f"missing, {100 * n['spurious']:.1f}% of noisy labels spurious")


def _markdown(results: dict[str, Any], plot_name: str) -> str:
    parts = ["# noisereg demo: noise regularization on real digit images", "",
             "Test-set scores of the classifier g = sigmoid(c), in %, final step, no early stopping.", "",
             results_table(results), ""]
    for name, task in results["tasks"].items():
        noise = _noise_text(task)
        parts.append(f"- **{name}** ({task['scheme']} scheme): {task['n_clean']} clean + {task['n_noisy']} noisy "
                     f"training images, {task['n_test']} test images; measured noise on D_n: {noise}.")
    parts += ["", "## Reading", "", *_reading(results["tasks"]), "",
              f"![convergence]({plot_name})", "",
              f"Total time: {results['seconds']:.0f} s on {results['device']}.", ""]
    return "\n".join(parts)


def run_demo(out: str | Path = "runs/demo", *, steps: int = 500, seed: int = 0, quiet: bool = False,
             tasks: Optional[dict[str, Task]] = None) -> dict[str, Any]:
    """Run the demo and write ``out/results.json``, ``out/report.md`` and ``out/convergence.png``."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    configs = demo_configs(steps=steps, seed=seed, quiet=quiet)
    tasks = tasks or {"single-label": digits_single_label(seed=seed), "multi-label": digits_multi_label(seed=seed)}
    results: dict[str, Any] = {"tasks": {}, "config": {k: c.to_dict() for k, c in configs.items()}}
    histories = {}
    for name, task in tasks.items():
        res = run_task(task, configs[name])
        histories[name] = res.pop("histories")
        results["tasks"][name] = {**res, "single_label": task.single_label, "scheme": configs[name].scheme,
                                  "noise": task.noise, "n_clean": int(task.train.has_clean.sum()),
                                  "n_noisy": int(task.train.has_noisy.sum()), "n_test": len(task.test)}
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["device"] = str(resolve_device(configs["single-label"].device))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_convergence(histories, out / "convergence.png",
                     {n: "top1" if t.single_label else "mAP" for n, t in tasks.items()})
    write_results(out, results, _markdown(results, "convergence.png"))
    return results
