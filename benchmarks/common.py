"""Shared by the benchmark scripts: what ran where (machine, versions, command, commit), timing, one
fresh-process probe for memory and time, one CSV helper, and the block a script writes for RESULTS.md."""

from __future__ import annotations

import csv
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_DIR = HERE / "results"  # machine-readable results, one CSV per benchmark
BLOCKS_DIR = RESULTS_DIR / "blocks"  # a script's current figures for RESULTS.md, one markdown file per section
NOTES_DIR = RESULTS_DIR / "notes"  # the reading of each section, written by hand
SHARED_DATA = ROOT.parent / "shared" / "data"
SUPERSEDED = "superseded_by"  # a CSV column: blank on current rows, else the ``run`` that replaced the row


def machine() -> str:
    """One line: CPU count, torch threads, GPU if any, Python and torch versions."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()} CPU cores ({platform.machine()}), torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, {gpu}, Python {platform.python_version()}"
    )


def commit() -> str:
    """The short commit of the checkout (empty outside git)."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        return ""


def command() -> str:
    """The command line that ran this process, as ``python -m benchmarks.<script> ...`` where it was one."""
    script = Path(sys.argv[0]).resolve()
    head = f"-m benchmarks.{script.stem}" if script.parent == HERE else os.path.relpath(sys.argv[0])
    return f"python {head} " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def status_kib(field: str) -> int:
    """A memory field of this process from /proc/self/status, in KiB (``VmHWM``: peak resident memory,
    file-backed pages such as touched memmaps included; ``RssAnon``, ``RssFile``: the current split)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def peak_rss_mib() -> float:
    """This process's own peak resident memory in MiB (VmHWM, not getrusage: Linux keeps ru_maxrss across
    exec, so a child would report its parent's peak)."""
    return status_kib("VmHWM") / 1024


def fresh_process(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``python *args`` in a fresh interpreter from the project root (so ``benchmarks`` imports) and
    return the JSON object it prints last, with ``wall_s``, the child's whole wall time, added.

    The one probe for what must not share a process with the caller: peak memory (the child reports
    ``peak_rss_mib()``), a process-wide setting such as the allocator, or a clean start for a timing."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall_s": time.perf_counter() - start}


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def timed_both(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float]:
    """(wall, CPU) seconds of the call with the best wall time of ``repeat`` (CPU: every thread of this
    process, so a busy machine shows in wall time but not in CPU time)."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


@dataclass(frozen=True)
class ResultsTable:
    """One results CSV: its columns, and which columns name a measurement (``key``).

    ``append`` adds a run's rows under a new ``run`` number and marks every earlier current row with the
    same key as superseded by it (``superseded_by``), so the file keeps every run while ``read`` gives only
    current rows. A file written with older columns is rewritten with the current ones (blanks for new
    columns). Without a key nothing is superseded and the file has no ``run`` columns."""

    path: Path
    columns: tuple[str, ...]
    key: tuple[str, ...] = ()

    def fieldnames(self) -> list[str]:
        return list(self.columns) + (["run", SUPERSEDED] if self.key else [])

    def read(self, *, current: bool = True) -> list[dict]:
        """The rows as dicts of strings; by default only the current ones."""
        rows = list(csv.DictReader(open(self.path, newline=""))) if self.path.exists() else []
        return [r for r in rows if not (current and r.get(SUPERSEDED))]

    def append(self, rows: Iterable[dict]) -> list[dict]:
        """Add ``rows`` as one new run; returns them as written (extra keys dropped)."""
        old = self.read(current=False)
        new = [{k: r.get(k, "") for k in self.columns} for r in rows]
        if self.key:
            run = 1 + max((int(r["run"]) for r in old if r.get("run")), default=0)
            keys = {tuple(str(r[k]) for k in self.key) for r in new}
            for r in old:
                if not r.get(SUPERSEDED) and tuple(r.get(k, "") for k in self.key) in keys:
                    r[SUPERSEDED] = str(run)
            new = [{**r, "run": run, SUPERSEDED: ""} for r in new]
        self.write(old + new)
        return new

    def write(self, rows: list[dict]) -> None:
        """Rewrite the file with ``rows`` (missing columns blank, unknown ones dropped)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fieldnames(), extrasaction="ignore", restval="")
            w.writeheader()
            w.writerows(rows)


def current_rows(path: Path) -> list[dict]:
    """The rows of a results CSV that no later run superseded (all rows of a file without the column)."""
    return ResultsTable(path, ()).read()


def write_block(slug: str, table: str, notes: str = "", wall_s: float | None = None) -> Path:
    """Replace the section ``slug``'s current figures (``results/blocks/<slug>.md``; a slug ``section/name`` is
    one of the section's runs) with this run's table and notes, headed by the command, date, commit, machine
    and wall time; print it. ``make_results`` puts it into RESULTS.md under the section's title, beside its
    reading (``results/notes/<slug>.md``); run it next to see the document."""
    wall = f"; wall time {wall_s / 60:.1f} min" if wall_s is not None else ""
    block = (
        "\n\n".join(
            part
            for part in (
                f"`{command()}` — {datetime.date.today().isoformat()}, commit {commit()}, {machine()}{wall}",
                table,
                notes,
            )
            if part
        )
        + "\n"
    )
    print(f"[{slug}]\n{block}")
    BLOCKS_DIR.mkdir(parents=True, exist_ok=True)
    path = BLOCKS_DIR / f"{slug}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block)
    return path
