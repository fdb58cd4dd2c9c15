"""Errors a user can fix: the CLI prints them as one line and exits with code 2."""
from __future__ import annotations


class UserError(ValueError):
    """Bad input or options: a missing file, an unknown class, an empty clean set, ...

    The message names the file, row or value and says what was expected. It is a
    ``ValueError`` so library users can catch it the usual way.
    """


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""
