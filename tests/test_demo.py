"""The built-in demo end to end (about a minute on 2 CPU cores)."""
import json

import pytest

from noisereg.cli import main


@pytest.mark.slow
def test_demo_writes_results_and_the_method_beats_its_ablations(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| proposed |" in printed and "single-label top-1" in printed
    results = json.loads((out / "results.json").read_text())
    assert set(results["tasks"]) == {"single-label", "multi-label"}
    for task in results["tasks"].values():
        assert set(task["methods"]) == {"proposed", "noisy", "g-alone", "h-alone"}
        for scores in task["methods"].values():
            assert {"top1", "mAP", "AP_all"} <= set(scores)
    single = results["tasks"]["single-label"]["methods"]
    assert single["proposed"]["top1"] > single["noisy"]["top1"] + 0.05
    assert single["proposed"]["top1"] > single["h-alone"]["top1"] + 0.05
    multi = results["tasks"]["multi-label"]["methods"]
    assert multi["proposed"]["AP_all"] > multi["noisy"]["AP_all"] + 0.02
    assert multi["proposed"]["AP_all"] > multi["h-alone"]["AP_all"] + 0.02
    assert (out / "report.md").read_text().count("| proposed |") == 1
    assert (out / "convergence.png").stat().st_size > 10_000
    assert results["seconds"] < 180
