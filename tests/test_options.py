"""The one loader of YAML/CLI options and the flags generated from the config dataclasses."""

import argparse
import dataclasses

import pytest

from noisereg.cli import build_parser, main
from noisereg.config import TrainConfig, load_config
from noisereg.errors import UserError
from noisereg.experiment import ExperimentConfig, load_experiment
from noisereg.options import add_flags, from_mapping, option


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("lr: fast\n", "'lr' must be a number, got 'fast'"),
        ("alpha: [1, 2]\n", "'alpha' must be a number"),
        ("steps: 1.5\n", "'steps' must be an integer"),
        ("alpah: 0.3\n", "did you mean 'alpha'"),
        ("scheme: frozn\n", "did you mean 'frozen'"),
        ("- a list\n", "must hold a mapping"),
        ("lr: [\n", "not valid YAML"),
    ],
)
def test_bad_train_yaml_is_one_clear_line(tmp_path, text, pattern):
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(UserError, match=pattern.replace("[", r"\[")):
        load_config(tmp_path / "c.yaml")


def test_yaml_numbers_written_as_strings_are_read_as_numbers(tmp_path):
    (tmp_path / "c.yaml").write_text("lr: 1e-3\nalpha: 1\n")  # YAML 1.1 reads 1e-3 as a string
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.lr == 1e-3 and cfg.alpha == 1.0 and isinstance(cfg.alpha, float)


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("methods: []\n", "the list is empty"),
        ("methods: [proposd]\n", "did you mean 'proposed'"),
        ("seeds: many\n", "'seeds' must be an integer"),
        ("colour: red\n", r"unknown experiment key\(s\) \['colour'\]"),
        ("train: {lr: fast}\n", "'lr' must be a number"),
        ("train: {stpes: 3}\n", "did you mean 'steps'"),
    ],
)
def test_bad_experiment_yaml_is_refused_before_any_work(tmp_path, text, pattern):
    (tmp_path / "e.yaml").write_text(text)
    with pytest.raises(UserError, match=pattern):
        load_experiment(str(tmp_path / "e.yaml"))


def test_every_cli_field_of_the_configs_is_a_flag():
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices
    train_flags = {o for a in sub["train"]._actions for o in a.option_strings}
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("cli"):
            assert (f.metadata.get("flag") or "--" + f.name.replace("_", "-")) in train_flags, f.name
    exp_flags = {o for a in sub["experiment"]._actions for o in a.option_strings}
    for f in dataclasses.fields(ExperimentConfig):
        if f.metadata.get("cli"):
            assert (f.metadata.get("flag") or "--" + f.name.replace("_", "-")) in exp_flags, f.name
    assert {"--lr", "--backbone-steps", "--epochs"} <= exp_flags  # training options of every run


def test_bad_experiment_config_file_from_the_cli(tmp_path, capsys):
    (tmp_path / "e.yaml").write_text("methods: [nope]\n")
    assert main(["experiment", "--config", str(tmp_path / "e.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("noisereg: error:") and "unknown method 'nope'" in err and "Traceback" not in err


def test_the_config_offers_exactly_the_heads_activations():
    from noisereg.config import ACTIVATION_NAMES
    from noisereg.models.heads import ACTIVATIONS

    assert set(ACTIVATION_NAMES) == set(ACTIVATIONS)


@dataclasses.dataclass
class _BothSpellings:
    old: int | None = option(None, "Optional[int]")
    new: int | None = option(None, "int | None")
    sizes: list[int] | None = option(None, "a list or nothing")


@pytest.mark.parametrize("field", ["old", "new"])
def test_optional_and_pipe_none_read_alike(field):
    """``X | None`` (what ruff's pyupgrade writes) is loaded, checked and made a flag as ``Optional[X]`` is."""
    assert getattr(from_mapping(_BothSpellings, {field: 3}), field) == 3
    assert getattr(from_mapping(_BothSpellings, {field: None}), field) is None
    with pytest.raises(UserError, match=f"'{field}' must be an integer"):
        from_mapping(_BothSpellings, {field: "three"})
    parser = argparse.ArgumentParser()
    add_flags(parser, _BothSpellings)
    assert getattr(parser.parse_args([f"--{field}", "7"]), field) == 7
    assert parser.parse_args(["--sizes", "1,2"]).sizes == [1, 2]
