"""How long a phase trains and on what batch, when the user leaves it to the data (``--steps 0``,
``--batch-size 0``, the defaults): a fixed step count fits no data size, so a thousand-image set was
stopped before it converged while a million-image one never saw an epoch. And the line that says which
values a run left to its method's defaults."""

from __future__ import annotations

import math

from ..config import TrainConfig

DEFAULT_EPOCHS = 20.0  # the benchmark's length: every tuned result in RESULTS.md trained at most this long
MIN_STEPS = 3000  # a small set still trains this long (its cosine schedule would end too soon otherwise)
MAX_STEPS = 100_000  # a huge set (OpenImages) stops here unless --steps or --epochs asks for more
BATCH_BY_ROWS = ((4_000, 32), (16_000, 64))  # (fewer training rows than this, batch); otherwise 128
LARGE_BATCH = 128
MIN_PATIENCE = 5  # evaluations: a set whose epoch is shorter than an evaluation interval still waits this long


def auto_batch_size(rows: int) -> int:
    """The batch for ``rows`` training rows: 32 below 4,000, 64 below 16,000, else 128 (the benchmark's), so a
    small set still gets over 100 steps an epoch and a large one uses its accelerator."""
    return next((batch for limit, batch in BATCH_BY_ROWS if rows < limit), LARGE_BATCH)


def left_to_data(cfg: TrainConfig) -> tuple[str, ...]:
    """Which of the batch and the phases' length the user left to the data (0 = from the data)."""
    return tuple(
        name for name, unset in (("batch", not cfg.batch_size), ("length", not cfg.steps and not cfg.epochs)) if unset
    )


def phase_steps(cfg: TrainConfig, per_epoch: int, total: int) -> int:
    """The steps of a phase whose epoch is ``per_epoch`` steps: ``--epochs`` when given, else ``total``
    (``--steps`` or ``--backbone-steps``), else from the data: ``DEFAULT_EPOCHS`` epochs, at least
    ``MIN_STEPS`` and at most ``MAX_STEPS``."""
    if cfg.epochs:
        return math.ceil(cfg.epochs * per_epoch)
    if total:
        return total
    return min(max(math.ceil(DEFAULT_EPOCHS * per_epoch), MIN_STEPS), MAX_STEPS)


def eval_interval(cfg: TrainConfig, per_epoch: int, total: int) -> int:
    """Steps between evaluations: ``--eval-every``, else about twice an epoch, but no more than 50 and no
    fewer than 10 evaluations a phase."""
    return cfg.eval_every or max(1, min(max(per_epoch // 2, total // 50), total // 10))


def patience_evaluations(cfg: TrainConfig, per_epoch: int, every: int) -> int:
    """``--patience`` (epochs of the noisy set) as evaluations ``every`` steps apart: at least ``MIN_PATIENCE``
    (0 = never stop early)."""
    if not cfg.patience:
        return 0
    return max(MIN_PATIENCE, math.ceil(cfg.patience * per_epoch / every - 1e-9))


def length_line(label: str, length: dict[str, int], from_data: tuple[str, ...], rows: int) -> str:
    """The line that starts a phase: its steps, batch, epochs and evaluation interval, and which of them came
    from the data (``from_data``: ``batch``, ``length``)."""
    steps, per_epoch = length["steps"], length["steps_per_epoch"]
    derived = f" ({' and '.join(from_data)} from the {rows:,} training rows)" if from_data else ""
    patience = length.get("patience_evaluations")
    stop = f", stopping after {patience} evaluations without improvement" if patience else ""
    return (
        f"{label}: {steps:,} steps of batch {length['batch_size']} ({steps / per_epoch:.3g} epochs of "
        f"{per_epoch:,} steps), evaluating every {length['eval_every']:,} steps{stop}{derived}"
    )


def defaults_line(cfg: TrainConfig, fields: tuple[str, ...]) -> str:
    """The line that says which values a run took from its method's defaults (``fields``: those left unset)."""
    values = ", ".join(f"{name} {getattr(cfg, name):g}" for name in fields)
    return (
        f"{cfg.method}: {values} (the method's defaults, robust across the benchmark parts; "
        "`noisereg methods --defaults` lists them)"
    )
