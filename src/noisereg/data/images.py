"""Images into backbone-ready tensors: the preprocessing a backbone expects (torchvision transforms v2),
the augmentation of end-to-end training, and the inputs of index batches from pixels, features or files
(decoded by ``decode.load_image``, whose errors name the file)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from ..errors import UserError
from .decode import load_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How images must be prepared for a backbone: the short side resized to ``resize_size`` with
    ``interpolation`` (a torchvision ``InterpolationMode`` value), a centre crop of ``image_size`` x
    ``image_size``, channels, normalisation. ``resize_size`` 0 resizes to ``image_size`` itself, as
    every checkpoint written before the resize was recorded did."""

    image_size: int
    channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    resize_size: int = 0
    interpolation: str = "bilinear"

    @property
    def resize(self) -> int:
        """The short side's length before the centre crop."""
        return self.resize_size or self.image_size

    def to_dict(self) -> dict:
        """The fields, leaving out a resize equal to the crop and bilinear interpolation (the defaults),
        so a checkpoint or feature-cache key of a backbone that has neither reads as it always did."""
        d = asdict(self)
        if self.resize == self.image_size:
            del d["resize_size"]
        if self.interpolation == "bilinear":
            del d["interpolation"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        return cls(
            image_size=int(d["image_size"]),
            channels=int(d["channels"]),
            mean=tuple(d["mean"]),
            std=tuple(d["std"]),
            resize_size=int(d.get("resize_size", 0)),
            interpolation=str(d.get("interpolation", "bilinear")),
        )


def eval_transform(pre: Preprocess) -> v2.Compose:
    """PIL image -> normalised float tensor (C, S, S), as evaluation, feature extraction, prediction and
    export expect it: resize the short side to ``pre.resize`` (the backbone's resize, S for most),
    centre crop S x S, scale to [0, 1], normalise."""
    resize = v2.Resize(pre.resize, interpolation=v2.InterpolationMode(pre.interpolation), antialias=True)
    return v2.Compose([resize, v2.CenterCrop(pre.image_size), *_to_input(pre)])


def train_transform(pre: Preprocess) -> v2.Compose:
    """The standard augmentation of end-to-end training (``--augment``): a random resized crop (8-100%
    of the area, aspect 3:4-4:3) to S x S and a horizontal flip, then the same scaling as
    ``eval_transform``."""
    crop = v2.RandomResizedCrop(pre.image_size, interpolation=v2.InterpolationMode(pre.interpolation), antialias=True)
    return v2.Compose([crop, v2.RandomHorizontalFlip(), *_to_input(pre)])


def _to_input(pre: Preprocess) -> list[Any]:
    """PIL -> float [0, 1] tensor -> the backbone's channels and normalisation."""
    return [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        *([v2.RGB()] if pre.channels == 3 else []),
        v2.Normalize(list(pre.mean), list(pre.std)),
    ]


def image_to_tensor(image: Image.Image, pre: Preprocess) -> torch.Tensor:
    """PIL image -> normalised float tensor (C, S, S) by ``eval_transform``."""
    return eval_transform(pre)(image)


def normalise(t: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """Scale [0, 1] pixels (C, H, W) or (N, C, H, W) to the backbone's range; grey becomes RGB."""
    if pre.channels == 3 and t.shape[-3] == 1:
        t = v2.functional.grayscale_to_rgb(t)
    return v2.functional.normalize(t, list(pre.mean), list(pre.std))


def resize_batch(x: torch.Tensor, image_size: int) -> torch.Tensor:
    """Bilinear resize of an (N, C, H, W) batch to ``image_size`` (no-op when it already fits)."""
    if x.shape[-1] == image_size and x.shape[-2] == image_size:
        return x
    return v2.functional.resize(x, [image_size, image_size], antialias=False)


def seeded(transform: Callable[[Any], torch.Tensor], x: Any, seed: int) -> torch.Tensor:
    """``transform(x)`` with torch's random state seeded by ``seed`` and restored afterwards, so an
    augmented batch is a pure function of (seed, step), in any worker process and on resume."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return transform(x)


def sample_seeds(batch_seed: int, n: int, start: int = 0) -> list[int]:
    """One augmentation seed per sample of a batch: those of its rows ``start`` to ``start + n`` (a rank's
    block of the global batch under torchrun gets the seeds its rows get in one process)."""
    return np.random.SeedSequence(batch_seed).generate_state(start + n)[start:].tolist()


class ImageFiles(torch.utils.data.Dataset):
    """Files -> preprocessed tensors, for a DataLoader.

    An item is a row index, or (row, seed) to augment the image with ``train_transform`` under that
    seed. With ``report_errors`` an unreadable file gives (zeros, its error) instead of raising, so
    prediction over many files goes on; otherwise errors name the failing file.
    """

    def __init__(self, paths: Sequence[str], pre: Preprocess, *, report_errors: bool = False) -> None:
        self.paths, self.pre, self.report_errors = list(paths), pre, report_errors
        self.eval, self.train = eval_transform(pre), train_transform(pre)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, item: int | tuple[int, int]) -> Any:
        i, seed = item if isinstance(item, tuple) else (item, None)
        try:
            image = load_image(self.paths[i], self.pre.channels)
        except UserError as e:
            if not self.report_errors:
                raise
            s = self.pre.image_size
            return torch.zeros(self.pre.channels, s, s), str(e)
        x = self.eval(image) if seed is None else seeded(self.train, image, seed)
        return (x, "") if self.report_errors else x


class _Batches:
    """Index arrays for a DataLoader's ``batch_sampler``, read once, as the loader asks for them."""

    def __init__(self, index_batches: Iterable[Any]) -> None:
        self.index_batches = index_batches

    def __iter__(self) -> Iterator[list[Any]]:
        return (b.tolist() if isinstance(b, np.ndarray) else list(b) for b in self.index_batches)


def iter_inputs(
    images: Any,
    pre: Preprocess,
    index_batches: Iterable[np.ndarray],
    *,
    num_workers: int = 0,
    pin: bool = False,
    augment_seeds: Sequence[int] | None = None,
    first_row: int = 0,
) -> Iterator[torch.Tensor]:
    """Backbone inputs for each index batch: from a pixel tensor, a feature matrix, or image files.

    Args:
        images: (N, D) features (tensor, array or memmap), (N, C, H, W) [0, 1] pixels, or N file paths.
        index_batches: the rows of each batch (a list, or a generator consumed as batches are made).
        augment_seeds: one seed per batch to augment its images with ``train_transform`` (training
            only; features cannot be augmented and are passed through).
        first_row: where each index batch starts in its global batch (a rank's block; 0 in one process),
            so that its images are augmented as one process augments them.
    """
    if isinstance(images, torch.Tensor) and images.dim() == 2:  # features in memory (N, D)
        yield from (images[torch.as_tensor(b)] for b in index_batches)
    elif isinstance(images, np.ndarray):  # feature cache memmap (N, D) fp16
        yield from (torch.from_numpy(images[b].astype(np.float32)) for b in index_batches)
    elif isinstance(images, torch.Tensor):  # [0, 1] pixels (N, C, H, W)
        crop = v2.Compose([v2.RandomResizedCrop(pre.image_size, antialias=True), v2.RandomHorizontalFlip()])
        for j, b in enumerate(index_batches):
            x = images[torch.as_tensor(b)]
            if augment_seeds is not None:
                seeds = sample_seeds(augment_seeds[j], len(b), first_row)
                x = torch.stack([seeded(crop, xi, s) for xi, s in zip(x, seeds)])
            yield normalise(resize_batch(x, pre.image_size), pre)
    else:
        items = (
            index_batches
            if augment_seeds is None
            else [
                list(zip(b.tolist(), sample_seeds(seed, len(b), first_row)))
                for b, seed in zip(index_batches, augment_seeds)
            ]
        )
        loader = torch.utils.data.DataLoader(
            ImageFiles(images, pre), batch_sampler=_Batches(items), num_workers=num_workers, pin_memory=pin
        )
        yield from loader
