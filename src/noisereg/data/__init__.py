"""The data model and what reads it from disk: ``LabelledSet`` / ``LabelTable``, manifests, dataset
readers (``sources/``), image decoding, noise generators and the 1:9 mixed sampler.

Submodules are imported on first use (PEP 562): the readers and ``data check`` do not need torch.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "LabelledSet": "labelset",
    "multi_hot": "labelset",
    "one_hot": "labelset",
    "read_manifest": "manifest",
    "MixedBatch": "sampler",
    "MixedBatchSampler": "sampler",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'noisereg.data' has no attribute '{name}'")
