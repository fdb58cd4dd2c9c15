"""The API reference (`make docs`: docs/build_api.py, pdoc) builds and documents every public name."""

import html
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import noisereg

pytest.importorskip("pdoc")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference built as `make docs` builds it, in a fresh interpreter (nothing imported beforehand)."""
    out = tmp_path_factory.mktemp("api")
    run = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build_api.py"), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0 and run.stdout.strip() == str(out / "index.html"), run.stderr
    assert "does not resolve" not in run.stderr and "Couldn't import" not in run.stderr, run.stderr
    return out


def _section(page: str, name: str) -> str:
    """The text of the HTML section pdoc writes for ``name`` ('' when there is none)."""
    start = page.find(f'<section id="{name}">')
    if start < 0:
        return ""
    end = page.find("<section id=", start + 1)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page[start : end if end > 0 else None])).split())


def _words(text: str) -> str:
    return " ".join(re.findall(r"[A-Za-z0-9]+", text))


def test_the_package_page_documents_every_public_name_with_its_docstring(reference):
    page = (reference / "noisereg.html").read_text(encoding="utf-8")
    for name in noisereg.__all__:
        obj = getattr(noisereg, name)
        section = _section(page, name)
        assert section, f"noisereg.{name} is not in the reference"
        expected = noisereg.__version__ if isinstance(obj, str) else inspect.getdoc(obj).splitlines()[0]
        assert _words(expected) in _words(section), f"noisereg.{name}: its docstring is not in the reference"


def test_each_public_name_is_also_on_the_page_of_the_module_that_defines_it(reference):
    for name in noisereg.__all__:
        module = getattr(getattr(noisereg, name), "__module__", "")
        if module.startswith("noisereg."):
            page = reference / (module.replace(".", "/") + ".html")
            assert page.is_file(), f"{module} (noisereg.{name}) has no page"
            assert _section(page.read_text(encoding="utf-8"), name), f"{name} is not on {module}'s page"
