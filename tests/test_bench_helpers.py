"""What produces the headline claims under benchmarks/: baselines chosen on validation, the gaps and
targets of make_results, the sample std, and cleanlab's set-up (same head, clean rows never pruned)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from benchmarks import make_results


def _row(part, method, f, seed, top1, val, metric="top1"):
    return {
        "part": part,
        "method": method,
        "clean_fraction": str(f),
        "seed": str(seed),
        metric: str(top1),
        "val_best": str(val),
        "epochs": "5",
        "hyperparameters": "",
        "top1": str(top1),
    }


def test_best_baselines_rank_by_validation_not_test():
    bench = pytest.importorskip("benchmarks.parts")
    # glc wins on test, ft-l on validation: validation decides; references and ours never count
    rows = (
        [_row("worse", "glc", 0.05, s, 0.90, 0.70) for s in range(3)]
        + [_row("worse", "ft-l", 0.05, s, 0.80, 0.80) for s in range(3)]
        + [_row("worse", "forward", 0.05, s, 0.70, 0.75) for s in range(3)]
        + [_row("worse", "proposed", 0.05, s, 0.99, 0.99) for s in range(3)]
        + [_row("worse", "noisy", 0.05, s, 0.95, 0.95) for s in range(3)]
        + [_row("worse", "glc", 0.1, s, 0.10, 0.99) for s in range(3)]
    )  # another fraction: ignored
    assert bench.best_baselines(2, rows) == ["ft-l", "forward"]


def test_sample_std_uses_ddof_one():
    v = np.array([79.0, 79.2, 78.9])
    assert make_results.sample_std(v) == pytest.approx(np.std(v, ddof=1))
    assert make_results.sample_std(v) > np.std(v)
    assert make_results.sample_std(np.array([5.0])) == 0.0


def test_gap_is_against_the_best_competitor_and_skips_ours_and_the_upper_bound():
    rows = [
        _row("annotated", m, 0.05, s, v, 0)
        for s in range(2)
        for m, v in (("proposed", 0.72), ("proposed-glc", 0.80), ("gt", 0.90), ("glc", 0.66), ("g-alone", 0.68))
    ]
    g, who = make_results.gap(rows, "top1", 0.05)
    assert who == "g-alone" and g == pytest.approx(4.0)


def test_a_part_without_baselines_names_its_best_other_as_an_ablation():
    rows = [
        {**_row("e2e", m, 0.1, s, v, 0), "part": "e2e"}
        for s in range(2)
        for m, v in (("proposed", 0.70), ("noisy", 0.60), ("g-alone", 0.65), ("h-alone", 0.62))
    ]
    line = next(ln for ln in make_results.others_table(rows).splitlines() if ln.startswith("| small CNN"))
    assert "vs its ablations only" in line and "**70.00** vs 65.00" in line
    rows += [_row("e2e", "glc", 0.1, s, 0.71, 0) for s in range(2)]
    line = next(ln for ln in make_results.others_table(rows).splitlines() if ln.startswith("| small CNN"))
    assert "ablations only" not in line and "70.00 vs 71.00" in line


def test_targets_report_a_missed_annotated_target_as_missed():
    rows = [
        _row("annotated", m, f, s, v, 0)
        for s in range(2)
        for f in (0.02, 0.05)
        for m, v in (("proposed", 0.70), ("glc", 0.69), ("g-alone", 0.60), ("h-alone", 0.50))
    ]
    text = make_results.targets(rows)
    line = next(ln for ln in text.splitlines() if ln.startswith("| annotated, 5% clean"))
    assert "+1.00 vs glc" in line and line.endswith("| no |")
    order = next(ln for ln in text.splitlines() if ln.startswith("| annotated: proposed > g-alone > h-alone"))
    assert "holds at 2 of 2" in order


def test_noise_lines_render_the_measured_noise(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(make_results, "DIR", tmp_path)
    assert make_results.noise_lines("annotated") == []
    record = {
        "images": 100,
        "without_label": 15,
        "rates": {"image": 0.42, "missing": 0.42, "spurious": 0.42},
        "labels_per_image": {"clean": 1.0, "noisy": 1.0},
        "per_class": {"deer": {"images": 10, "agreement": 0.3, "precision": None, "most_confused_with": "dog"}},
    }
    (tmp_path / "noise_annotated.json").write_text(json.dumps(record))
    text = "\n".join(make_results.noise_lines("annotated"))
    assert "42.0% of the given labels wrong" in text and "15 images (15.0%)" in text
    assert "| deer | 10 | 30.0% | - | dog |" in text


def test_cleanlab_wraps_the_mixed_head_and_never_prunes_clean_rows():
    pytest.importorskip("cleanlab")
    _cleanlab = pytest.importorskip("benchmarks.cleanlab_peer")
    from noisereg.data.labelset import LabelledSet

    rng = np.random.default_rng(0)
    n, k = 300, 3
    y = rng.integers(0, k, n)
    x = (rng.normal(size=(n, 8)) + 3 * np.eye(k, 8)[y]).astype(np.float32)
    clean = np.zeros(n, bool)
    clean[:60] = True
    noisy = y.copy()
    flip = rng.random(n) < 0.4
    noisy[flip] = (y[flip] + 1) % k
    noisy[:60] = (y[:60] + 1) % k  # the clean rows' *noisy* labels are all wrong: they must not be used
    onehot = np.eye(k, dtype=np.float32)
    train = LabelledSet(
        images=x, classes=list("abc"), clean=onehot[y], noisy=onehot[noisy], has_noisy=~clean, has_clean=clean
    )
    xs, ys, flags = _cleanlab.training_rows(train)
    assert (ys[flags] == y[:60]).all() and (ys[~flags] == noisy[60:]).all() and xs.shape == (n, 9)
    val = (x[:30], y[:30])
    head = _cleanlab.SameHead(val=val, num_classes=k, train={"steps": 60, "batch_size": 32, "patience": 0})
    probs = _cleanlab.cv_probabilities(head, xs, ys, seed=0, folds=2)
    cl, pruned = _cleanlab.clean_learning(head, xs, ys, flags, probs, {"filter_by": "predicted_neq_given"}, 0)
    issues = cl.get_label_issues()
    assert not issues["is_label_issue"][flags].any() and issues["is_label_issue"][~flags].any() and 0 < pruned < 1
    assert cl.clf.head_.method == "mixed"


def test_experiment_tables_use_the_sample_std():
    from noisereg.report import mean_std_over_seeds

    rows = [
        {"method": "proposed", "activation": "sigmoid", "clean_fraction": "0.1", "top1": str(v)}
        for v in (0.790, 0.792, 0.789)
    ]
    _, _, cells = mean_std_over_seeds(rows, [0.1], ["top1"])
    assert cells[0][0][1] == pytest.approx(np.std([79.0, 79.2, 78.9], ddof=1))
    _, _, one = mean_std_over_seeds(rows[:1], [0.1], ["top1"])
    assert one[0][0] == (pytest.approx(79.0), 0.0)


def test_a_later_sitting_reads_the_chosen_values_back_from_the_tuning_table(tmp_path):
    bench = pytest.importorskip("benchmarks.bench_cifar10n")
    table = tmp_path / "tune_x.csv"
    table.write_text(
        "method,trial,lr,weight_decay,hidden,clean_ratio,value,epochs,seconds,alpha\n"
        "proposed,0,0.001,1e-05,256,0.1,0.70,5,1,0.2\n"
        "proposed,1,0.003,2e-05,128,0.3,0.75,5,1,0.25\n"
        "proposed,2,0.009,3e-05,512,0.4,0.75,5,1,0.5\n"  # a tie: the earlier trial wins
        "noisy,0,0.02,0.001,,,0.6,5,1,\n"
    )
    got = bench.tuned_in_table(table)
    assert got["proposed"] == {"lr": 0.003, "weight_decay": 2e-05, "hidden": 128, "alpha": 0.25, "clean_ratio": 0.3}
    assert isinstance(got["proposed"]["hidden"], int) and got["noisy"] == {"lr": 0.02, "weight_decay": 0.001}
    assert bench.tuned_in_table(tmp_path / "absent.csv") == {}


def test_a_fresh_clone_with_every_method_in_the_table_tunes_nothing_and_writes_the_values(tmp_path, monkeypatch):
    import argparse
    import json

    bench = pytest.importorskip("benchmarks.bench_cifar10n")
    monkeypatch.setattr(bench, "RESULTS_DIR", tmp_path)
    (tmp_path / "tune_worse.csv").write_text(
        "method,trial,lr,weight_decay,hidden,clean_ratio,value\nmixed,0,0.001,1e-05,256,0.1,0.80\n"
    )
    args = argparse.Namespace(out=str(tmp_path / "runs"), tuned_from=None, trials=8, workers=1)
    got = bench.tune(args, "worse", ["mixed"])
    assert json.loads(got.read_text()) == {
        "mixed": {"lr": 0.001, "weight_decay": 1e-05, "hidden": 256, "clean_ratio": 0.1}
    }


def test_a_later_sitting_reads_cleanlabs_settings_back_from_its_tuning_table(tmp_path):
    bench = pytest.importorskip("benchmarks.bench_cifar10n")
    table = tmp_path / "tune_x_cleanlab.csv"
    table.write_text(
        "method,trial,value,pruned,filter_by,frac_noise\n"
        "cleanlab-cl,0,0.80,0.35,prune_by_noise_rate,1.0\n"
        "cleanlab-cl,1,0.81,0.30,prune_by_class,0.75\n"
        "cleanlab-cl,2,0.81,0.20,both,0.5\n"
    )  # a tie: the earlier trial wins
    assert bench.cleanlab_settings_in_table(table) == {"filter_by": "prune_by_class", "frac_noise": 0.75}


def test_results_rows_with_a_new_column_keep_the_old_rows(tmp_path):
    bench = pytest.importorskip("benchmarks.bench_cifar10n")
    from benchmarks.common import ResultsTable

    path = tmp_path / "r.csv"
    old = [c for c in bench.COLUMNS if c != "best_epoch"]
    path.write_text(",".join(old) + "\n" + ",".join("x" if c != "method" else "glc" for c in old) + "\n")
    table = ResultsTable(path, bench.COLUMNS, bench.RESULTS_TABLE.key)
    bench.append("annotated", "frozen", [{"dataset": "cifar10n", "method": "proposed", "best_epoch": 7.5}], table)
    rows = list(csv.DictReader(open(path)))
    assert list(rows[0]) == table.fieldnames() and rows[0]["method"] == "glc" and rows[0]["best_epoch"] == ""
    assert rows[1]["method"] == "proposed" and rows[1]["best_epoch"] == "7.5" and rows[1]["part"] == "annotated"


def test_the_defaults_table_says_where_the_target_is_missed():
    rows = [
        {
            "part": "worse",
            "method": "proposed",
            "clean_fraction": "0.05",
            "default": "78.5",
            "default_std": "0.2",
            "tuned": "79.06",
            "seeds": "3",
        },
        {
            "part": "worse",
            "method": "g-alone",
            "clean_fraction": "0.05",
            "default": "70.0",
            "default_std": "0.3",
            "tuned": "69.0",
            "seeds": "3",
        },
        {
            "part": "worse",
            "method": "proposed",
            "clean_fraction": "0.1",
            "default": "77.0",
            "default_std": "0.1",
            "tuned": "79.0",
            "seeds": "3",
        },
    ]
    text = "\n".join(make_results.defaults_table(rows))
    assert "| worse | proposed | 78.50 ± 0.20 (-0.56) | 77.00 ± 0.10 (-2.00) |" in text
    assert "worse 5%: yes; worse 10%: no." in text  # 2 points below its tuned result at 10%
    rows[1]["default"] = "79.0"  # g-alone's defaults above proposed's: missed although within a point
    assert "worse 5%: no" in "\n".join(make_results.defaults_table(rows))


def test_the_label_issue_margin_is_the_one_with_the_smallest_worst_case_f1_regret():
    def row(noise, margin, f1, rule="contradiction"):
        return {
            "part": "single",
            "noise": noise,
            "rows": "1000",
            "seed": "0",
            "rule": rule,
            "margin": str(margin),
            "wrong": "10",
            "labels": "100",
            "flagged": "12",
            "precision": "0.5",
            "recall": "0.6",
            "f1": str(f1),
            "suggestion_right": "0.7",
            "commit": "abc",
            "date": "d",
            "command": "c",
        }

    # margin 0 is best on "a" but far behind on "b"; 0.1 is never best and never far behind
    rows = [
        row("a", 0, 0.80),
        row("a", 0.1, 0.75),
        row("a", 0.2, 0.60),
        row("b", 0, 0.40),
        row("b", 0.1, 0.55),
        row("b", 0.2, 0.58),
        row("b", "", 0.3, "posterior <= 0.5 (old default)"),
    ]
    best, regret = make_results.chosen_margin(make_results.issue_cells(rows))
    assert best == 0.1 and regret == pytest.approx({0.0: 0.18, 0.1: 0.05, 0.2: 0.20})
    text = "\n".join(make_results.issue_cutoff_table(rows))
    assert "| single `b`, 1,000 images | 10.0% | 0.400 | 0.550 | **0.580** |" in text
    assert "| worst-case F1 regret | | 0.180 | 0.050 | 0.200 |" in text


def _curve_run(metric_by_eval, test_by_eval, pool=40, patience=3, total=1000):
    """A run whose every validation draw sees ``metric_by_eval`` exactly (each image right on the same
    evaluations, so any subset's mean is the pool's)."""
    m = np.asarray(metric_by_eval)
    correct = np.zeros((len(m), pool), bool)
    for e, v in enumerate(m):
        correct[e, : int(round(v * pool))] = True
    bce = np.tile((1 - m)[:, None], (1, pool))
    return {
        "steps": np.arange(1, len(m) + 1) * 100,
        "correct": correct,
        "bce": bce,
        "test": np.asarray(test_by_eval),
        "total": total,
        "patience": patience,
    }


def test_the_selection_study_replays_the_library_rule_with_its_early_stop():
    bench = pytest.importorskip("benchmarks.bench_selection")
    # validation peaks at evaluation 2, sags for the patience, then climbs higher at evaluation 9
    metric = [0.5, 0.6, 0.8, 0.7, 0.7, 0.7, 0.7, 0.75, 0.78, 0.9]
    test = [0.50, 0.60, 0.70, 0.65, 0.65, 0.65, 0.65, 0.70, 0.72, 0.80]
    run = _curve_run(metric, test, patience=3)
    library = next(iter(bench.RULES))
    picked = bench.simulate(run, [40], draws=1, rng=np.random.default_rng(0))
    assert picked[(library, 40)] == [0.70]  # stopped at evaluation 5: the later peak is never seen
    assert picked[("library since (lowest loss, ties later, same patience)", 40)] == [0.70]  # same stop
    assert picked[("best top-1, ties later, never stop", 40)] == [0.80]
    assert picked[("last evaluation", 40)] == [0.80]
    assert picked[(bench.ORACLE, 40)] == [0.80]
    # with no patience the library rule trains on and finds the later peak
    assert bench.simulate({**run, "patience": 0}, [40], 1, np.random.default_rng(0))[(library, 40)] == [0.80]


def test_the_selection_study_draws_subsets_and_breaks_ties_as_named():
    bench = pytest.importorskip("benchmarks.bench_selection")
    metric, test = [0.5, 0.8, 0.8, 0.6], [0.5, 0.6, 0.7, 0.4]
    run = _curve_run(metric, test, patience=0)
    picked = bench.simulate(run, [10, 40], draws=5, rng=np.random.default_rng(0))
    assert picked[("best top-1, ties later, never stop", 40)] == [0.7]
    assert picked[("best top-1, ties earlier", 40)] == [0.6]
    assert len(picked[("best top-1, ties earlier", 10)]) == 5 and len(picked[("last evaluation", 40)]) == 1
    assert bench.smoothed(np.array([0.0, 3.0, 0.0])).tolist() == [1.5, 1.0, 1.5]


def test_label_issue_rows_take_the_score_that_ranks_validation_best_not_the_answer():
    from types import SimpleNamespace

    bench = pytest.importorskip("benchmarks.bench_label_issues")
    ranked = {
        "posterior": SimpleNamespace(val_auroc=0.81),
        "g": SimpleNamespace(val_auroc=0.86),
        "residual": SimpleNamespace(val_auroc=None),
    }
    assert bench.chosen_score(ranked) == "g"
    unchecked = {"method": SimpleNamespace(val_auroc=None), "g": SimpleNamespace(val_auroc=None)}
    assert bench.chosen_score(unchecked) == "method"


def test_label_issue_rows_written_before_a_column_was_added_are_kept(tmp_path):
    from types import SimpleNamespace

    bench = pytest.importorskip("benchmarks.bench_label_issues")
    path = tmp_path / "label_issues.csv"
    path.write_text("part,noise,peer,auroc\nsingle,worse,old peer,0.9\n")
    args = SimpleNamespace(csv=str(path), clean=0.05, seed=0)
    bench.append(
        [
            {
                "part": "single",
                "noise": "worse",
                "peer": "new peer",
                "auroc": 0.95,
                "head": "linear",
                "chosen_on": "fixed",
            }
        ],
        args,
    )
    rows = list(csv.DictReader(open(path)))
    assert list(rows[0]) == bench.COLUMNS + ["run", "superseded_by"]
    assert [(r["peer"], r["auroc"], r["head"]) for r in rows] == [
        ("old peer", "0.9", ""),
        ("new peer", "0.95", "linear"),
    ]


def test_cleanlabs_multi_label_head_is_the_validated_mixed_head_with_clean_rows_flagged():
    bench = pytest.importorskip("benchmarks.cleanlab_peer")
    from sklearn.metrics import roc_auc_score

    from noisereg.data.labelset import LabelledSet

    rng = np.random.default_rng(0)
    y = (rng.random((300, 3)) < 0.4).astype(int)
    x = (y @ rng.normal(0, 2, (3, 8)) + rng.normal(0, 0.5, (300, 8))).astype(np.float32)
    flag = np.zeros((300, 1), np.float32)
    flag[:30] = 1
    vy = y[:40]
    val = LabelledSet(
        images=x[:40],
        classes=["0", "1", "2"],
        noisy=np.zeros_like(vy),
        clean=vy,
        has_noisy=np.zeros(40, bool),
        has_clean=np.ones(40, bool),
    )
    head = bench.MultiHead(val=val, seed=0, train={"epochs": 150}).fit(np.hstack([x, flag]), y)
    assert head.result_.meta["config"]["method"] == "mixed" and head.result_.eval_set is val
    probs = head.predict_proba(np.hstack([x, flag]))
    assert probs.shape == (300, 3) and roc_auc_score(y.ravel(), probs.ravel()) > 0.9


def test_a_defaults_variant_names_trainconfig_fields_and_keeps_integers():
    bench = pytest.importorskip("benchmarks.bench_defaults")
    assert bench.parse_variant("len:epochs=20,batch_size=128") == ("len", {"epochs": 20.0, "batch_size": 128})
    assert isinstance(bench.parse_variant("w:hidden=128")[1]["hidden"], int)
    for bad in ("nocolon", "x:hiden=128", "x:lr"):
        with pytest.raises(SystemExit):
            bench.parse_variant(bad)
    rows = bench.ablation_rows(
        "random1",
        {("proposed", "w", 0.01): [(82.0, 80.0)], ("proposed", "defaults", 0.01): [(80.0, 79.0), (81.0, 78.0)]},
        {"defaults": {}, "w": {"hidden": 128}},
    )
    assert [r["variant"] for r in rows] == ["defaults", "w"]  # the defaults first, then the variants as given
    assert rows[0]["val"] == 80.5 and rows[0]["test_std"] == pytest.approx(np.std([79.0, 78.0], ddof=1), abs=0.01)
    assert rows[1]["settings"] == "hidden=128"


def test_timings_report_cpu_seconds_beside_wall_seconds_for_the_same_call():
    import time

    common = pytest.importorskip("benchmarks.common")
    wall, cpu = common.timed_both(lambda: time.sleep(0.05), repeat=2)  # waiting costs wall time, not CPU time
    assert wall >= 0.05 and cpu < 0.03
    wall, cpu = common.timed_both(lambda: sum(i * i for i in range(300_000)), repeat=1)  # work costs both
    assert cpu > 0.2 * wall > 0  # a loaded machine stretches wall time only


def test_alpha_choice_replay_picks_on_validation_and_ties_keep_the_earlier(tmp_path, monkeypatch):
    alpha_choice = pytest.importorskip("benchmarks.alpha_choice")
    runs = tmp_path / "alpha_candidates.csv"
    rows = [  # seed 0: 0.02 best on validation but worst on test; seed 1: a tie between 0.2 and 0.05
        ("worse", 0.01, 0, 0.2, 70.0, 80.0),
        ("worse", 0.01, 0, 0.05, 71.0, 79.0),
        ("worse", 0.01, 0, 0.02, 72.0, 60.0),
        ("worse", 0.01, 1, 0.2, 70.0, 81.0),
        ("worse", 0.01, 1, 0.05, 70.0, 90.0),
        ("worse", 0.01, 1, 0.02, 69.0, 99.0),
        ("worse", 0.01, 2, 0.2, 70.0, 81.0),
    ]  # an incomplete seed: left out
    with runs.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["part", "clean_fraction", "seed", "alpha", "val", "test"])
        w.writerows(rows)
    monkeypatch.setattr(alpha_choice, "RUNS", runs)
    assert alpha_choice.chosen_cells()[("worse", 0.01)] == [(80.0, 60.0, 0.02), (81.0, 81.0, 0.2)]


def test_cleanlabs_multi_label_filter_leaves_out_flagged_noisy_photos_and_never_a_clean_one():
    """The voc part's cleanlab row: out-of-fold probabilities of the same head, cleanlab's multi-label
    ``find_label_issues``, the flagged noisy rows left out and the head fitted again; clean rows stay."""
    pytest.importorskip("cleanlab")
    _cleanlab = pytest.importorskip("benchmarks.cleanlab_peer")
    from noisereg.data.labelset import LabelledSet

    rng = np.random.default_rng(1)
    n = 240
    y = (rng.random((n, 3)) < 0.4).astype(np.float32)
    x = (y @ rng.normal(0, 2, (3, 8)) + rng.normal(0, 0.5, (n, 8))).astype(np.float32)
    noisy = y.copy()
    noisy[:, 0] = np.where(rng.random(n) < 0.3, 1 - y[:, 0], y[:, 0])  # class 0's labels flipped for 30%
    clean = np.zeros(n, bool)
    clean[:40] = True
    noisy[:40] = 1 - y[:40]  # the clean rows' noisy labels are all wrong: never read
    train = LabelledSet(images=x, classes=list("abc"), clean=y, noisy=noisy, has_noisy=~clean, has_clean=clean)
    xs, ys, flags = _cleanlab.multilabel_rows(train)
    assert (ys[flags] == y[:40]).all() and (ys[~flags] == noisy[40:]).all() and xs.shape == (n, 9)
    val = LabelledSet(
        images=x[:40],
        classes=list("abc"),
        noisy=np.zeros_like(y[:40]),
        clean=y[:40],
        has_noisy=np.zeros(40, bool),
        has_clean=np.ones(40, bool),
    )
    head = _cleanlab.MultiHead(val=val, seed=0, train={"steps": 60, "batch_size": 32, "patience": 0})
    probs = _cleanlab.multilabel_cv_probabilities(head, xs, ys, seed=0, folds=2)
    fitted, pruned = _cleanlab.multilabel_clean_learning(
        head, xs, ys, flags, probs, {"filter_by": "predicted_neq_given", "frac_noise": 1.0}
    )
    assert 0 < pruned < 1 - flags.mean()  # some noisy rows left out, never the clean ones
    assert len(fitted.result_.history) and fitted.result_.meta["config"]["method"] == "mixed"


def test_the_voc_part_trains_as_long_as_the_data_needs_and_its_targets_are_reported():
    """A clean-only phase on a few hundred photos must not stop after a handful of steps (the first sitting's
    20 epochs of batch 128 gave g-alone 18 steps at 5%): the voc part leaves length and batch to the data."""
    bench = pytest.importorskip("benchmarks.bench_cifar10n")
    from benchmarks.parts import get_part

    from noisereg.config import TrainConfig
    from noisereg.train.length import MIN_STEPS, phase_steps

    voc = TrainConfig.from_dict(get_part("voc").train)
    assert phase_steps(voc, per_epoch=2, total=voc.steps) >= MIN_STEPS and not voc.batch_size
    assert get_part("worse").train["epochs"] == 20  # the CIFAR parts keep the length they were measured with
    assert bench.metric_of("voc") == "mAP" and bench.fractions(type("A", (), {"fractions": None})(), "voc") == [
        0.02,
        0.05,
        0.1,
        0.2,
    ]
    rows = [
        _row("voc", m, f, s, v, 0, metric="mAP")
        for s in range(2)
        for f in (0.02, 0.05, 0.1)
        for m, v in (("proposed", 0.76), ("mixed", 0.77), ("g-alone", 0.60), ("h-alone", 0.70), ("gt", 0.9))
    ]
    lines = make_results.targets(rows).splitlines()
    five = next(ln for ln in lines if ln.startswith("| voc, 5% clean"))
    assert "+ 3" in five and "-1.00 vs mixed" in five and five.endswith("| no |")
    assert next(ln for ln in lines if ln.startswith("| voc: proposed > g-alone > h-alone")).endswith("| no |")
