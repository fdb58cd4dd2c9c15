"""The HTML report of a train run and of an experiment, opened in a real headless Chromium; the run logs
(metrics.csv, TensorBoard, evaluation lines) and progress output piped to a file."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tests.browser import assert_clean_page, open_report  # the `browser` fixture is in conftest.py
from tests.conftest import write_digit_folder

from noisereg.cli import main
from noisereg.config import TrainConfig
from noisereg.experiment import ExperimentConfig, run_experiment
from noisereg.progress import PlainProgress, progress
from noisereg.tasks.digits import digits_single_label
from noisereg.train import fit

REPO = Path(__file__).resolve().parents[1]
TRAIN = [
    "--scheme",
    "end-to-end",
    "--backbone",
    "small-cnn",
    "--steps",
    "40",
    "--image-size",
    "16",
    "--hidden",
    "16",
    "--batch-size",
    "10",
    "--patience",
    "0",
    "--eval-every",
    "10",
    "--lr",
    "3e-3",
]


@pytest.fixture(scope="module")
def piped_run(tmp_path_factory):
    """``noisereg train`` as a user runs it with ``> log 2>&1``: its folder and the log's bytes."""
    root = tmp_path_factory.mktemp("piped")
    manifest = write_digit_folder(root / "data")
    out, log = root / "run", root / "train.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    with open(log, "wb") as f:
        r = subprocess.run(
            [sys.executable, "-m", "noisereg", "train", "--manifest", str(manifest), "--out", str(out), *TRAIN],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=300,
        )
    assert r.returncode == 0, log.read_text()
    return out, log.read_bytes()


def test_a_run_piped_to_a_file_logs_plain_lines(piped_run):
    out, log = piped_run
    assert b"\r" not in log
    lines = log.decode().splitlines()
    evals = [s for s in lines if " val top1 " in s]
    assert len(evals) == 4 and evals[0].startswith("proposed:end-to-end step 10/40 epoch")
    assert all("  kept step " in s and "new best" not in s for s in evals) and "loss " in evals[0]
    assert any(s.startswith("proposed:end-to-end: 40/40 steps done in") for s in lines)  # plain progress
    assert lines[-1] == f"report: {out / 'report.html'}"


def test_metrics_csv_holds_every_step_and_the_evaluations(piped_run):
    out, _ = piped_run
    m = pd.read_csv(out / "metrics.csv")
    history = json.loads((out / "checkpoint.json").read_text())["history"]
    assert list(m.columns[:4]) == ["step", "stage", "epoch", "loss"]
    assert {"l_clean", "l_noise", "lr", "val_top1", "val_mAP", "val_AP_all", "val_best"} <= set(m.columns)
    assert m["step"].tolist() == list(range(1, 41)) and len(m) == len(history)
    assert (m["loss"] == pd.Series([h["loss"] for h in history])).all()
    assert m["loss"].sub(0.2 * m["l_clean"] + m["l_noise"]).abs().max() < 1e-5  # eq. (7) with alpha 0.2
    evaluated = m[m["val_top1"].notna()]
    assert evaluated["step"].tolist() == [10, 20, 30, 40]
    assert (evaluated["val_best"] == evaluated["val_top1"].cummax()).all()
    assert m["epoch"].is_monotonic_increasing and (m["lr"] > 0).all()


def test_train_report_in_a_browser(piped_run, browser):
    out, _ = piped_run
    check = open_report(
        browser,
        out / "report.html",
        "train",
        {
            "results": "#results-table tbody tr",
            "ap": "table.ap-table tbody tr",
            "fig3": ".fig3 .card",
            "fig5": ".fig5 .card",
            "fig5 images": ".fig5 .card img",
        },
    )
    assert_clean_page(check, min_images=3 + 12 + 12)  # curves, AP bars, confusion + two grids
    assert check.rows == {"results": 1, "ap": 3, "fig3": 12, "fig5": 12, "fig5 images": 12}
    page = check.page
    assert "val top-1" in page.inner_text("#results-table thead")
    assert page.inner_text("h2[id^='eval-']") == "proposed: val set"  # train never reads the test split
    assert page.locator("img[alt^='confusion matrix']").count() == 1
    ap_cells = "table.ap-table tbody tr td:nth-child(3)"
    page.click("table.ap-table thead th:nth-child(3)")  # sort by AP, twice: ascending then descending
    up = [float(t) for t in page.locator(ap_cells).all_inner_texts()]
    page.click("table.ap-table thead th:nth-child(3)")
    down = [float(t) for t in page.locator(ap_cells).all_inner_texts()]
    assert up == sorted(up) and down == sorted(up, reverse=True)
    page.close()


