"""Command line: ``noisereg demo | train | evaluate | predict | experiment | methods | data | protocol``.

One parser and one small function per subcommand, each calling one library function. User
errors print one line (``noisereg: error: ...``) and exit with code 2, without a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from .errors import TrainingDiverged, UserError


def _add_train_options(p: argparse.ArgumentParser) -> None:
    """Flags that override TrainConfig fields (None = keep the YAML/default value)."""
    import dataclasses
    from types import SimpleNamespace
    from .config import TrainConfig
    # the defaults, read without building (and validating) a config, which would import torch
    d = SimpleNamespace(**{f.name: f.default for f in dataclasses.fields(TrainConfig)})
    p.add_argument("--config", help="YAML file of TrainConfig fields (flags override it)")
    p.add_argument("--method", help=f"method id (default {d.method}; see `noisereg methods`)")
    p.add_argument("--scheme", choices=["frozen", "end-to-end"], help=f"training scheme (default {d.scheme})")
    p.add_argument("--backbone", help=f"backbone name (default {d.backbone}): small-cnn, efficientnet-lite0, "
                   "a torchvision name such as resnet50, or timm/NAME")
    p.add_argument("--weights", help="local backbone weight file (.safetensors or tensor-only .pth)")
    p.add_argument("--no-pretrained", dest="pretrained", action="store_const", const=False,
                   help="do not load ImageNet weights")
    p.add_argument("--image-size", type=int, help="input side in pixels (default: the backbone's)")
    p.add_argument("--activation", choices=["sigmoid", "tanh", "relu"], help=f"head activation (default {d.activation})")
    p.add_argument("--hidden", type=int, help=f"hidden width of the heads (default {d.hidden})")
    p.add_argument("--alpha", type=float, help=f"weight of L_clean (default {d.alpha})")
    p.add_argument("--clean-ratio", type=float, help=f"clean share of each batch (default {d.clean_ratio} = 1:9)")
    p.add_argument("--steps", type=int, help=f"training steps (default {d.steps})")
    p.add_argument("--epochs", type=float, help="passes over the noisy set (overrides --steps)")
    p.add_argument("--backbone-steps", type=int, help=f"frozen scheme: Backbone (Noisy) steps (default {d.backbone_steps})")
    p.add_argument("--batch-size", type=int, help=f"batch size (default {d.batch_size})")
    p.add_argument("--optimizer", choices=["adam", "rmsprop"], help=f"optimizer (default {d.optimizer})")
    p.add_argument("--lr", type=float, help=f"learning rate (default {d.lr})")
    p.add_argument("--backbone-lr", type=float, help="backbone learning rate (default: --lr)")
    p.add_argument("--lr-decay", type=float, help="multiply the learning rate by this every --decay-every steps")
    p.add_argument("--decay-every", type=int, help="steps between learning-rate decays (0 = never)")
    p.add_argument("--weight-decay", type=float, help="L2 penalty")
    p.add_argument("--seed", type=int, help=f"random seed (default {d.seed})")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device (default auto)")
    p.add_argument("--eval-every", type=int, help="evaluate on the val split every N steps (0 = at the end only)")
    p.add_argument("--save-every", type=int, help="checkpoint every N steps (0 = at the end only)")
    p.add_argument("--num-workers", type=int, help="DataLoader workers for images")
    p.add_argument("--no-amp", dest="amp", action="store_const", const=False, help="no mixed precision on CUDA")
    p.add_argument("--amp-dtype", choices=["bfloat16", "float16"], help="autocast dtype on CUDA (default bfloat16)")
    p.add_argument("--compile", action="store_const", const=True, help="torch.compile the trained module")
    p.add_argument("--cache-dir", help="frozen scheme: folder of the reusable float16 feature cache")


CONFIG_FLAGS = ("method", "scheme", "backbone", "weights", "pretrained", "image_size", "activation", "hidden",
                "alpha", "clean_ratio", "steps", "epochs", "backbone_steps", "batch_size", "optimizer", "lr",
                "backbone_lr", "lr_decay", "decay_every", "weight_decay", "seed", "device", "eval_every",
                "save_every", "num_workers", "cache_dir", "amp", "amp_dtype", "compile")


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", required=True, help="CSV (or .jsonl) with columns path,noisy,clean,split[,verified]")
    p.add_argument("--image-root", help="folder the manifest's paths are relative to (default: its folder)")
    p.add_argument("--features", help="precomputed features (.npy or .safetensors, one row per manifest row): "
                   "the heads train on them directly and --manifest only gives labels")


def _read_split(args: argparse.Namespace, split: str, classes=None):
    """One split of the manifest (over precomputed features when --features is given)."""
    from .data.manifest import read_features, read_manifest
    if getattr(args, "features", None):
        return read_features(args.features, args.manifest, split=split, classes=classes)
    return read_manifest(args.manifest, split=split, image_root=args.image_root, classes=classes)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    from .report import results_table
    results = run_demo(args.out, steps=args.steps, seed=args.seed, quiet=args.quiet)
    print(results_table(results))
    print(f"\nwrote {Path(args.out) / 'results.json'}, {Path(args.out) / 'report.md'} "
          f"({results['seconds']:.0f} s on {results['device']})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .distributed import init_from_env, shutdown
    cfg = load_config(args.config, quiet=args.quiet or None, **{k: getattr(args, k) for k in CONFIG_FLAGS})
    ctx = init_from_env(cfg.device)  # joins the torchrun job, if any
    try:
        return _train(args, cfg, ctx.is_main)
    finally:
        shutdown()


def _train(args: argparse.Namespace, cfg, is_main: bool) -> int:
    from .data.manifest import manifest_splits
    from .trainer import evaluate, fit, resolve_device
    train = _read_split(args, "train")
    val = None
    if "val" in manifest_splits(args.manifest):
        val = _read_split(args, "val", classes=train.classes)
        val = val if val.has_clean.any() else None
    result = fit(train, cfg, eval_set=val, out=args.out, resume=args.resume)
    scores = None
    if val is not None:  # every rank takes part: the ranks score blocks of the val split
        device = resolve_device(cfg.device)
        scores = evaluate(result.model.to(device), val, result.preprocess, device=device)
    if is_main:
        print(f"trained '{cfg.method}' ({cfg.scheme}) on {int(train.has_clean.sum())} clean + "
              f"{int(train.has_noisy.sum())} noisy images; checkpoint in {args.out}")
        if scores is not None:
            print("val: " + _format_scores(scores))
    return 0


def _format_scores(scores: dict) -> str:
    return "  ".join(f"{k} {100 * scores[k]:.2f}" for k in ("mAP", "AP_all", "top1"))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .models.backbones import Preprocess
    from .trainer import evaluate, load_classifier, resolve_device
    model, meta = load_classifier(args.checkpoint)
    data = _read_split(args, args.split, classes=meta["classes"])
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
        print(f"{args.split} ({out['images']} images): " + _format_scores(out) +
              (f"  [{out['classes_skipped']} classes without positives left out of mAP]" if out["classes_skipped"] else ""))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import torch
    from .data.images import image_to_tensor, load_image
    from .models.backbones import Preprocess
    from .trainer import load_classifier
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


def _top(logits, classes: Sequence[str], k: int) -> list[tuple[str, float]]:
    import torch
    probs = torch.sigmoid(logits.float())
    top = torch.topk(probs, k)
    return [(classes[j], round(float(p), 4)) for p, j in zip(top.values, top.indices)]


def cmd_experiment(args: argparse.Namespace) -> int:
    from .experiment import load_experiment, run_experiment
    split = lambda v, kind: None if v is None else [kind(x) for x in v.split(",") if x]  # noqa: E731
    train = {k: v for k, v in (("steps", args.steps), ("scheme", args.scheme)) if v is not None}
    exp = load_experiment(args.config, data=args.data, noise=args.noise, methods=split(args.methods, str),
                          clean_fractions=split(args.clean_fractions, float), activations=split(args.activations, str),
                          seeds=args.seeds, out=args.out, data_root=args.data_root, labels=args.labels,
                          manifest=args.manifest,
                          cache_dir=args.cache_dir)
    exp.train = {**exp.train, **train}
    run_experiment(exp, quiet=args.quiet)
    print((Path(exp.out) / "table.md").read_text())
    return 0


def _source_options(args: argparse.Namespace):
    from .data.sources import SourceOptions
    return SourceOptions(format=args.format, root=args.root, manifest=args.manifest, labels=args.labels,
                         noise=args.noise, features=args.features, images=args.images, names=args.names,
                         subsets=args.subsets.split(",") if args.subsets else None, download=args.download,
                         check_images=args.image_check, seed=args.seed, quiet=args.quiet or args.json)


def cmd_data_check(args: argparse.Namespace) -> int:
    from .data.check import format_summary, summarize
    from .data.sources import open_table
    summary = summarize(open_table(_source_options(args)))
    print(json.dumps(summary, indent=1) if args.json else format_summary(summary))
    return 0


def cmd_data_manifest(args: argparse.Namespace) -> int:
    from .data.check import format_summary, summarize
    from .data.manifest import write_manifest
    from .data.sources import open_table
    table = open_table(_source_options(args))
    if args.clean_fraction is not None:
        table = table.with_clean_fraction(args.clean_fraction, args.seed)
    path = write_manifest(table, args.out)
    if not args.json:
        print(format_summary(summarize(table), max_classes=0))
    print(f"wrote {path} ({len(table):,} rows)")
    return 0


def cmd_protocol_coco(args: argparse.Namespace) -> int:
    from .protocol import CocoProtocolConfig, compile_coco
    sizes = tuple(float(v) for v in args.split_sizes.split(","))
    cfg = CocoProtocolConfig(root=args.root, out=args.out, annotator=args.annotator, weights=args.weights,
                             image_size=args.image_size, top_k=args.top_k, clean_fraction=args.clean_fraction,
                             split_sizes=sizes, seed=args.seed,
                             subsets=args.subsets.split(",") if args.subsets else None, class_map=args.class_map,
                             batch_size=args.batch_size, num_workers=args.num_workers, device=args.device,
                             quiet=args.quiet)
    result = compile_coco(cfg)
    if args.json:
        print(json.dumps(result))
    else:
        print((Path(args.out) / "noise.md").read_text())
        print(f"wrote {result['manifest']}, {Path(args.out) / 'protocol.json'} ({result['seconds']:.0f} s)")
    return 0


def _add_source_options(p: argparse.ArgumentParser) -> None:
    from .data.sources import FORMATS
    p.add_argument("--format", required=True, choices=FORMATS, help="dataset layout")
    p.add_argument("--root", help="dataset folder (cifar-n: the image folder with train/ and test/, or the "
                   "python-pickle folder; csv: the image root)")
    p.add_argument("--manifest", help="csv / features: the manifest or label CSV (.csv or .jsonl)")
    p.add_argument("--labels", help="cifar-n: CIFAR-10_human.pt or CIFAR-100_human.pt")
    p.add_argument("--noise", default="worse", help="cifar-n label set: worse, aggre, random1-3 (CIFAR-100N: noisy)")
    p.add_argument("--features", help="features: .npy or .safetensors array, one row per label-CSV row")
    p.add_argument("--images", help="openimages: folder with train/ and validation/ images (default ROOT/images)")
    p.add_argument("--names", help="yolo: data YAML with the class names (default: the YAML in ROOT)")
    p.add_argument("--subsets", help="coco: comma-separated subsets, e.g. train2014,val2014 (default: all found)")
    p.add_argument("--download", action="store_true",
                   help="cifar-n: download CIFAR (torchvision) and the CIFAR-N file when absent (needs internet)")
    p.add_argument("--no-image-check", dest="image_check", action="store_false",
                   help="do not check that every image file exists")
    p.add_argument("--seed", type=int, default=0, help="seed of random partitions (openimages' clean quarter)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_methods(args: argparse.Namespace) -> int:
    from .methods import METHODS
    for name, spec in METHODS.items():
        print(f"{name:10s} {spec.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="noisereg", description="Weakly supervised image classification "
                                     "through noise regularization (Hu et al., CVPR 2019).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run the built-in demo on scikit-learn's digits (no download)")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--steps", type=int, default=500, help="training steps per method and stage (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train on a CSV manifest (train split; val split for monitoring)")
    _add_data_options(p)
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--resume", action="store_true", help="continue the run whose checkpoint is in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_train_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="mAP, AP_all and top-1 of a checkpoint on a manifest split")
    p.add_argument("--checkpoint", required=True, help="folder written by `noisereg train`")
    _add_data_options(p)
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
    p.add_argument("--data", choices=["digits", "digits-multi", "cifar10n", "cifar10n-multi", "manifest"])
    p.add_argument("--manifest", help="--data manifest: a manifest whose train images carry clean labels "
                   "(e.g. from `noisereg protocol coco --clean-fraction 1`)")
    p.add_argument("--noise", help="CIFAR-N label set: worse, random1, random2, random3, aggre")
    p.add_argument("--data-root", help="CIFAR-10 image folder with train/ and test/ (--data manifest: image root)")
    p.add_argument("--labels", help="CIFAR-10_human.pt (default: beside the image folder, in cifar10n/)")
    p.add_argument("--methods", help="comma-separated method ids, or all")
    p.add_argument("--clean-fractions", help="comma-separated, e.g. 0.05,0.1,0.2")
    p.add_argument("--activations", help="comma-separated, e.g. sigmoid,tanh,relu")
    p.add_argument("--seeds", type=int, help="runs per setting")
    p.add_argument("--steps", type=int, help="training steps per run (and per phase)")
    p.add_argument("--scheme", choices=["frozen", "end-to-end"])
    p.add_argument("--out", help="output folder (default runs/experiment)")
    p.add_argument("--cache-dir", help="feature cache folder (default OUT/cache); share it between experiments")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("methods", help="list the registered methods")
    p.set_defaults(func=cmd_methods)

    data = sub.add_parser("data", help="read datasets in their official layouts").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("check", help="images per split, classes, label cardinality, clean/noisy counts, "
                        "measured noise rates")
    _add_source_options(p)
    p.set_defaults(func=cmd_data_check)
    p = data.add_parser("manifest", help="write a dataset as a training manifest (CSV, or JSONL for .jsonl)")
    _add_source_options(p)
    p.add_argument("--out", required=True, help="manifest file to write")
    p.add_argument("--clean-fraction", type=float, help="keep clean labels on this seeded fraction of train only")
    p.set_defaults(func=cmd_data_manifest)

    from .protocol import PAPER_SPLIT
    proto = sub.add_parser("protocol", help="rebuild a paper protocol").add_subparsers(
        dest="protocol_command", required=True)
    p = proto.add_parser("coco", help="the paper's 56-class MS COCO with machine-annotated noisy labels")
    p.add_argument("--root", required=True, help="COCO folder with annotations/instances_<subset>.json and images")
    p.add_argument("--out", required=True, help="output folder (manifest.csv, protocol.json, noise.md)")
    p.add_argument("--annotator", default="efficientnet-lite0", help="ImageNet classifier: efficientnet-lite0 "
                   "(offline), inception_v3 (the paper's) or any torchvision name, or timm/NAME")
    p.add_argument("--weights", help="local weight file for the annotator")
    p.add_argument("--image-size", type=int, default=0, help="annotator input side (default: its own)")
    p.add_argument("--top-k", type=int, default=8, help="predictions kept per image (default 8)")
    p.add_argument("--clean-fraction", type=float, default=0.05, help="share of train with clean labels (default 0.05)")
    p.add_argument("--split-sizes", default=",".join(map(str, PAPER_SPLIT)),
                   help="train,val,test proportions (default: the paper's 68213,16714,16763)")
    p.add_argument("--subsets", help="comma-separated subsets (default: train2014,val2014, or all found)")
    p.add_argument("--class-map", help="CSV imagenet_index,imagenet_name,coco_id,coco_name (default: the shipped map)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_protocol_coco)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``noisereg`` console script."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (UserError, TrainingDiverged) as e:
        lines = [s for s in str(e).strip().splitlines() if s.strip()]
        print(f"noisereg: error: {lines[-1] if lines else type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("noisereg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
