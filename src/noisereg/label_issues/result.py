"""The scored labels of a dataset, the cut-off that flags them, and the tables a user reads.

Single-label: one row per image with a noisy label. Multi-label: one row per (image, class) suspect,
``kind`` = ``spurious`` (a given class that is not there) or ``missing`` (a class that is there but not
given), or, with ``level="image"``, one row per image with the worst of its entries as its quality (as
cleanlab's multi-label ``label_quality``: an image is as suspect as its worst label). Column names follow
cleanlab's where they mean the same (``is_label_issue``, ``label_quality``, ``given_label``,
``predicted_label``); the index is the row in the manifest. Sorted worst first.

What is flagged follows one of ``RULES``: ``validation`` (a quality cut-off chosen on validation images),
``contradiction`` (the default without them: g contradicts the label with a margin, ``scores.contradicted``),
``threshold`` or ``top-k`` (the user's). A flagged label's suggestion is never the label itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UserError
from .scores import MARGIN, best_other, contradicted

if TYPE_CHECKING:
    import pandas as pd

RAW = ("g", "residual", "residual_logit", "posterior", "method")  # score columns, in this order
RULES = ("validation", "contradiction", "threshold", "top-k")  # what set the flags (``LabelScores.rule``)


@dataclass
class LabelScores:
    """Label qualities of the images that have a noisy label, and the cut-off below which they are issues.

    Attributes:
        classes: the K class names.
        rows: (N,) rows of the scored images in the manifest; ids: their paths (or ids).
        given: (N, K) noisy labels; predicted: (N, K) g's top class, or every class with g >= 0.5 for
            multi-label data (``suggested`` is what a flagged label is replaced by).
        scores: every available score (``scores.entry_scores``): (N,) or (N, K) label qualities.
        score: the one that ranks (``label_quality``).
        single_label: one label per image.
        cutoff: entries with a quality <= cutoff are label issues (nan under the contradiction rule, which
            is no quality cut-off); how: how they were chosen, naming the rule; rule: one of ``RULES``.
        probs: (N, K) g's probabilities (``scores.g_probs``), for the contradiction rule and suggestions.
        clean: (N, K) clean labels where known (``has_clean``), to say how many flags are right.
        val_auroc: how well ``score`` ranks the known wrong labels of the validation images (AUROC, 0.5 =
            chance; None without enough of them): the evidence for trusting the ranking, and for choosing
            between scores without touching the answer on the training labels.
    """

    classes: list[str]
    rows: np.ndarray
    ids: list[str]
    given: np.ndarray
    predicted: np.ndarray
    scores: dict[str, np.ndarray]
    score: str
    single_label: bool
    cutoff: float = 0.5
    how: str = "0.5"
    clean: np.ndarray | None = None
    has_clean: np.ndarray | None = None
    flags: np.ndarray | None = field(default=None, repr=False)
    val_auroc: float | None = None
    probs: np.ndarray | None = field(default=None, repr=False)
    rule: str = "threshold"

    @property
    def quality(self) -> np.ndarray:
        """(N,) or (N, K) label quality of the given labels (high = trustworthy)."""
        return self.scores[self.score]

    def image_quality(self) -> np.ndarray:
        """(N,) per image: its label's quality, or the worst of its entries (multi-label)."""
        return self.quality if self.single_label else self.quality.min(1)

    def is_issue(self) -> np.ndarray:
        """(N,) or (N, K) bool: the flagged labels (quality at or below the cut-off, or the top k)."""
        return self.flags if self.flags is not None else self.quality <= self.cutoff

    def with_top_k(self, k: int) -> LabelScores:
        """The same scores with exactly the ``k`` worst labels (images or entries) flagged."""
        if k < 1:
            raise UserError(f"--top-k must be >= 1, got {k}")
        q = self.quality.ravel()
        flags = np.zeros(q.shape, bool)
        flags[np.argsort(q, kind="stable")[:k]] = True
        cut = float(q[flags].max()) if flags.any() else 0.0
        return _replace(
            self, flags=flags.reshape(self.quality.shape), cutoff=cut, how=f"top {k} by {self.score}", rule="top-k"
        )

    def with_threshold(self, threshold: float) -> LabelScores:
        if not 0 <= threshold <= 1:
            raise UserError(f"--threshold must be in [0, 1], got {threshold}")
        return _replace(self, flags=None, cutoff=float(threshold), how=f"--threshold {threshold:g}", rule="threshold")

    def with_contradictions(self, margin: float = MARGIN, why: str = "") -> LabelScores:
        """The same scores with the labels g contradicts by more than ``margin`` flagged
        (``scores.contradicted``): the default when no validation images can choose a quality cut-off."""
        if self.probs is None:
            raise ValueError("the contradiction rule needs g's probabilities (LabelScores.probs)")
        flags = contradicted(self.probs, self.given, single_label=self.single_label, margin=margin)
        what = (
            "g's top class is not the given label and beats it"
            if self.single_label
            else "g's side of the (image, class) entry is not the given one and beats it"
        )
        return _replace(
            self,
            flags=flags,
            cutoff=float("nan"),
            rule="contradiction",
            how=f"contradiction default{f' ({why})' if why else ''}: {what} by more than {margin:g}",
        )

    def suggested(self) -> np.ndarray:
        """(N, K) the label a user is shown (``predicted_label``) and ``replace`` writes: g's ``predicted``,
        except that a flagged label is never suggested back: single-label, g's best class other than the
        given one; multi-label, the given classes with each flagged entry flipped (the spurious removed, the
        missing added). Without ``probs``, a flagged label g agrees with gets no suggestion (all zero)."""
        flags, out = self.is_issue(), np.array(self.predicted, dtype=np.float32, copy=True)
        if not self.single_label:
            image = flags.any(1)
            out[image] = ((self.given > 0.5) ^ flags)[image]
            return out
        same = flags & ((self.predicted > 0.5) & (self.given > 0.5)).any(1)
        out[same] = best_other(self.probs, self.given)[same] if self.probs is not None else 0.0
        return out

    def true_wrong(self) -> np.ndarray | None:
        """(N,) or (N, K) bool where the clean label is known and differs from the given one, else None."""
        if self.clean is None:
            return None
        wrong = self.clean != self.given
        return wrong.any(1) if self.single_label else wrong

    def issues(self, level: str = "auto") -> pd.DataFrame:
        """The table a user reads: ``auto`` = per image (single-label) or per suspect entry (multi-label);
        ``image`` = per image; ``entry`` = per (image, class) suspect."""
        if level not in ("auto", "image", "entry"):
            raise UserError(f"level '{level}' is not one of ['auto', 'image', 'entry']")
        if level == "entry" and self.single_label:
            level = "image"
        frame = self._images() if level == "image" or (level == "auto" and self.single_label) else self._entries()
        frame.attrs.update(
            cutoff=self.cutoff, cutoff_how=self.how, cutoff_rule=self.rule, score=self.score, val_auroc=self.val_auroc
        )
        return frame

    def _names(self, m: np.ndarray) -> list[str]:
        return [";".join(self.classes[k] for k in np.flatnonzero(row)) for row in m > 0.5]

    def _images(self) -> pd.DataFrame:
        import pandas as pd

        cols = {
            "path": self.ids,
            "given_label": self._names(self.given),
            "predicted_label": self._names(self.suggested()),
            "label_quality": self.image_quality(),
            "is_label_issue": _any(self.is_issue()),
        }
        if not self.single_label:
            flags = self.is_issue()
            cols["spurious"] = self._names(flags & (self.given > 0.5))
            cols["missing"] = self._names(flags & (self.given < 0.5))
        else:
            cols.update({k: self.scores[k] for k in RAW if k in self.scores})
        if self.clean is not None:
            cols["clean_label"] = [n if known else "" for n, known in zip(self._names(self.clean), self.has_clean)]
        frame = pd.DataFrame(cols, index=pd.Index(self.rows, name="row"))
        return frame.sort_values("label_quality", kind="stable")

    def _entries(self) -> pd.DataFrame:
        import pandas as pd

        i, k = np.nonzero(self.is_issue())
        suggested = self.suggested()
        cols = {
            "path": [self.ids[j] for j in i],
            "class": [self.classes[c] for c in k],
            "kind": np.where(self.given[i, k] > 0.5, "spurious", "missing"),
            "label_quality": self.quality[i, k],
            "is_label_issue": True,
            "image_label_quality": self.image_quality()[i],
            "given_label": [self._names(self.given[j : j + 1])[0] for j in i],
            "predicted_label": [self._names(suggested[j : j + 1])[0] for j in i],
        }
        cols.update({name: self.scores[name][i, k] for name in RAW if name in self.scores})
        if self.clean is not None:
            cols["clean_label"] = [self._names(self.clean[j : j + 1])[0] if self.has_clean[j] else "" for j in i]
        frame = pd.DataFrame(cols, index=pd.Index(self.rows[i], name="row"))
        return frame.sort_values("label_quality", kind="stable")


def _any(flags: np.ndarray) -> np.ndarray:
    return flags if flags.ndim == 1 else flags.any(1)


def _replace(s: LabelScores, **changes: Any) -> LabelScores:
    from dataclasses import replace

    return replace(s, **changes)
