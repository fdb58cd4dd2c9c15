"""Command line: ``noisereg demo | train | evaluate | predict | export | experiment | tune | report | methods |
find-label-issues | data | protocol``.

One parser and one small function per subcommand (``training.py``: what trains or evaluates a
classifier, ``train`` calling ``pipeline.train_run`` once; ``methods.py``: the method registry's facts;
``tuning.py``: the hyper-parameter searches; ``deploy.py``: what uses a trained one (predict,
export); ``issues.py``: what finds wrong labels; ``report.py``: the HTML report; ``data.py``: what reads
datasets), each calling one library function. Flags of the config dataclasses are generated from their fields.
User errors print one line (``noisereg: error: ...``) and exit with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Sequence

from noisereg import __version__  # the package root's version (no layer: importing it imports nothing else)

from ..allocator import tune_allocator
from ..errors import TrainingDiverged, UserError
from . import data, deploy, issues, methods, report, training, tuning
from .limits import apply_input_limits
from .parser import Parser, UsageError

# what the file system answers when a path given by the user cannot be read or written: a user error
USER_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.ENOENT,
    errno.ENOSPC,
    errno.ENAMETOOLONG,
    errno.ELOOP,
    errno.EDQUOT,
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="noisereg",
        description="Weakly supervised image classification through noise regularization (Hu et al., CVPR 2019).",
    )
    parser.add_argument("--version", action="version", version=f"noisereg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    training.add_commands(sub)
    methods.add_commands(sub)
    tuning.add_commands(sub)
    report.add_commands(sub)
    deploy.add_commands(sub)
    issues.add_commands(sub)
    data.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``noisereg`` console script."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as e:  # an unknown flag, a missing value: one line, with the nearest flag where one is close
        return _fail(str(e))
    func: Callable[[argparse.Namespace], int] = args.func
    tune_allocator()  # CPU forward passes (features, annotators, end-to-end training): allocator.py
    try:
        apply_input_limits(args)
        return func(args)
    except (UserError, TrainingDiverged) as e:
        if args.debug:
            raise
        lines = [s for s in str(e).strip().splitlines() if s.strip()]
        return _fail(lines[-1] if lines else type(e).__name__)
    except BrokenPipeError:  # the reader left (`noisereg methods | head`): stop quietly, as a shell tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail again
        return 141  # 128 + SIGPIPE
    except OSError as e:
        if args.debug or e.errno not in USER_ERRNOS:
            raise
        return _fail(f"cannot use {e.filename or 'a file'}: {e.strerror}")
    except KeyboardInterrupt:
        print("noisereg: interrupted", file=sys.stderr)
        return 130


def exit_process(code: int) -> None:
    """Leave the process with ``code`` once a command is done (the console script and ``python -m noisereg``).

    Under torchrun (``WORLD_SIZE`` > 1) the output is flushed and the process ends with ``os._exit``,
    skipping interpreter finalization: there torch's gloo teardown can abort a rank with SIGABRT
    ("terminate called without an active exception") after all its work is written, which torchrun
    reports as a failed job (seen here on many two-rank launches ending in ``noisereg evaluate``, and on none
    with this exit). Every file the commands write is closed by then.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def console() -> None:
    """The ``noisereg`` console script."""
    exit_process(main())


def _fail(line: str) -> int:
    print(f"noisereg: error: {line}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    console()
