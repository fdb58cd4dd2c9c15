"""Subcommands that train or use a classifier: demo, train, evaluate, predict, experiment, methods."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import UserError
from ..options import add_flags, flag_values

# TrainConfig fields an experiment sets per run (the grid's own flags name them in the plural)
PER_RUN = ("method", "seed", "activation", "cache_dir")


def add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", required=True, help="CSV (or .jsonl) with columns path,noisy,clean,split[,verified]")
    p.add_argument("--image-root", help="folder the manifest's paths are relative to (default: its folder)")
    p.add_argument("--features", help="precomputed features (.npy or .safetensors, one row per manifest row): "
                   "the heads train on them directly and --manifest only gives labels")


def open_manifest(args: argparse.Namespace, classes: Optional[Sequence[str]] = None):
    """The manifest as a ``LabelTable``, read once per command (over --features when given)."""
    if args.features:
        from ..data.embeddings import features_table
        return features_table(args.features, args.manifest, classes=classes)
    from ..data.manifest import read_table
    return read_table(args.manifest, image_root=args.image_root, classes=classes)


def split_of(table: Any, split: str, args: argparse.Namespace):
    """One split of the table as a ``LabelledSet``, its image files checked."""
    from ..data.files import check_images
    if not table.split_mask(split).any():
        raise UserError(f"{args.manifest}: no rows with split '{split}'")
    data = table.to_labelled_set(split)
    if not data.holds_arrays:
        check_images(data.images, what=str(args.manifest))
    return data


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import label_issue_lines, run_demo
    from ..report import results_table
    results = run_demo(args.out, epochs=args.epochs, seed=args.seed, quiet=args.quiet)
    print(results_table(results))
    print("\nwrong training labels found by proposed:\n" + "\n".join(label_issue_lines(results)))
    print(f"\nwrote {Path(args.out) / 'results.json'}, {Path(args.out) / 'report.md'} "
          f"({results['seconds']:.0f} s on {results['device']})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from ..config import TrainConfig, load_config
    from ..distributed import init_from_env, shutdown
    cfg = load_config(args.config, quiet=args.quiet or None, **flag_values(args, TrainConfig))
    ctx = init_from_env(cfg.device)  # joins the torchrun job, if any
    try:
        return _train(args, cfg, ctx.is_main)
    finally:
        shutdown()


def train_and_val(args: argparse.Namespace):
    """The manifest's train split and its val split (None when it has no clean-labelled val rows: ``fit``
    then holds out a share of the clean set)."""
    table = open_manifest(args)
    train = split_of(table, "train", args)
    val = split_of(table, "val", args) if "val" in table.splits() else None
    return train, (val if val is not None and val.has_clean.any() else None)


def _train(args: argparse.Namespace, cfg: Any, is_main: bool) -> int:
    from ..distributed import resolve_device
    from ..train import evaluate, fit
    train, val = train_and_val(args)
    result = fit(train, cfg, eval_set=val, out=args.out, resume=args.resume)
    scores = None
    if val is not None:  # every rank takes part: the ranks score blocks of the val split
        device = resolve_device(cfg.device)
        scores = evaluate(result.model.to(device), val, result.preprocess, device=device)
    if is_main:
        print(f"trained '{cfg.method}' ({cfg.scheme}) on {int(train.has_clean.sum())} clean + "
              f"{int(train.has_noisy.sum())} noisy images; checkpoint in {args.out}")
        if scores is not None:
            print("val: " + format_scores(scores))
    return 0


def format_scores(scores: dict) -> str:
    return "  ".join(f"{k} {100 * scores[k]:.2f}" for k in ("mAP", "AP_all", "top1"))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..data.images import Preprocess
    from ..distributed import resolve_device
    from ..train import evaluate, load_classifier
    model, meta = load_classifier(args.checkpoint)
    data = split_of(open_manifest(args, classes=meta["classes"]), args.split, args)
    data.require(clean=True, noisy=False, where=f"{args.manifest} split '{args.split}' (evaluation needs clean labels)")
    pre, device = Preprocess.from_dict(meta["preprocess"]), resolve_device(args.device)
    scores = evaluate(model.to(device), data, pre, device=device)
    out = {k: scores[k] for k in ("mAP", "AP_all", "top1")}
    out.update(classes_skipped=scores["classes_skipped"], images=int(data.has_clean.sum()))
    if args.show_h:
        out["h"] = {k: v for k, v in evaluate(model, data, pre, device=device, which="h_logits").items()
                    if k in ("mAP", "AP_all", "top1")}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{args.split} ({out['images']} images): " + format_scores(out) +
              (f"  [{out['classes_skipped']} classes without positives left out of mAP]" if out["classes_skipped"] else ""))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import torch
    from ..data.images import Preprocess, image_to_tensor, load_image
    from ..train import load_classifier
    model, meta = load_classifier(args.checkpoint)
    pre, classes = Preprocess.from_dict(meta["preprocess"]), meta["classes"]
    k = min(args.top_k, len(classes))
    if k < 1:
        raise UserError(f"--top-k must be >= 1, got {args.top_k}")
    x = torch.stack([image_to_tensor(load_image(p, pre.channels), pre) for p in args.images])
    with torch.inference_mode():
        out = model(x)
    rows = []
    for i, path in enumerate(args.images):
        row = {"image": path, "g": _top(out["logits"][i], classes, k)}
        if args.show_h and "h_logits" in out:
            row["h"] = _top(out["h_logits"][i], classes, k)
        rows.append(row)
    if args.json:
        print(json.dumps(rows))
    for row in rows if not args.json else []:
        print(row["image"])
        for head in ("g", "h"):
            if head in row:
                print(f"  {head}: " + ", ".join(f"{c} {p:.3f}" for c, p in row[head]))
    return 0


def _top(logits: Any, classes: Sequence[str], k: int) -> list[tuple[str, float]]:
    import torch
    probs = torch.sigmoid(logits.float())
    top = torch.topk(probs, k)
    return [(classes[j], round(float(p), 4)) for p, j in zip(top.values, top.indices)]


def cmd_experiment(args: argparse.Namespace) -> int:
    from ..config import TrainConfig
    from ..experiment import ExperimentConfig, load_experiment, run_experiment
    exp = load_experiment(args.config, **flag_values(args, ExperimentConfig))
    exp.train = {**exp.train, **flag_values(args, TrainConfig, prefix="train__")}
    run_experiment(exp, quiet=args.quiet)
    print((Path(exp.out) / "table.md").read_text())
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from ..config import TrainConfig, load_config
    from ..data.labelset import split_validation
    from ..tune import tune_method, write_tuned
    base = load_config(args.config, quiet=True, **flag_values(args, TrainConfig))
    train, val = train_and_val(args)
    if val is None:
        train, val = split_validation(train, base.val_fraction, base.seed)
    results = {}
    for method in [m for m in args.methods.split(",") if m]:
        results[method] = r = tune_method(train, val, base, method, trials=args.trials, seed=base.seed,
                                          on_trial=None if args.quiet else lambda row: print(
                                              "  " + "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                               for k, v in row.items()), flush=True))
        print(f"{method}: best validation {r.value:.4f} with {r.params} ({args.trials} trials, {r.seconds:.0f} s)")
    print(f"wrote {write_tuned(args.out, results, base)}, {args.out}/tune.csv and one <method>.yaml per method")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from ..methods import get_method_spec, list_methods
    for name in list_methods():
        spec = get_method_spec(name)
        print(f"{name:10s} {spec.group:15s} {spec.description}")
    return 0


def add_commands(sub: Any) -> None:
    """The training subcommands, their flags generated from the config dataclasses."""
    from ..config import TrainConfig
    from ..experiment import ExperimentConfig
    p = sub.add_parser("demo", help="run the built-in demo on scikit-learn's digits (no download)")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--epochs", type=float, default=30, help="most passes over the noisy set per method (default 30; "
                   "early stopping usually ends sooner)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train on a manifest (train split; val split for monitoring)")
    add_data_options(p)
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--resume", action="store_true", help="continue the run whose checkpoint is in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--config", help="YAML file of TrainConfig fields (flags override it)")
    add_flags(p, TrainConfig)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="mAP, AP_all and top-1 of a checkpoint on a manifest split")
    p.add_argument("--checkpoint", required=True, help="folder written by `noisereg train`")
    add_data_options(p)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--json", action="store_true", help="print JSON with keys mAP, AP_all, top1")
    p.add_argument("--show-h", action="store_true", help="also score the noisy-label classifier h")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="top-k classes of images by g (and h with --show-h)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--show-h", action="store_true", help="also show h = sigmoid(r + c), the noisy-label view")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("experiment", help="a grid of methods x clean fractions x activations x seeds")
    p.add_argument("--config", help="YAML file of ExperimentConfig fields (flags override it)")
    add_flags(p, ExperimentConfig)
    group = p.add_argument_group("training options of every run (override the dataset's defaults)")
    add_flags(group, TrainConfig, skip=PER_RUN, prefix="train__")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("tune", help="search each method's hyper-parameters on validation, the same number of "
                       "trials for every method (Optuna)")
    add_data_options(p)
    p.add_argument("--methods", required=True, help="comma-separated method ids")
    p.add_argument("--trials", type=int, default=20, help="trials per method (default 20)")
    p.add_argument("--out", required=True, help="folder for tuned.json, tune.csv and <method>.yaml")
    p.add_argument("--quiet", action="store_true", help="no line per trial")
    p.add_argument("--config", help="YAML file of TrainConfig fields every trial starts from")
    add_flags(p, TrainConfig, skip=("method",))
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("methods", help="list the registered methods")
    p.set_defaults(func=cmd_methods)
