"""``--format features``: precomputed features (one (N, D) array) and the label CSV of their rows."""

from __future__ import annotations

from dataclasses import dataclass

from ...options import option
from ..embeddings import features_table
from ..table import LabelTable
from .registry import Layout


@dataclass
class FeaturesOptions:
    """The feature array and its label CSV, one row per feature row."""

    features: str | None = option(
        None,
        "precomputed features (.npy or .safetensors, one row per manifest row): "
        "the heads train on them directly and --manifest only gives labels",
    )
    manifest: str | None = option(None, "the label CSV (.csv or .jsonl) of --features, one row per feature row")


def _read(o: FeaturesOptions, *, classes: list[str] | None, quiet: bool) -> LabelTable:
    return features_table(str(o.features), str(o.manifest), classes=classes)


LAYOUT = Layout("features", FeaturesOptions, _read, required=("features", "manifest"), fixes_classes=True)
