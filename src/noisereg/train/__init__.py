"""Training and evaluation: ``fit`` (the schemes), ``evaluate``, ``predict_logits``, ``load_classifier``.

``schemes.py`` runs the frozen and end-to-end schemes and resume; ``run.py`` a run's stages and phases;
``loop.py`` is the optimisation loop, calling the phase's callbacks in order (``callbacks.py``: evaluator,
selector and early stopper (``selection.py``), checkpointer, logger); ``batches.py`` builds the mixed
clean:noisy batches; ``evaluate.py`` scores a model; ``model.py`` builds the classifier from a config or a checkpoint.
"""

from .batches import iter_training_batches
from .evaluate import describe_thresholds, evaluate, f1_thresholds_on, predict_files, predict_logits
from .loop import make_optimizer, set_lr, train_loop
from .model import Classifier, build_backbone, load_classifier, stage_one_model, with_method
from .run import Run
from .schemes import FitResult, fit
from .selection import metric_name

__all__ = [
    "Classifier",
    "FitResult",
    "Run",
    "build_backbone",
    "describe_thresholds",
    "evaluate",
    "f1_thresholds_on",
    "fit",
    "iter_training_batches",
    "load_classifier",
    "make_optimizer",
    "metric_name",
    "predict_files",
    "predict_logits",
    "set_lr",
    "stage_one_model",
    "train_loop",
    "with_method",
]
