"""Safe output writing, shared by every command that writes a file: nothing lost, nothing overwritten
by accident, nothing written outside the output folder.

- ``atomic_write`` writes under a unique temporary name in the target's folder (``mkstemp``: created
  exclusively, so an attacker's symlink there is never followed) and renames it onto the target: a
  reader sees the old file or the new one, never half of one, and a symlink at the target is
  replaced, not followed;
- ``output_dir`` creates an output folder and turns every reason it cannot be written into one
  ``UserError`` naming the flag and the path; ``child_dir`` refuses a subfolder that is a symlink;
- ``OutputLock`` is a lock file per output folder (``fcntl.flock``: released by the kernel when the
  holder dies, so a killed run never leaves a stale lock); the second run on a folder is refused,
  naming the process that holds it;
- ``sha256_file`` checksums files (checkpoint sets record and verify them).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import UserError

TMP_SUFFIX = ".tmp"
LOCK_FILE = ".noisereg.lock"
_HELD: dict[str, int] = {}  # folder -> depth of this process's nested OutputLocks


def unique_tmp(final: Path) -> Path:
    """A new empty file beside ``final`` with a unique name (``.<name>.<random>.tmp``), created exclusively."""
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=TMP_SUFFIX, dir=final.parent)
    os.close(fd)
    return Path(name)


def atomic_write(path: str | Path, writer: Callable[[str], Any], *, fsync: bool = False) -> Path:
    """Call ``writer(tmp_path)`` then rename the temporary file onto ``path`` (replacing a symlink there,
    never following it); on any failure the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    tmp = unique_tmp(path)
    try:
        writer(str(tmp))
        if fsync:
            _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """``path.write_text(text)`` (UTF-8) through ``atomic_write``."""
    return atomic_write(path, lambda p: Path(p).write_text(text, encoding="utf-8"))


def write_json(path: str | Path, obj: Any, **dumps: Any) -> Path:
    """``obj`` as JSON through ``atomic_write``."""
    return write_text(path, json.dumps(obj, **dumps))


def write_csv(path: str | Path, rows: list[dict[str, Any]], columns: list[str]) -> Path:
    """Dict rows as CSV with a header of ``columns`` (keys outside them ignored), through ``atomic_write``."""
    import csv

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    return atomic_write(path, write)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make renames inside ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        _fsync(folder)
    except OSError:
        pass


def output_dir(path: str | Path, what: str = "--out") -> Path:
    """Create the output folder ``path`` (and its parents) and check that it can be written.

    Raises:
        UserError: a file stands where the folder should be, a parent is read-only, ... (one line
            naming ``what`` and the path).
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"{what} {path}: a file exists where a folder should be") from None
    except OSError as e:
        raise UserError(f"{what} {path}: cannot create the folder ({e.strerror})") from None
    if not path.is_dir():
        raise UserError(f"{what} {path}: a file exists where a folder should be")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path}: the folder is not writable")
    return path


def output_file(path: str | Path, what: str = "--out") -> Path:
    """The file ``path`` to be written: its folder created and writable, and not a folder itself."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path}: is a folder, expected a file name")
    output_dir(path.parent if str(path.parent) else Path("."), what=f"{what} {path}: folder")
    return path


def child_dir(parent: Path, name: str) -> Path:
    """``parent/name`` as a real folder inside ``parent`` (created); a symlink there is refused, so
    writes never follow it out of the output folder."""
    path = parent / name
    if path.is_symlink():
        raise UserError(f"{path} is a symlink; noisereg writes only into real folders inside the output folder")
    path.mkdir(exist_ok=True)
    return path


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class OutputLock:
    """An exclusive lock on an output folder for the life of one run (``with OutputLock(out): ...``).

    A second process that tries to lock the folder gets a ``UserError`` naming the holder (pid, host,
    start time). The same process may nest locks on one folder (``train`` locks it, then ``fit`` does).
    On systems without ``fcntl`` the lock is a no-op.
    """

    def __init__(self, folder: str | Path, what: str = "--out") -> None:
        self.folder, self.what = Path(folder), what
        self.key = os.path.realpath(self.folder)
        self.fd: int | None = None

    def __enter__(self) -> OutputLock:
        if _HELD.get(self.key):
            _HELD[self.key] += 1
            return self
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        output_dir(self.folder, self.what)
        path = self.folder / LOCK_FILE
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as e:
            raise UserError(f"{self.what} {self.folder}: cannot create the lock file {path} ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UserError(
                    f"{self.what} {self.folder} is in use by another run ({holder}); wait for it "
                    "to end or choose another folder"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0
        )
        self.fd = fd
        _HELD[self.key] = 1
        return self

    def __exit__(self, *exc: Any) -> None:
        depth = _HELD.get(self.key, 0)
        if depth > 1:
            _HELD[self.key] = depth - 1
            return
        _HELD.pop(self.key, None)
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock; the file stays (removing it would race)
            self.fd = None


@contextlib.contextmanager
def undo_on_refusal(folder: str | Path, keep: Callable[[Path], bool] = lambda p: False) -> Iterator[None]:
    """Leave ``folder`` as it was found when the body raises ``UserError`` (a refused run): the entries it
    added (config.yaml, metrics.csv, the lock file, ...) are removed, and the folder itself when the body
    created it. Files that were there before are kept as they are; nothing is removed when ``keep(folder)``
    (a checkpoint that a ``--resume`` could continue)."""
    path = Path(folder)
    before = set(os.listdir(path)) if path.is_dir() else None
    try:
        yield
    except UserError:
        if path.is_dir() and not keep(path):
            for name in set(os.listdir(path)) - (before or set()):
                entry = path / name
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink(missing_ok=True)
            if before is None and not any(path.iterdir()):
                path.rmdir()
        raise
