"""What the residual net absorbs on real photos labelled by a machine (the ``voc`` part of bench_cifar10n.py).

With each method's tuned values (``results/tune_voc.csv``), trains ``proposed``, ``mixed``, ``noisy`` and
``g-alone`` at the given clean fractions (seed 0, the grid's validation) and measures, on the noisy training
photos (whose true labels are known to this script, never to training), entry by entry (photo x class):

- missing entries (a true class the annotator did not name) and spurious ones (a class it named wrongly):
  how often h = sigmoid(r + c) reproduces the given label (> 0.5 or not) and how often g, the final
  classifier, gives the truth; the same for the other methods' g;
- the right entries: how often g keeps them;
- per class: the measured missing and spurious rates of the annotator and each method's test AP.

Writes ``results/analysis_voc.csv`` (rendered by make_results.py).

    python -m benchmarks.analyze_voc [--fractions 0.02,0.05]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from benchmarks.common import RESULTS_DIR, ResultsTable

METHODS = ("proposed", "mixed", "noisy", "g-alone")


def entry_rates(prob: np.ndarray, truth: np.ndarray, given: np.ndarray) -> dict[str, float]:
    """On the wrong entries, how often ``prob`` (> 0.5) says the truth and how often the given label; on the
    right ones, how often it keeps them."""
    says = prob > 0.5
    missing, spurious = (truth == 1) & (given == 0), (truth == 0) & (given == 1)
    right = truth == given
    return {
        "true_on_missing": float(says[missing].mean()),
        "true_on_spurious": float((~says)[spurious].mean()),
        "kept_right": float((says == (truth == 1))[right].mean()),
    }


def main() -> None:
    from benchmarks.bench_cifar10n import tuned_in_table
    from benchmarks.parts import get_part
    from noisereg.config import TrainConfig
    from noisereg.experiment import ExperimentConfig
    from noisereg.metrics import average_precision_per_class, mean_average_precision
    from noisereg.tasks import TASKS
    from noisereg.train import fit, predict_logits

    ap = argparse.ArgumentParser()
    ap.add_argument("--fractions", default="0.02,0.05")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-dir", default="runs/cache")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    voc = get_part("voc")
    exp = ExperimentConfig(
        data=voc.data, feature_image_size=voc.image_size, cache_dir=args.cache_dir, out="runs/analysis-voc"
    )
    build = TASKS[voc.data].builder(exp, cpu)
    tuned = tuned_in_table(RESULTS_DIR / "tune_voc.csv")
    rows = []
    for fraction in (float(f) for f in args.fractions.split(",")):
        task = build(fraction, 0)
        train, val, _ = task.holdout(0.2, 0)
        noisy = np.flatnonzero(train.has_noisy & ~train.has_clean)
        feats = np.asarray(train.images, np.float32)[noisy]
        truth, given = train.clean[noisy], train.noisy[noisy]
        test_y = np.asarray(task.test.clean)
        for method in METHODS:
            cfg = TrainConfig(
                method=method,
                scheme="frozen",
                backbone_steps=0,
                quiet=True,
                seed=0,
                **{**get_part("voc").train, **tuned.get(method, {})},
            )
            r = fit(train, cfg, eval_set=val)
            out = predict_logits(r.model, feats, r.preprocess, device=cpu)
            test_logits = predict_logits(r.model, task.test.images, r.preprocess, device=cpu)["logits"]
            test_g = torch.sigmoid(test_logits).numpy()
            row = {
                "clean_fraction": fraction,
                "method": method,
                "test_mAP": mean_average_precision(test_g, test_y),
                **{f"g_{k}": v for k, v in entry_rates(torch.sigmoid(out["logits"]).numpy(), truth, given).items()},
            }
            if method == "proposed":  # the residual net's h (the others' h, where they have one, is untrained)
                h = torch.sigmoid(out["h_logits"]).numpy() > 0.5
                row.update(
                    h_given_on_missing=float((~h)[(truth == 1) & (given == 0)].mean()),
                    h_given_on_spurious=float(h[(truth == 0) & (given == 1)].mean()),
                )
            ap_k = average_precision_per_class(test_g, test_y)
            row.update({f"ap_{c}": float(a) for c, a in zip(task.train.classes, ap_k)})
            row.update(
                {
                    f"missing_{c}": float(((truth[:, k] == 1) & (given[:, k] == 0)).sum() / max(1, truth[:, k].sum()))
                    for k, c in enumerate(task.train.classes)
                }
            )
            row.update(
                {
                    f"spurious_{c}": float(((truth[:, k] == 0) & (given[:, k] == 1)).sum() / max(1, given[:, k].sum()))
                    for k, c in enumerate(task.train.classes)
                }
            )
            rows.append({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
            print(
                json.dumps({k: v for k, v in rows[-1].items() if not k.startswith(("ap_", "missing_", "spurious_"))}),
                flush=True,
            )
    ResultsTable(RESULTS_DIR / "analysis_voc.csv", tuple(dict.fromkeys(k for r in rows for k in r))).write(rows)


if __name__ == "__main__":
    main()
