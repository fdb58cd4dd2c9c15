"""noisereg: weakly supervised image classification through noise regularization (Hu et al., CVPR 2019).

A clean net and a residual net share a backbone: g = sigmoid(c) learns the clean labels of a small
clean set, h = sigmoid(r + c) the noisy labels of a massive noisy set, and the residual net absorbs
the noise so that g can use the reliable part of the noisy data.
"""
from .config import TrainConfig, load_config
from .data import LabelledSet, MixedBatchSampler, read_manifest
from .errors import TrainingDiverged, UserError
from .methods import create_method, list_methods, register_method
from .metrics import ap_all, mean_average_precision, top1_accuracy
from .models import create_backbone, list_backbones
from .trainer import evaluate, fit, load_classifier

__version__ = "0.1.0"
__all__ = ["TrainConfig", "load_config", "LabelledSet", "MixedBatchSampler", "read_manifest", "UserError",
           "TrainingDiverged", "create_method", "list_methods", "register_method", "ap_all",
           "mean_average_precision", "top1_accuracy", "create_backbone", "list_backbones", "evaluate", "fit",
           "load_classifier", "__version__"]
