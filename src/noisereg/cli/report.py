"""``noisereg report DIR``: the self-contained HTML report of a train, experiment or demo folder.

The label-issue suspects section shows ``DIR/label_issues.csv``; when a train run's folder has none,
its suspects are found first (``noisereg.label_issues``, with the manifest the run recorded) and written there.
"""

from __future__ import annotations

import argparse
from typing import Any


def cmd_report(args: argparse.Namespace) -> int:
    from ..pipeline import find_suspects
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
