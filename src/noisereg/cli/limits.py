"""Flags shared by every subcommand that reads user files: limits checked before any work starts."""
from __future__ import annotations

import argparse


def add_input_limits(p: argparse.ArgumentParser) -> None:
    """``--max-pixels``: the largest image decoded (default PIL's warning threshold, about 89 M pixels)."""
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse images with more than N pixels before decoding them (default 89,478,485, PIL's "
                   "decompression-bomb threshold: a 12000 x 12000 image is refused)")


def apply_input_limits(args: argparse.Namespace) -> None:
    """Set the limits given on the command line (called once, before the subcommand runs)."""
    from ..data.images import set_max_pixels
    set_max_pixels(getattr(args, "max_pixels", None))
