"""``python -m noisereg`` (also what ``torchrun -m noisereg`` runs)."""
import sys

from .cli import main

sys.exit(main())
