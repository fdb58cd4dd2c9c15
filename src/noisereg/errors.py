"""Errors a user can fix: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any


class UserError(ValueError):
    """Bad input or options: a missing file, an unknown class, an empty clean set, ...

    The message names the file, row or value and says what was expected. It is a
    ``ValueError`` so library users can catch it the usual way.
    """


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


def did_you_mean(value: Any, known: Sequence[Any]) -> str:
    """``"; did you mean 'x'?"`` naming the closest of ``known`` to ``value``, or ``""`` when none is close
    (a typo in a class name, a method id or an option key)."""
    close = difflib.get_close_matches(str(value), [str(a) for a in known], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
