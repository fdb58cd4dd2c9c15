"""Write noisereg's API reference, generated from its docstrings by pdoc, into a folder (``make docs``).

``noisereg`` imports its public names on first use (PEP 562) and pdoc reads a module's own namespace,
so every name of ``noisereg.__all__`` is resolved first. The package's page then documents each public
name, and the page of each module that defines one adds that module's docstring and its other members.

Usage: ``python docs/build_api.py [OUT]`` (default ``docs/api``; open ``OUT/index.html``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pdoc
import pdoc.render

import noisereg


def public_modules() -> list[str]:
    """``noisereg`` and the modules that define its public names, in the order of ``noisereg.__all__``."""
    defined_in = (getattr(getattr(noisereg, name), "__module__", "") for name in noisereg.__all__)
    return list(dict.fromkeys(["noisereg", *(m for m in defined_in if m and m.startswith("noisereg."))]))


def build(out: Path) -> Path:
    """Write the HTML reference into ``out`` and return its ``index.html``."""
    pdoc.render.configure(docformat="google", footer_text=f"noisereg {noisereg.__version__}")
    pdoc.pdoc(*public_modules(), output_directory=out)
    return out / "index.html"


if __name__ == "__main__":
    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/api")))
