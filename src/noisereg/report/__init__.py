"""What a user reads after training: tables, plots and the self-contained HTML report of a run.

- ``tables``: the markdown tables (Table 5 layout, mean ± std over seeds), the convergence PNG, versions;
- ``summary``: ``run.json`` (settings, data, versions) and ``curves.csv`` that runs leave for the report;
- ``evidence``: a model's scores on a clean-labelled set, per-class AP, confusion, Fig. 3/5 examples;
- ``figures``, ``collect``, ``html``: the plots, reading a run folder, rendering ``report.html``.
"""

from .evidence import Scores, read_evaluations, score_set, write_evaluation
from .html import REPORT_FILE, report_context, write_report
from .summary import data_summary, read_summary, write_curves, write_summary
from .tables import (
    METRIC_NAMES,
    best_in_columns,
    mean_std_over_seeds,
    pct,
    plot_convergence,
    results_table,
    source_commit,
    versions,
    write_results,
)

__all__ = [
    "METRIC_NAMES",
    "REPORT_FILE",
    "Scores",
    "best_in_columns",
    "data_summary",
    "mean_std_over_seeds",
    "pct",
    "plot_convergence",
    "read_evaluations",
    "read_summary",
    "report_context",
    "results_table",
    "score_set",
    "source_commit",
    "versions",
    "write_curves",
    "write_evaluation",
    "write_report",
    "write_results",
    "write_summary",
]
