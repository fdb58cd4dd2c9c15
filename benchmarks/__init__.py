"""The benchmarks of noisereg as a small package: run each script from the project root as
``python -m benchmarks.<script>``.

- ``common``: the machine, versions and command of a run, timing, the fresh-process probe for memory and
  time, and ``ResultsTable`` (one CSV's columns, appending a run, marking the rows it supersedes);
- ``parts``: the ``Part`` registry of the CIFAR-10N / VOC benchmark (name, task, metric, methods drawn from
  the method registry's facts); ``grid``: running and reading back one (fraction, seed) cell;
- ``make_results``: ``benchmarks/RESULTS.md`` and the README's tables, generated whole from ``results/``.
"""
