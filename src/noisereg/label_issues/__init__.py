"""Label issues: which noisy labels are wrong, from one trained checkpoint (``find_label_issues``), and a
corrected manifest to retrain on (``write_corrected_manifest``).

``scores.py`` turns the model's outputs into label qualities; ``result.py`` holds them with their
cut-off and makes the tables; ``outputs.py`` runs a checkpoint on a set and scores chosen rows of it;
``finder.py`` scores a manifest with a checkpoint; ``correct.py`` writes the corrected manifest.
"""

from .correct import ACTIONS, corrected_set, corrected_table, write_corrected_manifest
from .finder import best_cutoff, find_label_issues, label_scores, score_set
from .outputs import model_outputs, score_rows
from .result import LabelScores
from .scores import SCORES, entry_scores

__all__ = [
    "ACTIONS",
    "LabelScores",
    "SCORES",
    "best_cutoff",
    "corrected_set",
    "corrected_table",
    "entry_scores",
    "find_label_issues",
    "label_scores",
    "model_outputs",
    "score_set",
    "score_rows",
    "write_corrected_manifest",
]
