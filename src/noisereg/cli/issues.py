"""``noisereg find-label-issues``: the suspect noisy labels of a manifest, and a corrected manifest."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from .limits import add_device_option

SHOWN = 10  # suspects printed


def cmd_find_label_issues(args: argparse.Namespace) -> int:
    from ..label_issues import label_scores, write_corrected_manifest
    from ..safe_io import atomic_write, output_file
    from ..train import load_classifier
    from .training import open_manifest

    model, meta = load_classifier(args.checkpoint)
    table = open_manifest(args, classes=meta["classes"])
    scores = label_scores(
        (model, meta),
        table,
        split=args.split,
        score=args.score,
        threshold=args.threshold,
        top_k=args.top_k,
        device=args.device,
    )
    issues = scores.issues()
    out = output_file(args.out)
    atomic_write(out, issues.to_csv)
    written = [str(out)]
    if not scores.single_label:
        images = out.with_name(out.stem + ".images.csv")
        atomic_write(images, scores.issues("image").to_csv)
        written.append(str(images))
    if args.write_manifest:
        written.append(str(write_corrected_manifest(table, scores, args.write_manifest, action=args.action)))
    print(summary(scores, issues))
    from ..data.manifest_writer import image_root_hint, manifest_image_root

    hint = (
        image_root_hint(manifest_image_root(table, args.write_manifest), args.write_manifest)
        if args.write_manifest
        else ""
    )
    print(f"wrote {', '.join(written)}" + (f"; the corrected manifest: {hint}" if hint else ""))
    return 0


def summary(scores: Any, issues: Any) -> str:
    """What was checked, what was flagged (and how many flags are right where clean labels are known),
    the cut-off and how it was chosen, and the worst suspects."""
    flags, wrong = scores.is_issue(), scores.true_wrong()
    unit = "labels" if scores.single_label else "(image, class) entries"
    lines = [
        f"checked {len(scores.rows):,} images with a noisy label ({scores.score} score): "
        f"{int(flags.sum()):,} {unit} flagged; cut-off {scores.how}"
    ]
    known = scores.has_clean if scores.single_label else scores.has_clean[:, None] & np.ones_like(flags)
    if wrong is not None and (flags & known).any():
        right = int((flags & known & wrong).sum())
        lines.append(f"  {right} of the {int((flags & known).sum())} flagged {unit} with a known clean label are wrong")
    cols = [
        c for c in ("path", "class", "kind", "given_label", "predicted_label", "label_quality") if c in issues.columns
    ]
    shown = issues[issues["is_label_issue"]].head(SHOWN)[cols]
    if len(shown):
        lines.append(shown.to_string(float_format=lambda v: f"{v:.3f}", max_colwidth=48))
    return "\n".join(lines)


def add_commands(sub: Any) -> None:
    """The label-issue subcommand."""
    from ..label_issues import ACTIONS, SCORES
    from .training import add_data_options

    p = sub.add_parser(
        "find-label-issues",
        help="rank the noisy labels of a manifest by how likely they are "
        "wrong, with a trained checkpoint (no cross-validation)",
    )
    p.add_argument("--checkpoint", required=True, help="folder written by `noisereg train`")
    add_data_options(p)
    p.add_argument(
        "--out",
        required=True,
        help="CSV of the suspects, worst first (multi-label: also <stem>.images.csv, one row per image)",
    )
    p.add_argument("--split", default="train", choices=["train", "val", "test"], help="split to check (train)")
    p.add_argument(
        "--score",
        default="auto",
        choices=SCORES,
        help="auto: the posterior where the method has the residual net, else the method's own trust, else g",
    )
    cut = p.add_mutually_exclusive_group()
    cut.add_argument(
        "--threshold",
        type=float,
        help="flag labels whose quality is <= this (default: chosen on "
        "the validation images whose noisy and clean labels are both known, else the labels g "
        "contradicts: its top class beats the given one by more than a margin)",
    )
    cut.add_argument("--top-k", type=int, help="flag the k worst labels")
    p.add_argument("--write-manifest", help="write a corrected manifest here")
    p.add_argument(
        "--action",
        default="replace",
        choices=ACTIONS,
        help="replace flagged labels by g's suggestion (never the label itself), or drop them (default replace)",
    )
    add_device_option(p)
    p.set_defaults(func=cmd_find_label_issues)
