"""Why does (or doesn't) the paper's method beat its peers on CIFAR-10N? What the residual net absorbs.

With the tuned values of a part (``--part worse``: human labels; ``--part annotated``: the machine
annotator's; from benchmarks/results/tune_<part>.csv), trains ``proposed``, ``glc`` and ``g-alone`` at
1% and 5% clean (seed 0) and measures, on the noisy training images (whose true labels are known but
training never sees):

- how often h = sigmoid(r + c) predicts the given noisy label, and g the true one, on the images whose
  noisy label is wrong (did the residual net absorb the noise and leave g the truth?);
- how far the noise model that h implies is from the true transition matrix, and how far GLC's
  estimate (from the clean set) is;
- how much of the noise one matrix per class can explain at all: how often the true matrix's most
  likely label for the image's class is the given one, against how often h, a function of the image,
  names the given label (noise that depends on the image, not only on its class, shows as a gap);
- per-class test top-1 of each method (where the methods differ).

Writes benchmarks/results/analysis[_<part>].csv and appends a table to RESULTS.md.

    python -m benchmarks.analyze_cifar10n [--part worse|annotated]
"""

from __future__ import annotations

import csv
import json

import numpy as np
import torch

from benchmarks.common import RESULTS_DIR, ResultsTable, write_block

METHODS = ("proposed", "glc", "g-alone")


def tuned_values(part: str) -> dict[str, dict]:
    """The values each method's tuning chose (the trial with the best validation score)."""
    rows = list(csv.DictReader(open(RESULTS_DIR / f"tune_{part}.csv")))
    out = {}
    for m in METHODS:
        best = max((r for r in rows if r["method"] == m), key=lambda r: float(r["value"]))
        out[m] = {
            k: (int(float(v)) if k == "hidden" else float(v))
            for k, v in best.items()
            if k in ("lr", "weight_decay", "hidden", "alpha", "clean_ratio") and v != ""
        }
    return out


def main() -> None:
    import argparse

    from noisereg.config import TrainConfig
    from noisereg.data.sources.cifar_n import CIFAR10_CLASSES
    from noisereg.tasks.cifar10n import cifar10n_builder
    from noisereg.train import evaluate, fit, predict_logits

    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="worse", choices=["worse", "annotated"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    part = args.part
    torch.set_num_threads(args.threads)
    build = cifar10n_builder(
        None,
        None,
        noise=part,
        multi_label=False,
        backbone="efficientnet-lite0",
        image_size=160,
        mosaics=0,
        cache_dir="runs/cache",
        device=torch.device("cpu"),
    )
    everything = build(0.05, 0).train
    true, given = everything.clean.argmax(1), everything.noisy.argmax(1)
    labelled = everything.noisy.any(1)  # the annotator leaves some images without a label
    t_true = np.zeros((10, 10))
    np.add.at(t_true, (true[labelled], given[labelled]), 1)
    t_true /= t_true.sum(1, keepdims=True)
    tuned, rows = tuned_values(part), []
    for fraction in (0.01, 0.05):
        task = build(fraction, 0)
        train, val, _ = task.holdout(0.2, 0)
        noisy_rows = train.noisy_indices
        wrong = given[noisy_rows] != true[noisy_rows]
        class_level = float((t_true.argmax(1)[true[noisy_rows]] == given[noisy_rows])[wrong].mean())
        for method in METHODS:
            cfg = TrainConfig(
                method=method,
                scheme="frozen",
                backbone_steps=0,
                epochs=20,
                batch_size=128,
                patience=4,
                quiet=True,
                **tuned[method],
            )
            r = fit(train, cfg, eval_set=val)
            out = predict_logits(
                r.model, np.asarray(train.images)[noisy_rows], r.preprocess, device=torch.device("cpu")
            )
            g = out["logits"].argmax(1).numpy()
            test = evaluate(r.model, task.test, r.preprocess, device=torch.device("cpu"))
            test_logits = predict_logits(r.model, task.test.images, r.preprocess, device=torch.device("cpu"))["logits"]
            y_test = task.test.clean.argmax(1)
            per_class = [float((test_logits.argmax(1).numpy() == y_test)[y_test == k].mean()) for k in range(10)]
            row = {
                "part": part,
                "clean_fraction": fraction,
                "method": method,
                "test_top1": round(test["top1"], 4),
                "g_true_on_wrong": round(float((g == true[noisy_rows])[wrong].mean()), 4),
                "g_given_on_wrong": round(float((g == given[noisy_rows])[wrong].mean()), 4),
                "g_true_on_right": round(float((g == true[noisy_rows])[~wrong].mean()), 4),
                "class_matrix_given_on_wrong": round(class_level, 4),
            }
            if "h_logits" in out:
                h = out["h_logits"].argmax(1).numpy()
                probs = torch.sigmoid(out["h_logits"]).numpy()
                probs /= probs.sum(1, keepdims=True)
                t_h = np.stack([probs[true[noisy_rows] == k].mean(0) for k in range(10)])
                row.update(
                    h_given_on_wrong=round(float((h == given[noisy_rows])[wrong].mean()), 4),
                    h_true_on_wrong=round(float((h == true[noisy_rows])[wrong].mean()), 4),
                    t_from_h_error=round(float(np.abs(t_h - t_true).sum(1).mean() / 2), 4),
                )
            transition = getattr(r.model.method, "transition", None)
            if transition is not None and method == "glc":
                row["t_glc_error"] = round(float(np.abs(transition.numpy() - t_true).sum(1).mean() / 2), 4)
            row.update({f"top1_{c}": round(v, 4) for c, v in zip(CIFAR10_CLASSES, per_class)})
            rows.append(row)
            print(json.dumps(row), flush=True)
    columns = tuple(dict.fromkeys(k for r in rows for k in r))
    ResultsTable(RESULTS_DIR / ("analysis.csv" if part == "worse" else f"analysis_{part}.csv"), columns).write(rows)
    head = (
        "| clean | method | test top-1 | g true on wrong labels | g = given on wrong | h = given on wrong | "
        "h true on wrong | T from h: total-variation error | GLC's T: total-variation error | one matrix per "
        "class: given on wrong |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    body = "\n".join(
        f"| {r['clean_fraction']:g} | {r['method']} | {100 * r['test_top1']:.1f} | "
        f"{100 * r['g_true_on_wrong']:.1f} | {100 * r['g_given_on_wrong']:.1f} | "
        + " | ".join(
            f"{100 * r[k]:.1f}" if k in r else "-"
            for k in (
                "h_given_on_wrong",
                "h_true_on_wrong",
                "t_from_h_error",
                "t_glc_error",
                "class_matrix_given_on_wrong",
            )
        )
        + " |"
        for r in rows
    )
    classes = (
        "| clean | method | "
        + " | ".join(CIFAR10_CLASSES)
        + " |\n|---:|---|"
        + "---:|" * 10
        + "\n"
        + "\n".join(
            f"| {r['clean_fraction']:g} | {r['method']} | "
            + " | ".join(f"{100 * r[f'top1_{c}']:.1f}" for c in CIFAR10_CLASSES)
            + " |"
            for r in rows
        )
    )
    write_block(f"analysis-{part}", head + "\n" + body, "Per-class test top-1:\n\n" + classes)


if __name__ == "__main__":
    main()
