"""``python -m noisereg`` (also what ``torchrun -m noisereg`` runs)."""

from .cli import console

console()
