"""Any manifest as an experiment task: a seeded clean fraction of its train labels, its test split."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..data.check import summarize
from ..data.sources import open_dataset
from .base import Task


def manifest_builder(path: str, image_root: str | None = None) -> Callable[[float, int], Task]:
    """Tasks from a manifest: a seeded clean fraction of train keeps its clean labels (clean images keep
    their noisy labels too); the test split, or val when there is none, is the evaluation set."""
    table = open_dataset("csv", manifest=path, image_root=image_root)
    split = "test" if "test" in table.splits() else "val"
    test = table.to_labelled_set(split)
    test.require(clean=True, noisy=False, where=f"{path} split '{split}'")
    noise = summarize(table.select(table.split_mask("train")))["noise_rate"] or {}
    measured = {k: noise[k] for k in ("overall", "missing", "spurious") if noise.get(k) is not None}

    full = table.to_labelled_set("train")  # every clean label stays: gt (the upper bound) reads them all
    in_train = table.split_mask("train")

    def build(fraction: float, seed: int) -> Task:
        train = dataclasses.replace(full, has_clean=table.clean_draw(fraction, seed)[in_train])
        return Task(
            Path(path).stem, train, test, measured, single_label=not table.multi_label, known_clean=full.has_clean
        )

    return build
