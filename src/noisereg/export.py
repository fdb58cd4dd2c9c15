"""Export a trained classifier for deployment: ONNX (onnxruntime) or TorchScript.

The exported graph maps a float32 batch (N, C, S, S) of images already preprocessed as recorded in
the checkpoint (turn the image upright by its EXIF orientation tag, resize the short side to the
recorded resize with the recorded interpolation, centre crop S x S, scale pixels to [0, 1], subtract
``mean`` and divide by ``std`` per channel) to what ``predict`` reports (N, K): for multi-label models g's
class probabilities, sigmoid(c) per class (eq. 2); for single-label models g's rows divided by their sum
(each row sums to one; the same as ``predict_proba``). Softmax methods give softmax(c) either way.
A model trained on features takes (N, D) features.
The preprocessing, classes and multi-label thresholds are written into the ONNX metadata (and the
TorchScript file's extra files) and into a ``.json`` beside the exported file.

ONNX needs the optional extra: ``pip install 'noisereg[export]'`` (onnx, onnxruntime, onnxscript).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data.images import Preprocess, eval_transform
from .errors import UserError
from .safe_io import atomic_write, output_file, write_json
from .train import Classifier, load_classifier

FORMATS = ("onnx", "torchscript")
EXTENSIONS = {"onnx": (".onnx",), "torchscript": (".pt", ".pth", ".torchscript")}  # what each format is saved as
INPUT, OUTPUT = "images", "g"


class GProbabilities(nn.Module):
    """The deployable classifier: preprocessed inputs (N, C, S, S) or features (N, D) -> (N, K) scores,
    those ``predict`` reports: g (multi-label), or g's rows normalised to sum to one (``normalise``,
    single-label), so an exported model and ``predict`` give the same numbers."""

    def __init__(self, model: Classifier, normalise: bool) -> None:
        super().__init__()
        self.model, self.normalise = model, normalise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.model.method.probabilities(self.model(x)["logits"])
        return g / g.sum(1, keepdim=True).clamp_min(1e-12) if self.normalise else g


def deployment_info(meta: dict[str, Any]) -> dict[str, Any]:
    """What a deployment needs besides the graph: the input's shape and preprocessing, the output's
    meaning, the classes and (multi-label) the thresholds chosen on validation."""
    pre = Preprocess.from_dict(meta["preprocess"])
    features = meta.get("backbone") == "features"
    shape = ["N", int(meta["feature_dim"])] if features else ["N", pre.channels, pre.image_size, pre.image_size]
    info: dict[str, Any] = {"input": {"name": INPUT, "dtype": "float32", "shape": shape}}
    if not features:
        info["input"].update(
            layout="NCHW",
            orientation="apply the image's EXIF orientation tag first, "
            "before resizing (PIL.ImageOps.exif_transpose): phone photos are stored sideways",
            resize_short_side=pre.resize,
            interpolation=pre.interpolation,
            center_crop=pre.image_size,
            scale="pixels / 255",
            mean=list(pre.mean),
            std=list(pre.std),
            transform=" -> ".join(type(t).__name__ for t in eval_transform(pre).transforms),
        )
    multi = bool(meta.get("multi_label", False))
    info["output"] = {
        "name": OUTPUT,
        "shape": ["N", len(meta["classes"])],
        "meaning": (
            "g's class probabilities (the clean net's classifier), one per class: compare with the thresholds"
            if multi
            else "g's class probabilities (the clean net's classifier) divided by their row sum, so each "
            "row sums to one: the numbers `noisereg predict` reports"
        ),
    }
    info.update(
        classes=list(meta["classes"]),
        multi_label=multi,
        thresholds=meta.get("thresholds"),
        method=meta["config"]["method"],
        backbone=meta.get("backbone"),
    )
    return info


def _example(info: dict[str, Any]) -> torch.Tensor:
    """A batch of two inputs of the recorded shape (two, so the batch axis stays dynamic)."""
    return torch.zeros([2, *info["input"]["shape"][1:]], dtype=torch.float32)


def export_model(checkpoint: str | Path, out: str | Path, *, format: str = "onnx") -> dict[str, Any]:
    """Export the checkpoint's g as ``format`` to ``out``, with ``<out stem>.json`` beside it.

    Returns:
        The deployment info written to the JSON (input, output, classes, thresholds).
    """
    if format not in FORMATS:
        raise UserError(f"export format '{format}' is not one of {list(FORMATS)}")
    if Path(out).suffix.lower() not in EXTENSIONS[format]:
        raise UserError(
            f"--out {out}: {format} is written to a file ending in {' or '.join(EXTENSIONS[format])}, "
            f"not {Path(out).suffix or 'no extension'}"
        )
    model, meta = load_classifier(checkpoint)
    info = deployment_info(meta)
    wrapped, out = GProbabilities(model, normalise=not info["multi_label"]).eval(), output_file(out)
    writer = _onnx if format == "onnx" else _torchscript
    atomic_write(out, lambda tmp: writer(wrapped, _example(info), Path(tmp), info))
    write_json(out.with_suffix(".json"), info, indent=1)
    return info


def _onnx(model: nn.Module, example: torch.Tensor, out: Path, info: dict[str, Any]) -> None:
    """torch.onnx (dynamo) export with a dynamic batch axis; ``info`` goes into the metadata."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError:
        raise UserError("ONNX export needs the export extra: pip install 'noisereg[export]'") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(out),
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            dynamo=True,
            verbose=False,
            external_data=False,
        )
    graph = onnx.load(str(out))
    props = {"noisereg": json.dumps(info), "classes": json.dumps(info["classes"])}
    props.update(
        {
            k: json.dumps(v)
            for k, v in info["input"].items()
            if k in ("mean", "std", "resize_short_side", "interpolation", "center_crop", "shape", "orientation")
        }
    )
    onnx.helper.set_model_props(graph, props)
    onnx.save(graph, str(out))


def _torchscript(model: nn.Module, example: torch.Tensor, out: Path, info: dict[str, Any]) -> None:
    """A traced TorchScript module; ``info`` is stored as its extra file ``noisereg.json``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in favour of torch.export
        traced = torch.jit.trace(model, example)
        torch.jit.save(traced, str(out), _extra_files={"noisereg.json": json.dumps(info)})
