"""OpenImages ImageIDs as numbers and back: 16 hex digits <-> uint64, vectorised, and the image paths they
name, so that 9M ids stay small arrays (``openimages.py`` reads the release with them)."""

from __future__ import annotations

import numpy as np

_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789abcdefABCDEF", np.uint8)] = np.r_[np.arange(16), np.arange(10, 16)]


def parse_ids(values: np.ndarray) -> np.ndarray:
    """16-hex-digit ImageIDs -> uint64; a malformed id yields the index of the first bad one as error."""
    text = np.asarray(values, dtype=str)
    long = np.flatnonzero(np.char.str_len(text) != 16)
    if len(long):
        raise ValueError(int(long[0]))
    try:
        raw = np.char.encode(text, "ascii").astype("S16")
    except UnicodeEncodeError:
        raise ValueError(next(i for i, v in enumerate(text) if not v.isascii())) from None
    digits = _HEX[raw.view(np.uint8).reshape(len(raw), 16)]
    bad = (digits == 255).any(axis=1)
    if bad.any():
        raise ValueError(int(np.flatnonzero(bad)[0]))
    out = np.zeros(len(raw), dtype=np.uint64)
    for j in range(16):
        out = (out << np.uint64(4)) | digits[:, j].astype(np.uint64)
    return out


def format_ids(ids: np.ndarray, block: int = 1 << 20) -> np.ndarray:
    """uint64 ids -> 'S16' zero-padded lower-case hex, vectorised in blocks (bounded temporaries)."""
    digits = np.frombuffer(b"0123456789abcdef", np.uint8)
    out = np.empty((len(ids), 16), np.uint8)
    for i in range(0, len(ids), block):
        part = ids[i : i + block]
        for j in range(16):
            out[i : i + block, j] = digits[((part >> np.uint64(4 * (15 - j))) & np.uint64(15)).astype(np.uint8)]
    return out.view("S16").ravel()


def image_paths(hex_ids: np.ndarray, is_val: np.ndarray) -> np.ndarray:
    """``train/<id>.jpg`` / ``validation/<id>.jpg`` as one fixed-width bytes array, built in place."""
    width = len(b"validation/") + 16 + len(b".jpg")
    out = np.zeros((len(hex_ids), width), np.uint8)
    ids = hex_ids.view(np.uint8).reshape(len(hex_ids), 16)
    for prefix, rows in ((b"train/", ~is_val), (b"validation/", is_val)):
        p = len(prefix)
        out[rows, :p] = np.frombuffer(prefix, np.uint8)
        out[rows, p : p + 16] = ids[rows]
        out[rows, p + 16 : p + 20] = np.frombuffer(b".jpg", np.uint8)
    return out.view(f"S{width}").ravel()
