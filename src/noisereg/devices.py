"""Device names as users spell them (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``), checked without importing
torch, so that a command refuses a misspelt ``--device`` before any work; ``distributed.resolve_device`` turns a
name into a ``torch.device`` where it is used and says when this machine lacks it."""

from __future__ import annotations

from .errors import UserError, did_you_mean

DEVICE_HELP = "auto (CUDA, then Apple's mps, then the CPU), cpu, cuda, cuda:N (GPU N) or mps"


def check_device_name(name: str) -> str:
    """``name`` when it spells a device noisereg can use (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``);
    otherwise a ``UserError`` naming it. Whether the device exists is checked where it is used."""
    head, sep, index = str(name).partition(":")
    if (head in ("auto", "cpu", "cuda", "mps") and not sep) or (head == "cuda" and sep and index.isdigit()):
        return str(name)
    raise UserError(f"device '{name}' is not one of {DEVICE_HELP}{did_you_mean(name, ['auto', 'cpu', 'cuda', 'mps'])}")
