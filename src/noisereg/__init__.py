"""noisereg: weakly supervised image classification through noise regularization (Hu et al., CVPR 2019).

A clean net and a residual net share a backbone: g = sigmoid(c) learns the clean labels of a small
clean set, h = sigmoid(r + c) the noisy labels of a massive noisy set, and the residual net absorbs
the noise so that g can use the reliable part of the noisy data.
"""

from importlib import import_module
from typing import Any

# Public names -> the module that defines them. Imported on first use (PEP 562), so reading a
# dataset (`noisereg data check`) does not pay for importing torch.
_EXPORTS = {
    "TrainConfig": "config",
    "load_config": "config",
    "LabelledSet": "data.labelset",
    "MixedBatchSampler": "data.sampler",
    "read_manifest": "data.manifest",
    "open_dataset": "data.sources",
    "list_layouts": "data.sources",
    "UserError": "errors",
    "TrainingDiverged": "errors",
    "create_method": "methods",
    "list_methods": "methods",
    "register_method": "methods",
    "ap_all": "metrics",
    "mean_average_precision": "metrics",
    "top1_accuracy": "metrics",
    "create_backbone": "models.backbones",
    "list_backbones": "models.backbones",
    "NoiseRegClassifier": "estimator",
    "tune": "tuning",
    "ExperimentConfig": "experiment",
    "load_experiment": "experiment",
    "run_experiment": "experiment",
    "evaluate": "train",
    "fit": "train",
    "load_classifier": "train",
    "predict_logits": "train",
    "find_label_issues": "label_issues",
    "write_corrected_manifest": "label_issues",
}

# The one place the version is written: the installed metadata gets it from here (pyproject.toml's dynamic
# version, read statically at install), and so does `noisereg --version`; tests/test_packaging.py checks.
__version__ = "0.1.0"
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # kept: later look-ups, and tools reading the namespace (pdoc), find it there
        return value
    raise AttributeError(f"module 'noisereg' has no attribute '{name}'")
