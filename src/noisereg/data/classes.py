"""Class lists: the ``--classes FILE`` that fixes a task's classes, and the error for a name outside it.

Without a fixed list, every name a dataset uses becomes a class, so a typo ("cta" beside "cat")
silently becomes a class of its own. With one, such a name is refused, naming where it was found
and the closest known class.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import UserError
from ..options import did_you_mean


def read_classes(path: str | Path) -> list[str]:
    """A class list file: one name per line, in label-column order (blank lines are ignored).

    Raises:
        UserError: the file is missing or unreadable, empty, or names a class twice.
    """
    path = Path(path)
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise UserError(f"class list not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read class list {path}: {type(e).__name__}") from None
    names = [n for n in names if n]
    if not names:
        raise UserError(f"{path}: the class list is empty (expected one class name per line)")
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise UserError(f"{path}: class '{n}' is listed twice")
        seen.add(n)
    return names


def unknown_class(name: str, known: Sequence[str], where: str) -> UserError:
    """The error for a class name outside the fixed list ``known``, with a did-you-mean."""
    return UserError(f"{where}: unknown class '{name}'{did_you_mean(name, known)} "
                     f"(known classes: {short_list(known)})")


def short_list(names: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` names, comma-separated, and how many there are in all."""
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
