"""The one chunked CSV reader: manifests and the OpenImages label files stream through it.

Large label files (OpenImages: 81M rows) are read in chunks of string cells with a bounded
memory footprint; every failure becomes one ``UserError`` line naming the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:
    import pandas as pd


def csv_chunks(
    path: str | Path,
    *,
    required: Sequence[str],
    chunk_rows: int,
    usecols: Sequence[str] | None = None,
    expected: str = "",
    kind: str = "file",
) -> Iterator[tuple[int, pd.DataFrame]]:
    """(line number of the chunk's first row, chunk of string cells) of a CSV file with a header.

    Args:
        required: columns that must be in the header (a missing one is an error naming it).
        chunk_rows: rows per chunk.
        usecols: read only these columns (default: all).
        expected: what the header should look like, for the error message.
        kind: what the file is, for the error message (``manifest not found: ...``).
    """
    import pandas as pd

    path = Path(path)
    what = f"; expected header {expected}" if expected else ""
    try:
        header = pd.read_csv(path, nrows=0, dtype=str).columns.tolist()
        missing = [c for c in required if c not in header]
        if missing:
            raise UserError(f"{path}: missing column(s) {missing}; found {header[:8]}{_spaced(header, missing)}{what}")
        line = 2
        for chunk in pd.read_csv(
            path, dtype=str, keep_default_na=False, chunksize=chunk_rows, usecols=list(usecols) if usecols else None
        ):
            yield line, chunk
            line += len(chunk)
    except FileNotFoundError:
        raise UserError(f"{kind} not found: {path}") from None
    except (IsADirectoryError, PermissionError) as e:
        what = "is a folder" if isinstance(e, IsADirectoryError) else "is not readable"
        raise UserError(f"cannot read {path}: it {what} (expected a CSV file)") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text CSV file") from None
    except pd.errors.ParserError as e:
        raise UserError(f"{path}: malformed CSV: {str(e).strip().splitlines()[-1]}") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: empty file{what}") from None


def _spaced(header: list[str], missing: list[str]) -> str:
    """A hint where a missing column is in the header with blanks around its name (``path, noisy, clean``)."""
    stripped = {str(c).strip() for c in header}
    return (
        " (names with blanks around them: write the header without spaces after the commas)"
        if any(c in stripped for c in missing)
        else ""
    )
