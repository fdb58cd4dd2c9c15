"""The argument parser of every subcommand: a usage error is one line with a did-you-mean, not a usage dump.

``argparse`` answers an unknown flag (``--image_size``) with the whole usage text and no hint. Here every
parser error raises ``UsageError`` (a ``UserError``), which ``main`` prints as one ``noisereg: error:``
line with exit code 2, and an unknown flag names the nearest flag of the (sub)command that read it.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from typing import NoReturn

from ..errors import UserError

_KNOWN = "_noisereg_known_flags"  # set on the namespace by the innermost parser left with unknown arguments


class UsageError(UserError):
    """A command line argparse refuses (unknown flag, missing or malformed value)."""


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line; subparsers inherit the class."""

    _args: Sequence[str] = ()  # the arguments of the parse under way

    def parse_known_args(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        namespace: argparse.Namespace | None = None,
    ) -> tuple[argparse.Namespace, list[str]]:
        """As argparse; where arguments are left over, record this parser's flags (the innermost one wins)."""
        self._args = list(args) if args is not None else []  # for an error raised before the extras are known
        ns, extras = super().parse_known_args(args, namespace)
        if extras and not hasattr(ns, _KNOWN):
            setattr(ns, _KNOWN, [s for a in self._actions for s in a.option_strings])
        return ns, extras

    def parse_args(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        namespace: argparse.Namespace | None = None,
    ) -> argparse.Namespace:
        """As argparse; unknown arguments are one error line naming the nearest known flags."""
        ns, extras = self.parse_known_args(args, namespace)
        known = getattr(ns, _KNOWN, [s for a in self._actions for s in a.option_strings])
        if hasattr(ns, _KNOWN):
            delattr(ns, _KNOWN)
        if extras:
            self.error(unrecognized(extras, known))
        return ns

    def error(self, message: str) -> NoReturn:
        """Raise the error as one line (``main`` prints it, exit 2) instead of printing the usage and exiting."""
        command = self.prog.partition(" ")[2]  # the subcommand ("train", "protocol annotate"), if any
        known = [s for a in self._actions for s in a.option_strings]
        unknown = [
            a
            for a in self._args
            if a.startswith("--")  # an abbreviation argparse accepts is no typo
            and not any(k.startswith(a.split("=", 1)[0]) for k in known)
        ]
        if unknown and not message.startswith("unrecognized"):  # a misspelt flag is why a required one is missing
            message += "; " + unrecognized(unknown, known)
        raise UsageError(f"{command}: {message}" if command else message)


def unrecognized(extras: Sequence[str], known: Sequence[str]) -> str:
    """``unrecognized arguments: --image_size 16 (did you mean --image-size?)``: each unknown flag with the
    closest of ``known`` (underscores read as hyphens first, then by ``difflib``'s similarity)."""
    hints = [
        (flag, hint)
        for flag in (e.split("=", 1)[0] for e in extras if e.startswith("-"))
        if (hint := nearest_flag(flag, known))
    ]
    line = f"unrecognized arguments: {' '.join(extras)}"
    if len(hints) == 1:
        return line + f" (did you mean {hints[0][1]}?)"
    if hints:
        return line + " (did you mean " + ", ".join(f"{h} for {f}" for f, h in hints) + "?)"
    return line


def nearest_flag(flag: str, known: Sequence[str]) -> str | None:
    """The known flag ``flag`` was most likely meant to be, or None when none is close."""
    dashed = flag.replace("_", "-")
    if dashed in known:
        return dashed
    close = difflib.get_close_matches(dashed, [k for k in known if k.startswith("--")], n=1, cutoff=0.6)
    return close[0] if close else None
