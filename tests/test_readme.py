"""The README's "Your own photos" section runs verbatim (its shell commands through the CLI entry point,
its Python block as written) on a small folder of real images."""

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import write_image_folders

from noisereg.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    return text[start : text.index("\n## ", start + 1)]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def _commands(block: str) -> list[list[str]]:
    """Shell lines (backslash continuations joined) as argument lists."""
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_section_has_the_four_steps():
    (bash,) = _blocks(_section("Your own photos"), "bash")
    expected = [["noisereg", c] for c in ("train", "evaluate", "predict", "export")]
    assert [argv[:2] for argv in _commands(bash)] == expected


@pytest.mark.slow
def test_your_own_photos_runs_verbatim(tmp_path, monkeypatch, capsys):
    write_image_folders(tmp_path / "photos", {"noisy": 20, "clean": 4, "test": 4}, side=48)
    monkeypatch.chdir(tmp_path)
    section = _section("Your own photos")
    for argv in _commands(_blocks(section, "bash")[0]):
        assert main(argv[1:]) == 0, argv
    out = capsys.readouterr().out
    assert "val top1" in out and "test (12 images): mAP" in out
    predictions = pd.read_csv("runs/photos/predictions.csv", keep_default_na=False)
    assert len(predictions) == 12 and list(predictions.columns) == ["path", "predicted", "0", "1", "7", "error"]
    assert Path("runs/photos/model.onnx").stat().st_size > 1e6 and Path("runs/photos/model.json").is_file()

    (python,) = _blocks(section, "python")
    exec(compile(python, str(README), "exec"), {})
    score = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert 1 / 3 < score <= 1 and Path("runs/photos-api/model.safetensors").is_file()
