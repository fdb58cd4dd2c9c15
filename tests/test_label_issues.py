"""Label issues on digits with known injected noise: the ranking beats chance by far, the cut-off, the
tables, the corrected manifest, and the command line with its error cases."""

import csv

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from noisereg.cli import main
from noisereg.config import TrainConfig
from noisereg.data.embeddings import features_table
from noisereg.data.manifest import read_table
from noisereg.label_issues import LabelScores, best_cutoff, corrected_table, find_label_issues, label_scores
from noisereg.label_issues.scores import MARGIN, contradicted, posterior_single
from noisereg.tasks.digits import digits_multi_label, digits_single_label
from noisereg.train import fit

TRAIN = dict(scheme="frozen", steps=250, batch_size=32, hidden=64, lr=1e-2, patience=0, quiet=True)


def _write(folder, task, *, paired=True):
    """The task's training images as a features file (flattened pixels) + a label manifest; clean images
    keep their noisy label too (``paired``), as a CIFAR-N manifest does. Returns (features, manifest, truth)."""
    folder.mkdir(parents=True, exist_ok=True)
    tr = task.train
    np.save(folder / "feats.npy", tr.images.reshape(len(tr), -1).numpy().astype(np.float32))
    names = lambda row: ";".join(str(k) for k in np.flatnonzero(row)) or "<none>"  # noqa: E731
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "noisy", "clean", "split"])
        for i in range(len(tr)):
            noisy = names(tr.noisy[i]) if tr.has_noisy[i] or paired else ""
            w.writerow([f"d{i}", noisy, names(tr.clean[i]) if tr.has_clean[i] else "", "train"])
    return folder / "feats.npy", folder / "labels.csv", tr.noisy != tr.clean


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """Digits with 40% class-dependent noise, proposed trained on pixel features (a checkpoint)."""
    folder = tmp_path_factory.mktemp("single")
    feats, labels, wrong = _write(folder, digits_single_label(noise_rate=0.4, clean_fraction=0.1, seed=0))
    table = features_table(feats, labels)
    fit(table.to_labelled_set("train"), TrainConfig(method="proposed", **TRAIN), out=folder / "run")
    return folder, table, wrong.any(1)


def test_the_ranking_finds_the_injected_wrong_labels(single):
    folder, table, wrong = single
    issues = find_label_issues(folder / "run", table)
    truth = wrong[issues.index]
    assert roc_auc_score(truth, -issues["label_quality"]) > 0.7  # random: 0.5
    assert issues["label_quality"].is_monotonic_increasing and issues.index.name == "row"
    assert {
        "path",
        "given_label",
        "predicted_label",
        "label_quality",
        "is_label_issue",
        "g",
        "residual",
        "posterior",
    } <= set(issues.columns)
    flagged = issues["is_label_issue"].to_numpy()
    assert truth[flagged].mean() > 2 * truth[~flagged].mean()  # what is flagged is mostly wrong
    assert "validation images" in issues.attrs["cutoff_how"]  # chosen where both labels are known
    assert 0.7 < issues.attrs["val_auroc"] <= 1.0  # and the ranking is checked there too
    assert (issues.loc[flagged, "predicted_label"] != issues.loc[flagged, "given_label"]).mean() > 0.5


def _unpaired(folder):
    """The fixture's manifest with the clean images' noisy labels left out: no validation image has both
    labels, so no cut-off can be chosen on validation."""
    rows = list(csv.reader(open(folder / "labels.csv")))
    path = folder / "unpaired.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [[p, "" if clean else noisy, clean, s] for p, noisy, clean, s in rows[1:]])
    return path


