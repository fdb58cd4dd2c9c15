"""Subcommands that train or evaluate a classifier: demo, train, evaluate, experiment."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..options import add_flags, flag_values
from .limits import add_device_option, add_input_limits

# TrainConfig fields an experiment sets per run (the grid's own flags name them in the plural)
PER_RUN = ("method", "seed", "activation", "cache_dir")
# TrainConfig fields that need a run folder, which the runs of an experiment or a tuning do not have
NEEDS_FOLDER = ("tensorboard",)


def add_data_options(p: argparse.ArgumentParser) -> None:
    """--manifest (or image folders), --image-root, --features, --classes: the flags of the layouts read
    without --format (``IMPLICIT_LAYOUTS``), generated from their options."""
    from ..data.sources import IMPLICIT_LAYOUTS, add_layout_flags

    add_input_limits(p)
    add_layout_flags(p, IMPLICIT_LAYOUTS, format_required=None, skip=("check_images",))


def open_manifest(args: argparse.Namespace, classes: Sequence[str] | None = None):
    """The manifest, the features or the image folders (``guess_layout``) as a ``LabelTable``, read once per
    command by ``open_dataset``; ``classes`` (a checkpoint's) or --classes fixes the class list. The image files
    are checked per split, where they are used (``split_of``)."""
    from ..data.classes import read_classes, warn_look_alike_classes
    from ..data.sources import IMPLICIT_LAYOUTS, guess_layout, layout_fields, layout_values, open_dataset

    fixed = classes if classes is not None else read_classes(args.classes) if getattr(args, "classes", None) else None
    given = {k: v for name in IMPLICIT_LAYOUTS for k, v in layout_values(args, name).items()}
    layout = guess_layout(given)
    values = layout_values(args, layout)
    if "check_images" in layout_fields(layout):
        values["check_images"] = False
    table = open_dataset(layout, classes=fixed, **values)
    if fixed is None:  # the classes are the names the data uses: a typo becomes a class, said before any work
        warn_look_alike_classes(table.classes, table.source)
    return table


def split_of(table: Any, split: str):
    """One split of the table as a ``LabelledSet``, its image files checked."""
    from ..data.files import check_images

    if not table.split_mask(split).any():
        raise UserError(
            f"{table.source}: no rows with split '{split}'"
            + (f" (give --{split}-dir)" if split in ("val", "test") and "+" in table.source else "")
        )
    data = table.to_labelled_set(split)
    if not data.holds_arrays:
        check_images(data.images, what=table.source)
    return data


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    from ..report import results_table
    from ..report.demo import label_issue_lines

    results = run_demo(args.out, epochs=args.epochs, seed=args.seed, quiet=args.quiet)
    print(results_table(results))
    print("\nwrong training labels found by proposed:\n" + "\n".join(label_issue_lines(results)))
    print(
        f"\nwrote {Path(args.out) / 'results.json'}, {Path(args.out) / 'report.md'} "
        f"({results['seconds']:.0f} s on {results['device']})"
    )
    print(f"report: {results['report']}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from ..distributed import init_from_env, shutdown

    cfg = train_config(args)
    if cfg.tensorboard:  # only training needs the package: checked here, before any work
        from ..train.log import require_tensorboard

        require_tensorboard()
    ctx = init_from_env(cfg.device)  # joins the torchrun job, if any
    try:
        data = train_and_val(args, cfg)  # bad input is refused (or skipped) before --out is created or locked
        if not ctx.is_main:
            return _train(args, cfg, data)
        from ..checkpoint import has_checkpoint
        from ..safe_io import OutputLock, undo_on_refusal  # a refused run leaves --out as it found it:

        with undo_on_refusal(args.out, lambda p: args.resume or has_checkpoint(p)), OutputLock(args.out):
            return _train(args, cfg, data)
    finally:
        shutdown()


def train_config(args: argparse.Namespace) -> Any:
    """The run's ``TrainConfig``: defaults, --config, then flags; with --resume the checkpoint's own config
    updated by the flags given (a flag that changes the result is then refused by ``fit``)."""
    from ..config import TrainConfig, load_config
    from ..options import from_mapping, read_yaml_mapping

    flags = {**flag_values(args, TrainConfig), **({"quiet": True} if args.quiet else {})}
    if not args.resume:
        return load_config(args.config, **flags)
    from ..train.resume import saved_config

    data = {**saved_config(args.out), **(read_yaml_mapping(args.config) if args.config else {}), **flags}
    return from_mapping(TrainConfig, data, where=f"--resume {args.out}")


def train_and_val(args: argparse.Namespace, cfg: Any = None):
    """The manifest's train split and its val split (None when it has no clean-labelled val rows: ``fit``
    then holds out a share of the clean set), without the images that do not decode if ``cfg.skip_unreadable``."""
    from ..data.decode import drop_unreadable

    table = open_manifest(args)
    train = split_of(table, "train")
    val = split_of(table, "val") if "val" in table.splits() else None
    return drop_unreadable(train, val if val is not None and val.has_clean.any() else None, cfg)


def _train(args: argparse.Namespace, cfg: Any, data: tuple) -> int:
    """One library call (``pipeline.train_run``): tune, fit, score validation, label issues, report."""
    from ..pipeline import train_run

    train, val = data
    source = (
        None
        if not args.manifest
        else {  # image folders (--noisy-dir ...) have no one manifest
            "manifest": str(args.manifest),
            "features": args.features,
            "image_root": str(args.image_root or Path(args.manifest).parent),
            "allow_outside_root": bool(getattr(args, "allow_outside_root", False)),
        }
    )
    train_run(
        train,
        cfg,
        eval_set=val,
        out=args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        source=source,
        quiet=args.quiet,
        say=lambda line: print(line, flush=True),
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..data.classes import short_list
    from ..distributed import init_from_env, shutdown
    from ..metrics import format_scores

    ctx = init_from_env(args.device)  # under torchrun the ranks score blocks of the split
    try:
        out = _evaluate(args)
        if ctx.is_main:  # one report, from rank 0
            print(
                json.dumps(out)
                if args.json
                else f"{args.split} ({out['images']} images): "
                + format_scores(out)
                + (
                    f"  [{out['classes_skipped']} classes without positives left out of mAP: "
                    f"{short_list(out['classes_without_positives'])}]"
                    if out["classes_skipped"]
                    else ""
                )
            )
        return 0
    finally:
        shutdown()


def _evaluate(args: argparse.Namespace) -> dict:
    from ..data.images import Preprocess
    from ..distributed import resolve_device
    from ..train import evaluate, load_classifier

    model, meta = load_classifier(args.checkpoint)
    data = split_of(open_manifest(args, classes=meta["classes"]), args.split)
    data.require(clean=True, noisy=False, where=f"split '{args.split}' (evaluation needs clean labels)")
    if data.holds_features and data.images.shape[1] != int(meta["feature_dim"]):
        raise UserError(
            f"{args.features}: {data.images.shape[1]} features per row, the checkpoint "
            f"{args.checkpoint} was trained on {meta['feature_dim']}"
        )
    pre, device = Preprocess.from_dict(meta["preprocess"]), resolve_device(args.device)
    scores = evaluate(model.to(device), data, pre, device=device)
    out = {k: scores[k] for k in ("mAP", "AP_all", "top1")}
    out.update(
        classes_skipped=scores["classes_skipped"],
        images=int(data.has_clean.sum()),
        classes_without_positives=classes_without_positives(data),
    )
    if args.show_h:
        out["h"] = {
            k: v
            for k, v in evaluate(model, data, pre, device=device, which="h_logits").items()
            if k in ("mAP", "AP_all", "top1")
        }
    return out


def classes_without_positives(data: Any) -> list[str]:
    """The names of the classes no clean label of ``data`` holds (mAP leaves them out)."""
    import numpy as np

    positives = np.asarray(abs(data.clean[data.clean_indices]).sum(axis=0)).ravel()
    return [data.classes[k] for k in np.flatnonzero(positives == 0)]


def cmd_experiment(args: argparse.Namespace) -> int:
    from ..config import TrainConfig
    from ..experiment import ExperimentConfig, load_experiment, run_experiment

    exp = load_experiment(args.config, **flag_values(args, ExperimentConfig))
    exp.train = {**exp.train, **flag_values(args, TrainConfig, prefix="train__")}
    run_experiment(exp, quiet=args.quiet)
    print((Path(exp.out) / "table.md").read_text())
    print(f"report: {Path(exp.out) / 'report.html'}")
    return 0


def add_commands(sub: Any) -> None:
    """The training subcommands, their flags generated from the config dataclasses."""
    from ..config import TrainConfig
    from ..experiment import ExperimentConfig

    p = sub.add_parser("demo", help="run the built-in demo on scikit-learn's digits (no download)")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument(
        "--epochs",
        type=float,
        default=30,
        help="most passes over the noisy set per method (default 30; early stopping usually ends sooner)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "train",
        help="train on a manifest or image folders (train split; val split or a share of the clean set for validation)",
    )
    add_data_options(p)
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run whose newest complete checkpoint is in "
        "--out, with its recorded options (flags that change the result are refused)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in --out (otherwise refused)")
    p.add_argument("--quiet", action="store_true", help="no progress output and no evaluation lines")
    p.add_argument("--config", help="YAML file of TrainConfig fields (flags override it)")
    add_flags(p, TrainConfig)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="mAP, AP_all and top-1 of a checkpoint on a manifest split or --test-dir")
    p.add_argument("--checkpoint", required=True, help="folder written by `noisereg train`")
    add_data_options(p)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--json", action="store_true", help="print JSON with keys mAP, AP_all, top1")
    p.add_argument("--show-h", action="store_true", help="also score the noisy-label classifier h")
    add_device_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("experiment", help="a grid of methods x clean fractions x activations x seeds")
    p.add_argument("--config", help="YAML file of ExperimentConfig fields (flags override it)")
    add_flags(p, ExperimentConfig)
    add_input_limits(p)
    group = p.add_argument_group("training options of every run (override the dataset's defaults)")
    add_flags(group, TrainConfig, skip=PER_RUN + NEEDS_FOLDER + ("tune_trials",), prefix="train__")
    p.add_argument("--quiet", action="store_true", help="no line per run")
    p.set_defaults(func=cmd_experiment)
