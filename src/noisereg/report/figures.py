"""The report's plots (matplotlib), each returned as a ``data:image/png`` URI the HTML inlines.

Training curves (train loss and the validation metric against the step, one line per method), per-class
AP bars and the confusion matrix. Every function closes its figure.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd

MAX_BARS = 40  # classes shown in the per-class AP chart (the lowest AP first when there are more)
MAX_CONFUSION = 30  # classes shown in the confusion matrix (those with the most errors when there are more)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def png_data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI (what the report inlines instead of linking a file)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_uri(fig: Any, dpi: int = 110) -> str:
    """The figure as a base64 PNG ``data:`` URI (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    _pyplot().close(fig)
    return png_data_uri(buf.getvalue())


def curves_figure(curves: pd.DataFrame, metric_of: dict[str, str], *, x: str = "step") -> str | None:
    """One row of two panels per ``panel`` value: the training loss (a rolling mean over a twentieth of
    the steps) and the panel's validation metric ``metric_of[panel]`` (%) against ``x`` (the step, or
    the demo's step counted from the start of stage one), one colour per ``method``."""
    if curves.empty or "loss" not in curves:
        return None
    plt = _pyplot()
    panels = list(dict.fromkeys(curves["panel"]))
    methods = list(dict.fromkeys(curves["method"]))
    color = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    fig, axes = plt.subplots(len(panels), 2, figsize=(10, 3.1 * len(panels)), squeeze=False)
    for (ax_loss, ax_val), panel in zip(axes, panels):
        metric = metric_of.get(panel, "top1")
        key = f"val_{metric}"
        for method, part in curves[curves["panel"] == panel].groupby("method", sort=False):
            xs = part[x] if x in part else part["step"]
            window = max(1, len(part) // 20)
            ax_loss.plot(xs, part["loss"].rolling(window, min_periods=1).mean(), color=color[method], label=method)
            if key in part:
                ev = part[part[key].notna()]
                ax_val.plot(
                    ev[x] if x in ev else ev["step"], 100 * ev[key], marker=".", color=color[method], label=method
                )
            kept: Any = part["kept_step"].dropna() if "kept_step" in part and x == "step" else ()
            for ax in (ax_loss, ax_val) if len(kept) else ():  # the step whose weights the phase kept
                ax.axvline(float(kept.iloc[-1]), color=color[method], linestyle="--", linewidth=1)
        ax_loss.set(title=f"{panel}: training loss", xlabel="step", ylabel="loss (rolling mean)")
        ax_val.set(title=f"{panel}: validation {metric}", xlabel="step", ylabel=f"{metric} (%)")
        for ax in (ax_loss, ax_val):
            ax.grid(alpha=0.3)
        ax_val.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return png_uri(fig)


def per_class_ap_figure(classes: list[str], ap: dict[str, list[float | None]], featured: str) -> str:
    """Horizontal bars of each class's AP (%), ``featured``'s lowest at the top; other methods as dots.

    With more than ``MAX_BARS`` classes only ``featured``'s lowest-AP classes are drawn.
    """
    plt = _pyplot()
    mine = np.array([np.nan if a is None else a for a in ap[featured]], dtype=float)
    order = [k for k in np.argsort(np.nan_to_num(mine, nan=2.0), kind="stable") if not np.isnan(mine[k])][:MAX_BARS]
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.24 * len(order)))
    y = np.arange(len(order))
    ax.barh(y, 100 * mine[order], color="C0", alpha=0.8, label=featured)
    for i, (method, values) in enumerate((m, v) for m, v in ap.items() if m != featured):
        other = np.array([np.nan if a is None else a for a in values], dtype=float)
        ax.plot(100 * other[order], y, "o", ms=4, color=f"C{i + 1}", label=method)
    ax.set_yticks(y, [classes[k] for k in order])
    ax.set(xlabel="average precision (%)", xlim=(0, 100), ylim=(len(order) - 0.5, -0.5))  # lowest at the top
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    fig.tight_layout()
    return png_uri(fig)


def confusion_figure(classes: list[str], matrix: list[list[int]]) -> str:
    """Row-normalised confusion matrix (clean class x g's top-1), counts written when it is small."""
    plt = _pyplot()
    m = np.asarray(matrix, dtype=float)
    keep = np.arange(len(classes))
    if len(classes) > MAX_CONFUSION:
        errors = m.sum(1) - np.diag(m) + m.sum(0) - np.diag(m)
        keep = np.sort(np.argsort(-errors, kind="stable")[:MAX_CONFUSION])
        m = m[np.ix_(keep, keep)]
    share = m / np.clip(m.sum(1, keepdims=True), 1, None)
    side = 1.6 + 0.38 * len(keep)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    im = ax.imshow(100 * share, cmap="Blues", vmin=0, vmax=100)
    names = [classes[k] for k in keep]
    ax.set_xticks(range(len(keep)), names, rotation=60, ha="right")
    ax.set_yticks(range(len(keep)), names)
    ax.set(xlabel="g's top-1 class", ylabel="clean label")
    if len(keep) <= 15:
        for i in range(len(keep)):
            for j in range(len(keep)):
                if m[i, j]:
                    ax.text(
                        j,
                        i,
                        int(m[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black",
                    )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="% of the clean class")
    fig.tight_layout()
    return png_uri(fig)
