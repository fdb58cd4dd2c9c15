"""``noisereg report DIR``: the self-contained HTML report of a train, experiment or demo folder.

The label-issue suspects section shows ``DIR/label_issues.csv``; when a train run's folder has none,
its suspects are found first (``noisereg.label_issues``, with the manifest the run recorded) and written there.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..safe_io import atomic_write

SUSPECTS_FILE = "label_issues.csv"


def find_suspects(folder: str | Path, source: dict[str, Any] | None, *, write: bool = True) -> Path | None:
    """``folder/label_issues.csv`` from the label-issue finder, when the folder has none yet.

    Under torchrun every rank calls it (the ranks score blocks of the images) and only the one with
    ``write`` writes the file. Returns the CSV's path, or None when there is no one manifest to read
    (image folders).
    """
    path = Path(folder) / SUSPECTS_FILE
    if path.is_file():
        return path
    if not source or not source.get("manifest"):
        return None
    from ..label_issues import find_label_issues
    frame = find_label_issues(str(folder), source["manifest"], image_root=source.get("image_root"),
                              features=source.get("features"),
                              allow_outside_root=bool(source.get("allow_outside_root")))
    if write:
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    return path


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import read_summary, write_report
    summary = read_summary(args.folder) or {}
    if summary.get("kind") == "train":
        find_suspects(args.folder, (summary.get("data") or [{}])[0])
    print(f"report: {write_report(args.folder, args.out)}")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("report", help="write the self-contained HTML report of a train, experiment or demo folder")
    p.add_argument("folder", metavar="DIR", help="a folder written by noisereg train, experiment or demo")
    p.add_argument("--out", metavar="FILE", help="where to write it (default DIR/report.html)")
    p.set_defaults(func=cmd_report)
