"""Images into backbone-ready tensors: the preprocessing a backbone expects, file decoding with errors
that name the file, and the inputs of index batches from pixels, features or files."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ..errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How images must be prepared for a backbone: square size, channels, normalisation."""

    image_size: int
    channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        return cls(image_size=int(d["image_size"]), channels=int(d["channels"]),
                   mean=tuple(d["mean"]), std=tuple(d["std"]))


def load_image(path: str | Path, channels: int = 3) -> Image.Image:
    """Open and fully decode an image as RGB (or L for one channel)."""
    try:
        with Image.open(path) as im:
            return im.convert("L" if channels == 1 else "RGB")
    except FileNotFoundError:
        raise UserError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UserError(f"cannot read image {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def image_to_tensor(image: Image.Image, pre: Preprocess) -> torch.Tensor:
    """PIL image -> normalised float tensor (C, S, S): resize the short side, centre crop."""
    s = pre.image_size
    w, h = image.size
    scale = s / min(w, h)
    image = image.resize((max(s, round(w * scale)), max(s, round(h * scale))), Image.BILINEAR)
    w, h = image.size
    left, top = (w - s) // 2, (h - s) // 2
    image = image.crop((left, top, left + s, top + s))
    arr = np.asarray(image, dtype=np.float32) / 255.0
    t = torch.from_numpy(arr).reshape(s, s, -1).permute(2, 0, 1)
    return normalise(t, pre)


def normalise(t: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """Scale [0, 1] pixels (C, H, W) or (N, C, H, W) to the backbone's range; repeats grey to RGB."""
    channel_dim = t.dim() - 3
    if t.shape[channel_dim] == 1 and pre.channels == 3:
        t = t.repeat_interleave(3, dim=channel_dim)
    shape = [1] * t.dim()
    shape[channel_dim] = -1
    mean = torch.tensor(pre.mean, dtype=t.dtype).view(shape)
    std = torch.tensor(pre.std, dtype=t.dtype).view(shape)
    return (t - mean) / std


def resize_batch(x: torch.Tensor, image_size: int) -> torch.Tensor:
    """Bilinear resize of an (N, C, H, W) batch to ``image_size`` (no-op when it already fits)."""
    if x.shape[-1] == image_size and x.shape[-2] == image_size:
        return x
    return F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)


class ImageFiles(torch.utils.data.Dataset):
    """Files -> preprocessed tensors, for a DataLoader; errors name the failing file."""

    def __init__(self, paths: Sequence[str], pre: Preprocess) -> None:
        self.paths = list(paths)
        self.pre = pre

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return image_to_tensor(load_image(self.paths[i], self.pre.channels), self.pre)


class _Batches:
    """Index arrays for a DataLoader's ``batch_sampler``, read once, as the loader asks for them."""

    def __init__(self, index_batches: Iterable[np.ndarray]) -> None:
        self.index_batches = index_batches

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self.index_batches)


def iter_inputs(images: Any, pre: Preprocess, index_batches: Iterable[np.ndarray], *,
                num_workers: int = 0, pin: bool = False) -> Iterator[torch.Tensor]:
    """Backbone inputs for each index batch: from a pixel tensor, a feature matrix, or image files.

    Args:
        images: (N, D) features (tensor, array or memmap), (N, C, H, W) [0, 1] pixels, or N file paths.
        index_batches: the rows of each batch (a list, or a generator consumed as batches are made).
    """
    if isinstance(images, torch.Tensor) and images.dim() == 2:       # features in memory (N, D)
        yield from (images[torch.as_tensor(b)] for b in index_batches)
    elif isinstance(images, np.ndarray):                              # feature cache memmap (N, D) fp16
        yield from (torch.from_numpy(images[b].astype(np.float32)) for b in index_batches)
    elif isinstance(images, torch.Tensor):                            # [0, 1] pixels (N, C, H, W)
        for b in index_batches:
            yield normalise(resize_batch(images[torch.as_tensor(b)], pre.image_size), pre)
    else:
        loader = torch.utils.data.DataLoader(ImageFiles(images, pre), batch_sampler=_Batches(index_batches),
                                             num_workers=num_workers, pin_memory=pin)
        yield from loader
