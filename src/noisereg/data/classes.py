"""Class lists: the ``--classes FILE`` that fixes a task's classes, and the error for a name outside it.

Without a fixed list, every name a dataset uses becomes a class, so a typo ("cta" beside "cat")
silently becomes a class of its own. With one, such a name is refused, naming where it was found
and the closest known class.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from ..options import did_you_mean
from ..progress import warn


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
    return UserError(f"{where}: unknown class '{name}'{did_you_mean(name, known)} (known classes: {short_list(known)})")


def short_list(names: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` names, comma-separated, and how many there are in all."""
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Levenshtein distance of ``a`` and ``b`` (insertions, deletions, substitutions), or ``limit + 1`` as
    soon as it is known to exceed ``limit`` (names of very different lengths cost nothing)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
        if min(row) > limit:
            return limit + 1
    return row[-1]


def look_alike_classes(names: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs of class names that are likely one class misspelt: equal but for case (``Cat``, ``cat``), or
    within edit distance 2 where that is at most a quarter of the shorter name (``airplnae``, ``airplane``;
    ``persn``, ``person``), so that short distinct names (``cat``, ``car``; the digits ``0``, ``1``) pass."""
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            d = edit_distance(a.lower(), b.lower())
            if d == 0 or (d <= 2 and 4 * d <= min(len(a), len(b))):
                pairs.append((a, b))
    return pairs


def warn_look_alike_classes(names: Sequence[str], where: str) -> None:
    """One line on stderr naming the class names that look like typos of each other (``look_alike_classes``),
    for class lists taken from the names a dataset uses (no ``--classes``): a typo there becomes a class."""
    pairs = look_alike_classes(names)
    if pairs:
        more = f" (+{len(pairs) - 5} more)" if len(pairs) > 5 else ""
        shown = ", ".join(f"'{a}' and '{b}'" for a, b in pairs[:5]) + more
        warn(
            f"warning: {where}: class names that look like one class misspelt: {shown}; each is a class of its "
            "own (--classes FILE fixes the list and refuses the others)"
        )
