"""Data model, manifest reader, noise generators, the mixed sampler and the demo tasks."""
from .labelset import LabelledSet, multi_hot, one_hot
from .manifest import read_manifest
from .sampler import MixedBatch, MixedBatchSampler

__all__ = ["LabelledSet", "multi_hot", "one_hot", "read_manifest", "MixedBatch", "MixedBatchSampler"]