def test_label_issue_suspects_show_when_the_folder_has_them(piped_run, tmp_path, browser):
    out, _ = piped_run
    run = tmp_path / "run"
    shutil.copytree(out, run)
    images = sorted((out.parent / "data" / "img").glob("7_*.png"))[:3]
    pd.DataFrame(
        {
            "path": [p.name for p in images],
            "given_label": ["1", "0", "1"],
            "predicted_label": ["7"] * 3,
            "label_quality": [0.3, 0.1, 0.2],
            "is_label_issue": [True, True, False],
        }
    ).to_csv(run / "label_issues.csv", index=False)
    summary = json.loads((run / "run.json").read_text())
    summary["data"][0]["image_root"] = str(images[0].parent)
    (run / "run.json").write_text(json.dumps(summary))
    assert main(["report", str(run), "--out", str(tmp_path / "with-suspects.html")]) == 0
    check = open_report(browser, tmp_path / "with-suspects.html", "suspects", {"cards": ".suspects .card"})
    assert_clean_page(check, min_images=3 + 12 + 12 + 2)
    assert check.rows["cards"] == 2  # the rows flagged as issues, worst label quality first
    assert "given: 0" in check.page.inner_text(".suspects .card >> nth=0")
    check.page.close()


def test_experiment_report_in_a_browser(tmp_path, browser):
    exp = ExperimentConfig(
        data="digits",
        methods=["proposed", "noisy"],
        clean_fractions=[0.1, 0.2],
        seeds=2,
        train={"steps": 8, "hidden": 16, "eval_every": 4},
        out=str(tmp_path),
    )
    run_experiment(exp, quiet=True)
    check = open_report(
        browser,
        tmp_path / "report.html",
        "experiment",
        {
            "results": "#results-table tbody tr",
            "best": "#results-table td.best",
            "ap": "table.ap-table tbody tr",
            "fig5": ".fig5 .card",
        },
    )
    assert_clean_page(check, min_images=3 + 12 + 12)
    assert check.rows == {"results": 2, "best": 2, "ap": 10, "fig5": 12}  # 2 methods, 2 fractions, 10 digits
    head = check.page.inner_text("#results-table thead")
    assert "top1 @ 0.1" in head and "top1 @ 0.2" in head and "±" in check.page.inner_text("#results-table tbody")
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert set(curves["panel"]) == {"clean 0.1", "clean 0.2"} and set(curves["method"]) == {"proposed", "noisy"}
    check.page.close()


def test_the_experiment_fig3_shows_noisy_and_ft_l_top_5_beside_the_method(tmp_path):
    """The paper's Fig. 3: each example with the top-5 of Backbone (Noisy), Noisy-FT-L and the method."""
    import json

    exp = ExperimentConfig(
        data="digits-multi",
        methods=["proposed", "noisy", "ft-l", "g-alone"],
        clean_fractions=[0.2],
        train={"steps": 8, "hidden": 16, "eval_every": 4, "backbone_steps": 4},
        out=str(tmp_path),
    )
    run_experiment(exp, quiet=True)
    ev = json.loads(next((tmp_path / "evaluation").glob("*.json")).read_text())
    assert ev["featured"] == "proposed" and len(ev["fig3"]) == 12
    for card in ev["fig3"]:
        assert list(card["others"]) == ["noisy", "ft-l"] and len(card["g"]) == 5
        assert all(len(top) == 5 for top in card["others"].values())
    html = (tmp_path / "report.html").read_text()
    assert "the top-5 of proposed, then of noisy, ft-l on the same image" in html
    assert html.count('<div class="head">ft-l</div>') == 12


def test_report_of_a_folder_that_is_no_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("noisereg: error:") and "not a run folder" in err and len(err.splitlines()) == 1


def test_plain_progress_writes_whole_lines():
    buf = io.StringIO()
    bar = PlainProgress(range(5), desc="features", unit="images", interval=0.0, file=buf)
    assert list(bar) == list(range(5))
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue() and len(lines) == 5  # one per update at interval 0 until done, one closing
    assert lines[2].startswith("features: 3/5 images (60%) after")
    assert lines[-1].startswith("features: 5/5 images done in")
    assert isinstance(progress(range(3), desc="x"), PlainProgress)  # stderr is not a terminal under pytest
    quiet = io.StringIO()
    list(PlainProgress(range(3), desc="short", delay=60, file=quiet))
    assert quiet.getvalue() == ""  # a task shorter than its delay says nothing


def _tiny(tmp_path, **changes):
    task = digits_single_label(noise_rate=0.4, clean_fraction=0.2, seed=0)
    cfg = TrainConfig(
        scheme="end-to-end",
        backbone="small-cnn",
        image_size=8,
        hidden=16,
        steps=12,
        eval_every=4,
        quiet=True,
        **changes,
    )
    return fit(task.train, cfg, out=tmp_path / "run")


def test_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _tiny(tmp_path, tensorboard=True)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"end-to-end/loss", "end-to-end/l_clean", "end-to-end/lr", "end-to-end/val_top1"} <= tags
    assert [e.step for e in events.Scalars("end-to-end/val_top1")] == [4, 8, 12]
    assert len(events.Scalars("end-to-end/loss")) == 12