def test_without_validation_labels_the_default_flags_what_g_contradicts(single, tmp_path, capsys):
    folder, _, wrong = single
    table = features_table(folder / "feats.npy", _unpaired(folder))
    issues = find_label_issues(folder / "run", table)
    flagged, truth = issues["is_label_issue"].to_numpy(), wrong[issues.index]
    assert 0 < flagged.sum() < len(flagged)
    assert truth[flagged].mean() > 1.5 * truth.mean()  # precision well above chance (the share of wrong labels)
    assert (issues.loc[flagged, "predicted_label"] != issues.loc[flagged, "given_label"]).all()
    assert issues.attrs["cutoff_rule"] == "contradiction" and "contradiction" in issues.attrs["cutoff_how"]
    out = tmp_path / "issues.csv"
    assert (
        main(
            [
                "find-label-issues",
                "--checkpoint",
                str(folder / "run"),
                "--manifest",
                str(folder / "unpaired.csv"),
                "--features",
                str(folder / "feats.npy"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "cut-off contradiction default (no validation images with both a noisy and a clean label)" in printed
    assert f"{int(flagged.sum())} labels flagged" in printed
    scores = label_scores(folder / "run", table)  # the rule exactly: g_top != y and g_top - g_y > MARGIN
    y, p = scores.given.argmax(1), scores.probs
    others = np.where(np.eye(p.shape[1])[y] > 0, -1.0, p).max(1)  # g's best class other than the given one
    np.testing.assert_array_equal(scores.is_issue(), others - p[np.arange(len(y)), y] > MARGIN)


def test_a_flagged_label_is_never_suggested_back(single):
    """Whatever flags it (validation cut-off, top-k, threshold), a flagged row's predicted_label is g's best
    class other than the given one, and ``replace`` writes that."""
    folder, table, _ = single
    for scores in (
        label_scores(folder / "run", table),
        label_scores(folder / "run", table, top_k=150),
        label_scores(folder / "run", table, threshold=0.9),
    ):
        issues = scores.issues()
        flagged = issues[issues["is_label_issue"]]
        assert len(flagged) and (flagged["predicted_label"] != flagged["given_label"]).all(), scores.how
        fixed = corrected_table(table, scores)
        changed = [r for r in flagged.index if fixed.label_names(fixed.noisy, r) != table.label_names(table.noisy, r)]
        assert len(changed) == len(flagged)
    agrees = LabelScores(
        classes=list("abc"),
        rows=np.arange(2),
        ids=["x", "y"],
        given=np.eye(3)[[0, 1]],
        predicted=np.eye(3)[[0, 1]],
        scores={"g": np.array([0.6, 0.9])},
        score="g",
        single_label=True,
        probs=np.array([[0.6, 0.1, 0.3], [0.9, 0.05, 0.05]]),
    )
    shown = agrees.with_top_k(1).issues()  # g agrees with the flagged label: suggest its runner-up
    assert shown.loc[0, "predicted_label"] == "c" and shown.loc[1, "predicted_label"] == "b"


def test_the_contradiction_rule_single_and_multi_label():
    p = np.array([[0.5, 0.3, 0.2], [0.35, 0.45, 0.2], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    given = np.eye(3)[[0, 0, 0, 2]]
    assert contradicted(p, given, single_label=True, margin=0.2).tolist() == [False, False, True, False]
    assert contradicted(p, given, single_label=True, margin=0.0).tolist() == [False, True, True, False]
    # multi-label: per (image, class) entry, g's side ("present" g_k, "absent" 1 - g_k) against the given side
    g = np.array([[0.3, 0.45, 0.7, 0.55]])
    y = np.array([[1, 1, 0, 0]])
    assert contradicted(g, y, single_label=False, margin=0.2).tolist() == [[True, False, True, False]]
    # for two classes both rules say the same
    two = np.array([[0.35, 0.65], [0.45, 0.55]])
    assert (
        contradicted(two, np.eye(2)[[0, 0]], single_label=True, margin=0.2).tolist()
        == contradicted(two[:, :1], np.ones((2, 1)), single_label=False, margin=0.2)[:, 0].tolist()
    )
    # the multi-label suggestion of a flagged image: the given classes with the flagged entries flipped
    s = LabelScores(
        classes=list("abcd"),
        rows=np.arange(1),
        ids=["m"],
        given=y.astype(np.float32),
        predicted=(g >= 0.5).astype(np.float32),
        scores={"g": np.where(y > 0, g, 1 - g)},
        score="g",
        single_label=False,
        probs=g,
    ).with_contradictions(0.2)
    assert s.rule == "contradiction" and s.issues().iloc[0]["predicted_label"] == "b;c"


def test_top_k_threshold_and_scores(single):
    folder, table, wrong = single
    top = label_scores(folder / "run", table, top_k=50)
    assert top.is_issue().sum() == 50 and top.how == "top 50 by posterior"
    g = label_scores(folder / "run", table, score="g", threshold=0.3)
    assert g.score == "g" and np.array_equal(g.is_issue(), g.quality <= 0.3)
    assert roc_auc_score(wrong[g.rows], -g.quality) > 0.6


def test_posterior_is_bayes_rule_and_cutoff_is_best_f1():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), 5)
    t = rng.dirichlet(np.ones(3) * 5, 3) + np.eye(3)
    t /= t.sum(1, keepdims=True)
    y = rng.integers(0, 3, 5)
    joint = p[:, :, None] * t[None]  # p(v) p(y | v) for every (v, y)
    expected = joint[np.arange(5), y, y] / joint[np.arange(5), :, y].sum(1)
    np.testing.assert_allclose(posterior_single(p, y, t), expected)
    quality = np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.95])
    cut, f1 = best_cutoff(quality, np.array([1, 1, 1, 0, 0, 0], bool))
    assert f1 == 1.0 and 0.3 <= cut < 0.8


def test_the_validation_check_reports_the_rankings_auroc_on_the_known_pairs():
    from noisereg.label_issues.finder import validation_cutoff

    rng = np.random.default_rng(1)
    n, k = 60, 3
    given = np.eye(k)[rng.integers(0, k, n)]
    wrong = rng.random(n) < 0.4
    clean = np.where(wrong[:, None], np.roll(given, 1, axis=1), given)
    quality = np.where(wrong, 0.3, 0.6) + rng.normal(0, 0.2, n)  # informative but not perfect
    known = np.ones(n, bool)
    known[:10] = False  # pairs without a clean label do not count
    quality[:10] = np.where(wrong[:10], 1.0, 0.0)  # (they would rank perfectly backwards)
    s = LabelScores(
        classes=list("abc"),
        rows=np.arange(n),
        ids=[str(i) for i in range(n)],
        given=given,
        predicted=given,
        scores={"g": quality},
        score="g",
        single_label=True,
        clean=clean,
        has_clean=known,
    )
    checked = validation_cutoff(s)
    assert checked.val_auroc == pytest.approx(roc_auc_score(wrong[10:], -quality[10:]))
    assert 0.6 < checked.val_auroc < 1.0 and f"{checked.val_auroc:.3f}" in checked.how
    assert validation_cutoff(LabelScores(**{**s.__dict__, "has_clean": np.zeros(n, bool)})).val_auroc is None


def _scores(single_label: bool, given, predicted, flags) -> LabelScores:
    k = given.shape[1]
    return LabelScores(
        classes=[str(c) for c in range(k)],
        rows=np.arange(len(given)),
        ids=[f"i{i}" for i in range(len(given))],
        given=given.astype(np.float32),
        predicted=predicted.astype(np.float32),
        scores={"g": np.where(flags, 0.1, 0.9)},
        score="g",
        single_label=single_label,
    )


def test_corrected_manifest_replaces_or_drops_what_is_flagged(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,noisy,clean,split\na.png,0,,train\nb.png,1,1,train\nc.png,2,,train\n")
    table = read_table(manifest)
    eye = np.eye(3)
    s = _scores(True, eye[[0, 1, 2]], eye[[1, 1, 0]], np.array([True, False, False]))
    fixed = corrected_table(table, s, action="replace")
    assert [fixed.label_names(fixed.noisy, i) for i in range(3)] == [["1"], ["1"], ["2"]]
    dropped = corrected_table(table, s, action="drop")
    assert dropped.has_noisy.tolist() == [False, True, True] and dropped.label_names(dropped.noisy, 0) == []
    # multi-label: a flagged spurious class goes, a flagged missing class comes
    multi = read_table(_multi_manifest(tmp_path), classes=["0", "1", "2"])
    given = np.array([[1, 1, 0], [0, 1, 0]])
    flags = np.array([[False, True, True], [False, False, False]])
    m = corrected_table(multi, _scores(False, given, given, flags), action="replace")
    assert m.label_names(m.noisy, 0) == ["0", "2"] and m.label_names(m.noisy, 1) == ["1"]


def _multi_manifest(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text("path,noisy,clean,split\na.png,0;1,,train\nb.png,1,,train\n")
    return path


@pytest.mark.slow
def test_multi_label_suspects_are_missing_or_spurious(tmp_path):
    task = digits_multi_label(n_train=1200, n_test=50, noise="flips", clean_fraction=0.1, seed=0)
    feats, labels, wrong = _write(tmp_path, task)
    table = features_table(feats, labels)
    fit(table.to_labelled_set("train"), TrainConfig(method="proposed", **TRAIN), out=tmp_path / "run")
    scores = label_scores(tmp_path / "run", table)
    assert roc_auc_score(wrong[scores.rows].ravel(), -scores.quality.ravel()) > 0.7
    entries = scores.issues()
    assert set(entries["kind"]) <= {"missing", "spurious"} and len(entries) == scores.is_issue().sum()
    hit = wrong[entries.index, [int(c) for c in entries["class"]]]
    assert hit.mean() > 2 * wrong[scores.rows].mean()  # flagged entries are wrong far more often than others
    images = scores.issues("image")
    assert len(images) == len(scores.rows) and images["label_quality"].is_monotonic_increasing
    # the command: suspect entries, the per-image summary and a corrected manifest that flips them
    out, fixed = tmp_path / "issues.csv", tmp_path / "fixed.csv"
    assert (
        main(
            [
                "find-label-issues",
                "--checkpoint",
                str(tmp_path / "run"),
                "--manifest",
                str(labels),
                "--features",
                str(feats),
                "--out",
                str(out),
                "--write-manifest",
                str(fixed),
            ]
        )
        == 0
    )
    cli = pd.read_csv(out, index_col="row")
    assert len(cli) == len(entries) and set(cli["kind"]) <= {"missing", "spurious"}
    assert len(pd.read_csv(tmp_path / "issues.images.csv")) == len(scores.rows)
    after = read_table(fixed, need_paths=False)
    row, name, kind = cli.index[0], str(cli["class"].iloc[0]), cli["kind"].iloc[0]
    assert (name in after.label_names(after.noisy, row)) == (kind == "missing")


def _fails(capsys, argv, pattern):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("noisereg: error:") and pattern in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_command_line_on_features_writes_issues_and_a_corrected_manifest(single, tmp_path, capsys):
    folder, _, wrong = single
    out, fixed = tmp_path / "issues.csv", tmp_path / "fixed.csv"
    assert (
        main(
            [
                "find-label-issues",
                "--checkpoint",
                str(folder / "run"),
                "--manifest",
                str(folder / "labels.csv"),
                "--features",
                str(folder / "feats.npy"),
                "--out",
                str(out),
                "--write-manifest",
                str(fixed),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "flagged" in printed and "cut-off" in printed and "with a known clean label are wrong" in printed
    issues = pd.read_csv(out, index_col="row")
    assert issues["label_quality"].is_monotonic_increasing and len(issues) == len(wrong)
    before, after = read_table(folder / "labels.csv"), read_table(fixed, need_paths=False)
    changed = [
        i for i in range(len(before)) if before.label_names(before.noisy, i) != after.label_names(after.noisy, i)
    ]
    assert sorted(changed) == sorted(
        issues.index[issues["is_label_issue"] & (issues["given_label"] != issues["predicted_label"])]
    )
    assert wrong[changed].mean() > wrong.mean()  # the corrections hit wrong labels more than chance


def test_command_line_errors(single, tmp_path, capsys, digit_folder):
    folder, _, _ = single
    run = str(folder / "run")
    _fails(
        capsys,
        ["find-label-issues", "--checkpoint", run, "--manifest", str(digit_folder), "--out", str(tmp_path / "x.csv")],
        "trained on precomputed features",
    )
    _fails(
        capsys,
        [
            "find-label-issues",
            "--checkpoint",
            run,
            "--manifest",
            str(digit_folder),
            "--features",
            str(folder / "feats.npy"),
            "--out",
            str(tmp_path / "x.csv"),
        ],
        "feature rows",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("path,noisy,clean,split\nd0,cat,,train\n")
    _fails(
        capsys,
        [
            "find-label-issues",
            "--checkpoint",
            run,
            "--manifest",
            str(bad),
            "--features",
            str(folder / "feats.npy"),
            "--out",
            str(tmp_path / "x.csv"),
        ],
        "unknown class 'cat'",
    )
    _fails(
        capsys,
        [
            "find-label-issues",
            "--checkpoint",
            run,
            "--manifest",
            str(folder / "labels.csv"),
            "--features",
            str(folder / "feats.npy"),
            "--out",
            str(tmp_path / "x.csv"),
            "--score",
            "method",
        ],
        "score 'method' needs",
    )


@pytest.mark.parametrize("scheme", ["frozen", "end-to-end"])
def test_command_line_on_image_files(digit_folder, tmp_path, capsys, scheme):
    run, out = tmp_path / "run", tmp_path / "issues.csv"
    assert (
        main(
            [
                "train",
                "--manifest",
                str(digit_folder),
                "--out",
                str(run),
                "--scheme",
                scheme,
                "--steps",
                "20",
                "--backbone",
                "small-cnn",
                "--backbone-steps",
                "10",
                "--image-size",
                "16",
                "--hidden",
                "16",
                "--batch-size",
                "10",
                "--patience",
                "0",
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "find-label-issues",
                "--checkpoint",
                str(run),
                "--manifest",
                str(digit_folder),
                "--out",
                str(out),
                "--top-k",
                "3",
                "--write-manifest",
                str(tmp_path / "fixed.csv"),
                "--action",
                "drop",
            ]
        )
        == 0
    )
    assert "cut-off top 3 by posterior" in capsys.readouterr().out
    issues = pd.read_csv(out)
    assert len(issues) == 24 and issues["is_label_issue"].sum() == 3  # the 24 noisy train images
    assert issues["path"].str.endswith(".png").all()
    assert int((~read_table(tmp_path / "fixed.csv").has_noisy).sum()) == 3 + 36  # + the clean, val and test rows
