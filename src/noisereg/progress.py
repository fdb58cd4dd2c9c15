"""Progress that fits where it goes: a tqdm bar on a terminal, plain lines in a log file or a pipe.

A tqdm bar redraws itself with carriage returns, which turns a log file into one endless line. When
stderr is not a terminal, ``progress`` returns ``PlainProgress`` instead: the same calls (``update``,
``set_postfix``, iteration, ``close``), written as a full line at most every ``interval`` seconds and
once at the end. ``quiet`` shows neither. ``echo`` prints a line of results (an evaluation) to stdout
without breaking a bar that is being drawn.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from tqdm import tqdm

PLAIN_INTERVAL = 30.0  # seconds between two plain progress lines of one task


def on_terminal(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (default stderr, where progress goes) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


class PlainProgress:
    """A progress counter that writes whole lines (no carriage return): what a log file can hold.

    Args:
        iterable: what to iterate over (optional; ``update`` counts by hand otherwise).
        total: the count at completion (None: unknown, no percentage).
        desc, unit: what is counted, e.g. ``"proposed:heads"`` and ``"step"``.
        interval: least seconds between two lines while running.
        delay: say nothing for a task that ends within this many seconds (short reads stay silent).
        file: where lines go (default stderr).
    """

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        interval: float = PLAIN_INTERVAL,
        delay: float = 0.0,
        file: TextIO | None = None,
    ) -> None:
        self.iterable, self.desc, self.unit = iterable, desc, unit
        self.total = total if total is not None or iterable is None else _len_or_none(iterable)
        self.interval, self.delay, self.file = interval, delay, file
        self.n, self.postfix, self.closed = 0, "", False
        self.start = self.last = time.monotonic()

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable if self.iterable is not None else ():  # a numpy array has no truth value
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more; write a line when ``interval`` seconds have passed since the last one."""
        self.n += n
        now = time.monotonic()
        running = self.total is None or self.n < self.total  # the closing line reports completion
        if running and now - self.last >= self.interval and now - self.start >= self.delay:
            self.last = now
            self._write(done=False)

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        """Values shown at the end of the next line (e.g. the loss)."""
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def close(self) -> None:
        """Write the closing line (count, time, rate), unless the task ended within ``delay``."""
        if not self.closed and time.monotonic() - self.start >= self.delay:
            self._write(done=True)
        self.closed = True

    def _write(self, done: bool) -> None:
        seconds = time.monotonic() - self.start
        count = f"{self.n:,}/{self.total:,}" if self.total else f"{self.n:,}"
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total and not done else ""
        rate = f", {self.n / seconds:.1f} {self.unit}/s" if seconds > 0 else ""
        tail = f", {self.postfix}" if self.postfix else ""
        verb = "done in" if done else "after"
        print(
            f"{self.desc}: {count} {self.unit}{share} {verb} {seconds:.1f} s{rate}{tail}",
            file=self.file or sys.stderr,
            flush=True,
        )


def _len_or_none(iterable: Iterable) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    quiet: bool = False,
    delay: float = 0.0,
    unit_scale: bool = False,
) -> Any:
    """A tqdm bar on a terminal, ``PlainProgress`` lines elsewhere, nothing when ``quiet``.

    Both accept ``update``, ``set_postfix``, ``close`` and iteration, so callers do not branch.
    """
    if quiet:
        return tqdm(iterable, total=total, disable=True)
    if on_terminal():
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, delay=delay, unit_scale=unit_scale)
    return PlainProgress(iterable, total=total, desc=desc, unit=unit, delay=delay)


def warn(line: str) -> None:
    """Print one warning line to stderr, above any bar: shown also with ``quiet`` (which silences progress,
    never what is wrong with the data)."""
    tqdm.write(line, file=sys.stderr)
    sys.stderr.flush()


def echo(line: str) -> None:
    """Print one line of results to stdout, above any bar being drawn on the terminal."""
    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()
