"""A scikit-learn estimator around ``fit``: ``NoiseRegClassifier(...)``, keywords: the ``TrainConfig`` fields.

It follows scikit-learn's conventions (``get_params`` / ``set_params`` / ``clone``, learned attributes ending
in ``_``), so it plugs into scikit-learn tools and into cleanlab's ``CleanLearning``, which clones it.

Data: ``fit(noisy=..., clean=...)`` takes image folders (ImageFolder or Hugging Face ``imagefolder`` layout),
manifests, ``LabelledSet``s or (features, labels) pairs; ``fit(X, y, clean=(X_clean, y_clean))`` trains on
features ``X`` whose labels ``y`` are noisy. ``predict`` & co. take image paths, a folder, a glob, a
``LabelledSet`` or a feature array.

``classifier.py`` holds the estimator (its parameters, ``fit``, ``save`` / ``load``); ``prediction.py`` what a
fitted one predicts, and how its probabilities come from the final classifier g.
"""

from .classifier import NoiseRegClassifier
from .prediction import NotFitted

__all__ = ["NoiseRegClassifier", "NotFitted"]
