"""What pip reads: the licence, the one version, and dependency floors that the tested versions satisfy.

"Tested" is what `make test` installs: constraints.txt, and the torch / torchvision the Makefile pins.
"""

import re
import shutil
import subprocess
import sys
import tomllib
import warnings
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

import noisereg

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
# the extras `make test` does not install, so nothing checks their floors (none today)
UNTESTED_EXTRAS: set[str] = set()


def _tested_versions() -> dict[str, Version]:
    """Package -> the version `make test` installs (constraints.txt; torch and torchvision from the Makefile)."""
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "constraints.txt").read_text(), flags=re.M)
    pins += re.findall(r'"(torch|torchvision)==([^"]+)"', (ROOT / "Makefile").read_text())
    return {canonicalize_name(name): Version(v) for name, v in pins}


def _requirements() -> list[Requirement]:
    extras = PROJECT["optional-dependencies"]
    return [Requirement(r) for r in PROJECT["dependencies"]] + [
        Requirement(r) for name, reqs in extras.items() if name not in UNTESTED_EXTRAS for r in reqs
    ]


def test_the_licence_is_an_spdx_expression_with_its_text():
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and "Copyright 2026 the noisereg authors" in text
    assert not any(c.startswith("License ::") for c in PROJECT.get("classifiers", []))  # PEP 639: one or the other
    (setuptools,) = [Requirement(r) for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    assert Version("76.99") not in setuptools.specifier  # 77 is the first to read the SPDX form


def test_setuptools_reads_it_without_a_warning(monkeypatch):
    """What `pip install -e .` sees: no deprecated field, and the version taken from noisereg.__version__."""
    setuptools = pytest.importorskip("setuptools")
    if Version(setuptools.__version__) < Version("77"):
        pytest.skip(f"setuptools {setuptools.__version__} predates the SPDX licence form")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    monkeypatch.chdir(ROOT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metadata = apply_configuration(Distribution(), "pyproject.toml").metadata
    assert (metadata.version, metadata.license_expression) == (noisereg.__version__, "Apache-2.0")


def test_the_version_is_written_once_and_everything_agrees():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "noisereg.__version__"}
    script = shutil.which("noisereg", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "noisereg"]
    out = subprocess.run([*command, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"noisereg {noisereg.__version__}" == f"noisereg {version('noisereg')}"


def test_torch_and_torchvision_have_floors_and_no_upper_pins():
    """Patch releases install; constraints.txt and the Makefile pin what the tests run with."""
    reqs = {r.name: r for r in map(Requirement, PROJECT["dependencies"])}
    for name in ("torch", "torchvision"):
        operators = {s.operator for s in reqs[name].specifier}
        assert operators == {">="}, f"{reqs[name]}: only a floor, no {operators - {'>='}}"


def test_every_floor_is_the_tested_release_series():
    """The tested and the installed versions satisfy every requirement, and no floor lies below the tested
    release (X.Y): an older one would be claimed without ever being installed by the tests."""
    tested = _tested_versions()
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in tested, f"{req}: not installed by make test (pin it in constraints.txt)"
        for what, v in (("tested", tested[name]), ("installed", Version(version(req.name)))):
            assert req.specifier.contains(v, prereleases=True), f"{req}: {what} version {v} does not satisfy it"
        for spec in req.specifier:
            if spec.operator == ">=":
                series = Version(f"{tested[name].major}.{tested[name].minor}")
                assert Version(spec.version) >= series, f"{req}: floor below the tested {tested[name]}; raise it"
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in SpecifierSet(PROJECT["requires-python"])
