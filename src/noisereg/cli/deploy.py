"""Subcommands that use a trained classifier outside training: predict (image files, folders and globs
to a CSV or JSON-lines table) and export (ONNX or TorchScript, with the recorded preprocessing)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..safe_io import output_file, write_text
from .limits import add_device_option, add_input_limits

JSONL = (".jsonl", ".ndjson")


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict every image; an unreadable one gets its ``error`` and a line on stderr, the rest go on."""
    from ..estimator import NoiseRegClassifier

    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise UserError(f"--threshold must be in [0, 1], got {args.threshold}")
    if args.out is not None:  # before any work: a refused --out costs no prediction
        suffixes = {"csv": (".csv",), "jsonl": JSONL}.get(args.format, (".csv", *JSONL))
        new_output(args.out, written=args.format or "a prediction table", suffixes=suffixes, overwrite=args.overwrite)
    est = NoiseRegClassifier.load(args.checkpoint).set_params(device=args.device)
    frame = est.predictions(
        args.paths,
        top_k=args.top_k,
        threshold=args.threshold,
        show_h=args.show_h,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
    )
    for error in frame["error"][frame["error"] != ""]:
        print(f"noisereg: skipped: {error}", file=sys.stderr)
    jsonl = args.format == "jsonl" or (args.format is None and str(args.out).lower().endswith(JSONL))
    text = frame.to_json(orient="records", lines=True) if jsonl else frame.to_csv(index=False, float_format="%.6g")
    if args.out is None:
        sys.stdout.write(text)
        return 0
    write_text(output_file(args.out), text)  # atomic: replaces a symlink rather than writing through it
    bad = int((frame["error"] != "").sum())
    print(f"wrote {args.out}: {len(frame) - bad} images predicted" + (f", {bad} unreadable" if bad else ""))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..export import EXTENSIONS, export_model

    new_output(
        args.out,
        written=args.format,
        suffixes=EXTENSIONS[args.format],
        overwrite=args.overwrite,
        beside=[Path(args.out).with_suffix(".json")],
    )
    info = export_model(args.checkpoint, args.out, format=args.format)
    shape = "x".join(map(str, info["input"]["shape"]))
    print(
        f"wrote {args.out} ({args.format}): input '{info['input']['name']}' float32 {shape}, output "
        f"'{info['output']['name']}' = g's probabilities of {len(info['classes'])} classes; preprocessing, "
        f"classes and thresholds in {Path(args.out).with_suffix('.json')}"
    )
    return 0


def new_output(
    out: str, *, written: str, suffixes: Sequence[str], overwrite: bool, beside: Sequence[Path] = ()
) -> None:
    """Refuse, before any work, an ``--out`` that would lose something: a name whose extension is not one of
    ``suffixes`` (the format ``written``), a file of a trained run's folder (its weights, ``checkpoint.json``,
    ...: never, even with ``--overwrite``), or an existing file without ``overwrite``; ``beside``: other
    files the command writes next to it, checked the same way."""
    from ..train.resume import run_owner

    path = Path(out)
    if path.suffix.lower() not in suffixes:
        raise UserError(
            f"--out {out}: {written} is written to a file ending in {' or '.join(suffixes)}, "
            f"not {path.suffix or 'no extension'}"
        )
    for target in (path, *beside):
        owner = run_owner(target)
        if owner is not None:
            raise UserError(
                f"--out {out}: would write over {target.name}, a file of the trained run in {owner}; "
                "choose another name"
            )
        if (target.exists() or target.is_symlink()) and not overwrite:
            raise UserError(f"--out {out}: {target} already exists; give --overwrite to replace it")


def add_commands(sub: Any) -> None:
    """The deployment subcommands."""
    p = sub.add_parser("predict", help="class scores of image files, folders or globs, as CSV or JSON lines")
    p.add_argument(
        "--checkpoint", required=True, help="folder written by `noisereg train` (or NoiseRegClassifier.save)"
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders (their images) or glob patterns")
    p.add_argument("--out", help="output file (.csv, or .jsonl for JSON lines); default: CSV on stdout")
    p.add_argument("--format", choices=["csv", "jsonl"], help="output format (default: from --out, else csv)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out (never a file of a run)")
    p.add_argument(
        "--top-k",
        type=int,
        help="predict the K best classes (default: the best one for single-label "
        "models, those over their thresholds for multi-label models)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        help="predict the classes whose score is at least this (multi-label "
        "default: the per-class thresholds chosen on validation)",
    )
    add_input_limits(p)
    p.add_argument(
        "--show-h", action="store_true", help="add h:<class> columns: h = sigmoid(r + c), the noisy-label view"
    )
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--num-workers", type=int, default=0, help="processes decoding images (default 0)")
    add_device_option(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="export g to ONNX or TorchScript, with the preprocessing it expects")
    p.add_argument("--checkpoint", required=True, help="folder written by `noisereg train`")
    p.add_argument("--format", required=True, choices=["onnx", "torchscript"])
    p.add_argument(
        "--out",
        required=True,
        help="file to write: .onnx, or .pt / .pth / .torchscript (a .json with the preprocessing is written beside it)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out and its .json (never a file of a run)"
    )
    p.set_defaults(func=cmd_export)
