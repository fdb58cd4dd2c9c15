"""Subcommands that read datasets in their official layouts: data check, data manifest, protocol coco,
protocol annotate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import UserError
from .limits import add_device_option, add_input_limits


def open_source(args: argparse.Namespace):
    """The dataset the ``--format`` flags describe (``open_dataset``), read once per command."""
    from ..data.sources import layout_values, open_dataset

    return open_dataset(
        args.format, classes=args.classes, quiet=args.quiet or args.json, **layout_values(args, args.format)
    )


def cmd_data_check(args: argparse.Namespace) -> int:
    from ..data.check import format_summary, summarize, unreadable_error

    checked = args.check_images is not False
    decode = args.decode if args.decode is not None or checked else False  # --no-image-check: no files read
    summary = summarize(open_source(args), decode=decode, quiet=args.quiet or args.json)
    print(json.dumps(summary, indent=1) if args.json else format_summary(summary), flush=True)
    error = unreadable_error(summary)  # every unreadable image is listed above; the exit code says there are some
    if error:
        raise UserError(error)
    return 0


def cmd_data_manifest(args: argparse.Namespace) -> int:
    from ..data.check import format_summary, summarize
    from ..data.manifest_writer import image_root_hint, manifest_image_root, write_manifest

    table = open_source(args)
    if args.clean_fraction is not None:
        table = table.with_clean_fraction(args.clean_fraction, args.seed or 0)
    root = manifest_image_root(table, args.out)
    path = write_manifest(table, args.out, image_root=root)
    hint = image_root_hint(root, path)
    if not args.json:
        print(format_summary(summarize(table), max_classes=0))
    print(f"wrote {path} ({len(table):,} rows)" + (f"; {hint}" if hint else ""))
    return 0


def cmd_protocol_coco(args: argparse.Namespace) -> int:
    from ..protocol import CocoProtocolConfig, compile_coco

    sizes = tuple(float(v) for v in args.split_sizes.split(","))
    cfg = CocoProtocolConfig(
        root=args.root,
        out=args.out,
        annotator=args.annotator,
        weights=args.weights,
        image_size=args.image_size,
        top_k=args.top_k,
        clean_fraction=args.clean_fraction,
        split_sizes=sizes,
        seed=args.seed,
        subsets=args.subsets.split(",") if args.subsets else None,
        class_map=args.class_map,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=args.device,
        quiet=args.quiet,
    )
    result = compile_coco(cfg)
    if args.json:
        print(json.dumps(result))
    else:
        print((Path(args.out) / "noise.md").read_text())
        print(
            f"wrote {result['manifest']}, {Path(args.out) / 'protocol.json'} ({result['seconds']:.0f} s); "
            f"train with --manifest {result['manifest']} --image-root {result['image_root']}"
        )
    return 0


def cmd_protocol_annotate(args: argparse.Namespace) -> int:
    from ..protocol import AnnotateConfig, compile_annotated
    from ..protocol.annotate import refuse_earlier_manifest
    from .training import open_manifest

    refuse_earlier_manifest(args.out, args.overwrite)  # before the dataset is even read
    cfg = AnnotateConfig(
        out=args.out,
        class_map=args.class_map,
        annotator=args.annotator,
        weights=args.weights,
        image_size=args.image_size,
        top_k=args.top_k,
        label_mode=args.label_mode,
        clean_fraction=args.clean_fraction,
        seed=args.seed or 0,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=args.device,
        quiet=args.quiet or args.json,
        keep_unmapped_classes=args.keep_unmapped_classes,
        overwrite=args.overwrite,
    )
    if args.format:
        table = open_source(args)
    else:
        args.features = None
        table = open_manifest(args)
    result = compile_annotated(table, cfg)
    if args.json:
        dropped = ("without_mapped_prediction_ids", "removed_ids")
        print(json.dumps({k: v for k, v in result.items() if k not in dropped}))
    else:
        print((Path(args.out) / "noise.md").read_text())
        print(
            f"wrote {result['manifest']}, {Path(args.out) / 'protocol.json'} ({result['seconds']:.0f} s); "
            f"train with --manifest {result['manifest']} --image-root {result['image_root']}"
        )
    return 0


def _add_annotator_options(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--annotator",
        default=default,
        help="ImageNet classifier: efficientnet-lite0 (offline), "
        "efficientnet-lite1/-lite2 (offline, the lite extra), inception_v3 (the paper's) or any torchvision "
        f"name, or timm/NAME (default {default})",
    )
    p.add_argument("--weights", help="local weight file for the annotator")
    p.add_argument("--image-size", type=int, default=0, help="annotator input side (default: its own)")
    p.add_argument("--top-k", type=int, default=8, help="predictions kept per image (default 8)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-workers", type=int, default=0)
    add_device_option(p)


def _add_source_options(p: argparse.ArgumentParser, *, format_required: bool = True) -> None:
    """--format and every registered layout's flags (generated from its options), --json, --quiet."""
    from ..data.sources import add_layout_flags

    add_input_limits(p)
    add_layout_flags(
        p,
        format_required=format_required,
        format_help="" if format_required else "default: --manifest, or the image folders",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_commands(sub: Any) -> None:
    """The dataset subcommands."""
    data = sub.add_parser("data", help="read datasets in their official layouts").add_subparsers(
        dest="data_command", required=True
    )
    p = data.add_parser(
        "check", help="images per split, classes, label cardinality, clean/noisy counts, measured noise rates"
    )
    _add_source_options(p)
    from ..data.check import DECODE_BY_DEFAULT

    p.add_argument(
        "--decode",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decode every image fully, as training does, and list each one that does not decode, all at "
        f"once (then exit code 2); default: decode sets of at most {DECODE_BY_DEFAULT:,} image files, "
        "unless --no-image-check (--no-decode: never)",
    )
    p.set_defaults(func=cmd_data_check)
    p = data.add_parser("manifest", help="write a dataset as a training manifest (CSV, or JSONL for .jsonl)")
    _add_source_options(p)
    p.add_argument("--out", required=True, help="manifest file to write")
    p.add_argument("--clean-fraction", type=float, help="keep clean labels on this seeded fraction of train only")
    p.set_defaults(func=cmd_data_manifest)

    from ..protocol import PAPER_SPLIT

    proto = sub.add_parser("protocol", help="rebuild a paper protocol").add_subparsers(
        dest="protocol_command", required=True
    )
    p = proto.add_parser("coco", help="the paper's 56-class MS COCO with machine-annotated noisy labels")
    p.add_argument("--root", required=True, help="COCO folder with annotations/instances_<subset>.json and images")
    p.add_argument("--out", required=True, help="output folder (manifest.csv, protocol.json, noise.md)")
    _add_annotator_options(p, "efficientnet-lite0")
    add_input_limits(p)
    p.add_argument("--clean-fraction", type=float, default=0.05, help="share of train with clean labels (default 0.05)")
    p.add_argument(
        "--split-sizes",
        default=",".join(map(str, PAPER_SPLIT)),
        help="train,val,test proportions (default: the paper's 68213,16714,16763)",
    )
    p.add_argument("--subsets", help="comma-separated subsets (default: train2014,val2014, or all found)")
    p.add_argument("--class-map", help="CSV imagenet_index,imagenet_name,coco_id,coco_name (default: the shipped map)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_protocol_coco)

    from ..annotation import SHIPPED_MAPS

    p = proto.add_parser(
        "annotate",
        help="machine-annotated noisy labels for any image set: an ImageNet "
        "classifier's top-k mapped to its classes (the paper's semi-automatic annotation)",
    )
    _add_source_options(p, format_required=False)
    p.add_argument(
        "--out",
        required=True,
        help="output folder (manifest.csv, protocol.json, noise.md, the annotator's cached top-k)",
    )
    p.add_argument(
        "--class-map",
        required=True,
        help=f"CSV imagenet_index,class (a class may own many ImageNet "
        f"indices), or a shipped map: {', '.join(SHIPPED_MAPS)}",
    )
    _add_annotator_options(p, "efficientnet-lite2")
    p.add_argument(
        "--label-mode",
        default="single",
        choices=["single", "multi"],
        help="single: the best-ranked mapped prediction (none: no noisy label); multi: every mapped class",
    )
    p.add_argument(
        "--clean-fraction",
        type=float,
        help="keep clean labels on this seeded share of train only (default: keep the input's)",
    )
    p.add_argument(
        "--keep-unmapped-classes",
        action="store_true",
        help="keep the classes the map gives no ImageNet index (default: drop them and the images left "
        "without a clean label, as the paper compiles MS COCO)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the manifest.csv an earlier run wrote in --out (otherwise refused); its cached top-k is reused",
    )
    p.set_defaults(func=cmd_protocol_annotate)