def test_tensorboard_missing_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    manifest = write_digit_folder(tmp_path / "data")
    assert main(["train", "--manifest", str(manifest), "--out", str(tmp_path / "run"), "--tensorboard", *TRAIN]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "noisereg: error: --tensorboard needs the tensorboard package: pip install tensorboard"


def test_quiet_prints_no_progress_and_no_evaluation(tmp_path, capsys):
    manifest = write_digit_folder(tmp_path / "data")
    args = [
        "train",
        "--manifest",
        str(manifest),
        "--out",
        str(tmp_path / "run"),
        "--scheme",
        "end-to-end",
        "--backbone",
        "small-cnn",
        "--steps",
        "6",
        "--image-size",
        "16",
        "--hidden",
        "8",
        "--eval-every",
        "3",
        "--quiet",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and " val top1 " not in captured.out
    assert captured.out.splitlines()[-1].startswith("report: ")


def test_the_label_issue_finder_fills_the_suspects(piped_run, tmp_path):
    """``train`` writes label_issues.csv with the finder (issue 11); ``report`` writes it again when missing."""
    out, _ = piped_run
    run = tmp_path / "run"
    shutil.copytree(out, run)
    written = pd.read_csv(run / "label_issues.csv")
    (run / "label_issues.csv").unlink()
    assert main(["report", str(run)]) == 0
    again = pd.read_csv(run / "label_issues.csv")
    pd.testing.assert_frame_equal(written, again)
    summary = json.loads((run / "run.json").read_text())["data"][0]
    noisy_rows = pd.read_csv(summary["manifest"]).query("split == 'train' and noisy == noisy")
    assert len(again) == len(noisy_rows) and set(again["path"]) <= set(noisy_rows["path"])
    assert {"given_label", "predicted_label", "label_quality", "is_label_issue"} <= set(again.columns)
    assert again["label_quality"].is_monotonic_increasing  # worst first
    html = (run / "report.html").read_text()
    assert 'id="suspects"' in html and html.count("given: ") >= min(4, int(again["is_label_issue"].sum()))


def test_train_report_shows_the_resolved_settings(tmp_path):
    """Issue 44: the settings are those trained with (method defaults, batch from the data), never None or 0."""
    manifest = write_digit_folder(tmp_path / "data", n_per_class=8)
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--manifest",
                str(manifest),
                "--out",
                str(out),
                "--scheme",
                "end-to-end",
                "--steps",
                "4",
                "--backbone",
                "small-cnn",
                "--image-size",
                "8",
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    settings = json.loads((out / "run.json").read_text())["settings"]
    config = json.loads((out / "checkpoint.json").read_text())["config"]
    for name in ("hidden", "alpha", "clean_ratio", "lr", "weight_decay", "batch_size"):
        assert settings[name] is not None and settings[name] == config[name], name
    assert settings["batch_size"] > 0 and settings["hidden"] > 0
    html = (out / "report.html").read_text()
    assert "<span>hidden</span><span>None</span>" not in html and "<span>batch_size</span><span>0</span>" not in html


def test_suspects_without_a_suggestion_show_none(tmp_path):
    """Issue 44: a multi-label label_issues.csv leaves suggested_label empty; the report showed 'nan'."""
    from noisereg.report.collect import suspects_of

    pd.DataFrame(
        {
            "path": ["a.png", "b.png"],
            "given_label": ["dog", "cat;dog"],
            "suggested_label": ["", "cat"],
            "label_quality": [0.1, 0.2],
            "is_label_issue": [True, True],
        }
    ).to_csv(tmp_path / "label_issues.csv", index=False)
    rows = suspects_of(tmp_path, None)["rows"]
    assert [r["suggested"] for r in rows] == ["", "cat"] and "nan" not in str(rows)


def test_a_validation_set_held_out_of_the_clean_set_is_counted_under_it(tmp_path):
    """Issue 44: 'train 350 · val 11' where the 11 came out of the 50 clean images; count them under D_c."""
    manifest = write_digit_folder(tmp_path / "data", n_per_class=8)
    frame = pd.read_csv(manifest, keep_default_na=False)
    frame[frame["split"] == "train"].to_csv(manifest, index=False)  # no val split: fit holds out clean images
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--manifest",
                str(manifest),
                "--out",
                str(out),
                "--scheme",
                "end-to-end",
                "--steps",
                "4",
                "--backbone",
                "small-cnn",
                "--image-size",
                "8",
                "--val-fraction",
                "0.4",
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    data = json.loads((out / "run.json").read_text())["data"][0]
    assert list(data["images"]) == ["train"] and 0 < data["clean_held_out"] < data["clean"]
    assert "held out for validation" in (out / "report.html").read_text()


def test_the_curves_caption_says_which_rule_kept_the_weights(piped_run):
    """Issue 44: the caption said top-1 chose the kept weights when the validation loss did."""
    import re

    out, _ = piped_run
    metrics = pd.read_csv(out / "metrics.csv").dropna(subset=["kept_by"])
    rule, step = metrics["kept_by"].iloc[-1], int(metrics["kept_step"].iloc[-1])
    words = "the lowest val loss" if rule == "val loss" else f"the best {rule}"
    html = (out / "report.html").read_text()
    assert re.search(rf"chosen by end-to-end: {words}, step {step}\.", html), rule
