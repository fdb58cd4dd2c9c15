"""Flags shared by every subcommand that reads user files: limits checked before any work starts, and the
device."""

from __future__ import annotations

import argparse

from ..devices import DEVICE_HELP, check_device_name
from ..errors import UserError


def add_input_limits(p: argparse.ArgumentParser) -> None:
    """``--max-pixels``: the largest image decoded (default PIL's warning threshold, about 89 M pixels)."""
    p.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        metavar="N",
        help="refuse images with more than N pixels before decoding them (default 89,478,485, PIL's "
        "decompression-bomb threshold: a 12000 x 12000 image is refused)",
    )


def apply_input_limits(args: argparse.Namespace) -> None:
    """Set the limits given on the command line (called once, before the subcommand runs)."""
    from ..data.decode import set_max_pixels

    set_max_pixels(getattr(args, "max_pixels", None))


def add_device_option(p: argparse.ArgumentParser) -> None:
    """``--device``: checked for its spelling at parsing, for its presence where it is used."""

    def device(name: str) -> str:
        try:
            return check_device_name(name)
        except UserError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    p.add_argument("--device", default="auto", type=device, help=f"device: {DEVICE_HELP} (default auto)")
