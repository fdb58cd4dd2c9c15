"""The logs of a training run, all written from its per-step records (the one bookkeeping: ``history``).

``RunLog.step`` is called by the phase's last callback (``callbacks.Logger``) with each step's record (loss parts,
learning rate, epoch, and at evaluation steps ``val_*``); it appends the record to ``metrics.csv``,
writes TensorBoard scalars when asked, and prints one line per evaluation. ``write_records`` writes
any list of records (an experiment's curves) through the same column order.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Any, TextIO

from ..errors import UserError
from ..progress import echo
from ..safe_io import write_csv

METRICS_FILE = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"
# the columns every reader can count on, in this order; loss terms follow ``loss``, other keys come last
LEADING = ("step", "stage", "epoch", "loss")
TRAILING = ("lr", "val_top1", "val_mAP", "val_AP_all", "val_bce", "val_best", "best_epoch", "kept_step", "kept_by")


def record_columns(records: list[dict[str, Any]], first: tuple[str, ...] = ()) -> list[str]:
    """The CSV columns of ``records``: ``first``, step/stage/epoch/loss, each loss term (``l_*``, ``loss_*``),
    the learning rate and validation scores, then any other key, each once, in order of appearance."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    terms = [k for k in keys if k.startswith("l_") or (k.startswith("loss") and k != "loss")]
    known = [*first, *LEADING, *terms, *TRAILING]
    return [*[k for k in known if k in keys or k in LEADING], *[k for k in keys if k not in known]]


def write_records(records: list[dict[str, Any]], path: str | Path, *, first: tuple[str, ...] = ()) -> Path:
    """Write ``records`` as one CSV (the columns ``first`` leading, e.g. ``method``); empty cells where a
    record lacks a value (validation only at evaluation steps)."""
    return write_csv(path, records, record_columns(records, first))


def require_tensorboard() -> None:
    """Refuse ``--tensorboard`` in one line where its package is missing: checked when training starts
    (``RunLog``, and the ``train`` command before any work), never when a checkpoint trained with it
    is loaded to evaluate, predict or export."""
    if importlib.util.find_spec("tensorboard") is None:
        raise UserError("--tensorboard needs the tensorboard package: pip install tensorboard")


def tensorboard_writer(folder: Path) -> Any:
    """A ``SummaryWriter`` into ``folder`` (``RunLog`` has called ``require_tensorboard``)."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(folder))


class RunLog:
    """metrics.csv, TensorBoard event files and evaluation lines of one run, fed record by record.

    Args:
        out: the run's folder (None: nothing is written to disk).
        metric: the validation metric that selects weights (``top1``, ``mAP``, ``AP_all``), printed.
        tensorboard: also write TensorBoard scalars into ``out/tensorboard``.
        print_evaluations: print one line per evaluation (step, mean loss since the last one,
            validation metric and loss, best value so far).
    """

    def __init__(
        self, out: Path | None, *, metric: str, tensorboard: bool = False, print_evaluations: bool = True
    ) -> None:
        if tensorboard:
            require_tensorboard()
        if tensorboard and out is None:
            raise UserError("--tensorboard needs an output folder (--out) for its event files")
        self.out, self.metric, self.print_evaluations = out, metric, print_evaluations
        self.tb = tensorboard_writer(out / TENSORBOARD_DIR) if tensorboard and out is not None else None
        self.columns: list[str] = []
        self.file: TextIO | None = None
        self.losses: list[float] = []

    def begin(self, history: list[dict[str, Any]]) -> None:
        """Start ``metrics.csv`` anew from ``history`` (empty, or a resumed run's records)."""
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            self._rewrite(history)

    def step(self, record: dict[str, Any], history: list[dict[str, Any]], *, name: str, total: int) -> None:
        """Log one step's finished record (``history`` holds it and every earlier one)."""
        self.losses.append(float(record["loss"]))
        if self.file is not None:
            if set(record) - set(self.columns):  # a new column (a new stage's loss term): rewrite
                self._rewrite(history)
            else:
                csv.DictWriter(self.file, fieldnames=self.columns, extrasaction="ignore").writerow(record)
        if self.tb is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch") and value is not None:
                    self.tb.add_scalar(f"{record.get('stage', 'train')}/{key}", value, record["step"])
        if f"val_{self.metric}" in record:
            self._evaluation(record, name, total)

    def note(self, line: str) -> None:
        """Print a line about the run (e.g. a stage that starts) unless evaluations are not printed."""
        if self.print_evaluations:
            echo(line)

    def _evaluation(self, record: dict[str, Any], name: str, total: int) -> None:
        """Flush the files and print the evaluation's line."""
        if self.file is not None:
            self.file.flush()
        if self.tb is not None:
            self.tb.flush()
        mean_loss = sum(self.losses) / len(self.losses)
        self.losses = []
        if self.print_evaluations:
            echo(format_evaluation(record, self.metric, name=name, total=total, mean_loss=mean_loss))

    def _rewrite(self, history: list[dict[str, Any]]) -> None:
        if self.file is not None:
            self.file.close()
        self.columns = record_columns(history) if history else list(LEADING)
        write_records(history, self.out / METRICS_FILE)
        if not history:  # a header the first record may still widen
            self.columns = []
        self.file = open(self.out / METRICS_FILE, "a", newline="")

    def close(self) -> None:
        """Close the CSV and the TensorBoard writer (idempotent)."""
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None


def format_evaluation(record: dict[str, Any], metric: str, *, name: str, total: int, mean_loss: float) -> str:
    """``proposed:heads step 120/600 epoch 1.20  loss 0.4321  val top1 84.10  val loss 0.2100  kept step 90
    (best val top1 85.20)``: the step whose weights the selection rule keeps so far and why (``lowest val loss,
    top1 27.27`` when small validation sets select by loss; ``last`` without selection), never a "best" that
    the kept weights do not have."""
    value, best = record[f"val_{metric}"], record.get("val_best")
    width = len(str(total))
    line = (
        f"{name} step {record['step']:>{width}}/{total} epoch {record.get('epoch', 0.0):.2f}  "
        f"loss {mean_loss:.4f}  val {metric} {100 * value:.2f}"
    )
    if "val_bce" in record:
        line += f"  val loss {record['val_bce']:.4f}"
    if best is None:
        return line
    kept, rule = record.get("kept_step"), record.get("kept_by")
    if kept is None or rule is None:  # a record without the rule: only the best value
        return line + f"  best {100 * best:.2f}"
    why = {
        "val loss": f"lowest val loss, {metric} {100 * best:.2f}",
        "last": f"the last weights; best val {metric} {100 * best:.2f}",
    }.get(rule, f"best {rule} {100 * best:.2f}")
    return line + f"  kept step {kept} ({why})"
