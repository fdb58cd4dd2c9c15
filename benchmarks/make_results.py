"""Generate benchmarks/RESULTS.md whole, and the README's results tables, from benchmarks/results/.

    python -m benchmarks.make_results [--check]

The document is one section per benchmark (``SECTIONS``, in order), each showing only current figures:
tables rendered from the CSV rows that no later run superseded (``common.ResultsTable``), the current block
of a script whose figures are prose-shaped (``results/blocks/<slug>.md``: its command, date, machine and
wall time, then its table), and the section's reading (``results/notes/<slug>.md``, written by hand).
Superseded runs stay in the CSVs (marked ``superseded_by``) and in git history, never in the document.
``--check`` writes nothing and exits 1 when RESULTS.md or the README's tables are not what the results give.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import BLOCKS_DIR, NOTES_DIR, SUPERSEDED
from benchmarks.parts import FRACTIONS, get_part, list_parts

HERE = Path(__file__).resolve().parent
RESULTS, DIR = HERE / "RESULTS.md", HERE / "results"
UPPER = {"gt"}  # an upper bound, not a competitor
OURS = ("proposed",)  # the paper's method and its variants (proposed-*)
ABLATIONS = {"noisy", "mixed", "g-alone", "h-alone"}  # the method's own ablations (tables 2-3), not baselines
METRIC_NAMES = {"top1": "top-1", "mAP": "mAP"}


def read(name: str) -> list[dict]:
    """The current rows of ``results/<name>`` (rows a later run superseded are left out); [] when absent."""
    path = DIR / name
    rows = list(csv.DictReader(open(path, newline=""))) if path.exists() else []
    return [r for r in rows if not r.get(SUPERSEDED)]


def is_ours(method: str) -> bool:
    return method.startswith(OURS)


def cells(rows: list[dict], metric: str) -> dict[tuple[str, float], np.ndarray]:
    out: dict[tuple[str, float], list[float]] = defaultdict(list)
    for r in rows:
        if r.get(metric) not in (None, ""):
            out[(r["method"], float(r["clean_fraction"]))].append(100 * float(r[metric]))
    return {k: np.asarray(v) for k, v in out.items()}


def sample_std(v: np.ndarray) -> float:
    """The sample standard deviation (ddof 1) over seeds; 0 for a single seed."""
    return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def table(rows: list[dict], metric: str) -> str:
    """method x clean fraction, mean ± sample std over seeds; the best competitor per column in bold; the mean
    epochs run (where early stopping ended a run) and, where recorded, the mean epoch of the kept weights."""
    c = cells(rows, metric)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fracs = sorted({f for _, f in c})
    best = {f: max((v.mean(), m) for (m, g), v in c.items() if g == f and m not in UPPER)[1] for f in fracs}
    head = (
        "| method | " + " | ".join(f"{metric} @ {f:g}" for f in fracs) + " | epochs run | best epoch | tuned values |"
    )
    lines = [head, "|---|" + "---:|" * len(fracs) + "---:|---:|---|"]
    for m in methods:
        vals = []
        for f in fracs:
            v = c.get((m, f))
            text = "-" if v is None else f"{v.mean():.2f} ± {sample_std(v):.2f}"
            vals.append(f"**{text}**" if best.get(f) == m else text)
        mine = [r for r in rows if r["method"] == m]
        epochs = np.mean([float(r["epochs"]) for r in mine if r["epochs"] not in ("", "-")] or [0])
        kept = [float(r["best_epoch"]) for r in mine if r.get("best_epoch") not in (None, "", "-")]
        lines.append(
            f"| {m} | " + " | ".join(vals) + f" | {epochs:.1f} | {np.mean(kept):.1f} |"
            if kept
            else f"| {m} | " + " | ".join(vals) + f" | {epochs:.1f} | - |"
        )
        lines[-1] += f" {mine[0]['hyperparameters']} |"
    return "\n".join(lines)


def gap(rows: list[dict], metric: str, f: float, method: str = "proposed") -> tuple[float, str]:
    """(mean of ``method`` - mean of the best competitor, that competitor) at clean fraction ``f``."""
    c = cells(rows, metric)
    others = {m: v.mean() for (m, g), v in c.items() if g == f and not is_ours(m) and m not in UPPER}
    if (method, f) not in c or not others:
        return float("nan"), "-"
    best = max(others, key=others.get)
    return c[(method, f)].mean() - others[best], best


def targets(rows: list[dict]) -> str:
    """Each part's claims (``Part.targets``: ``proposed`` at least a margin above the best other method at a
    clean fraction), the reference parts' gaps at every fraction, then whether proposed > g-alone > h-alone."""
    lines = ["| target | measured | met |", "|---|---|:---:|"]
    for name in list_parts():
        part, mine = get_part(name), [r for r in rows if r["part"] == name]
        metric = METRIC_NAMES[part.metric]
        for f, need in part.targets:
            g, who = gap(mine, part.metric, f)
            if g == g:
                lines.append(
                    f"| {name}, {f:.0%} clean: proposed ≥ best other method{f' + {need:g}' if need else ''} "
                    f"({metric}) | {g:+.2f} vs {who} | {'yes' if g >= need else 'no'} |"
                )
        if part.reference:  # not a claim: the same comparison on lighter noise
            gaps = {f: gap(mine, part.metric, f) for f in sorted({float(r["clean_fraction"]) for r in mine})}
            if gaps:
                lines.append(
                    f"| {name} (for reference): proposed ≥ best other method ({metric}) | "
                    + ", ".join(f"{f:g}: {g:+.2f} vs {who}" for f, (g, who) in gaps.items())
                    + f" | {sum(g >= 0 for g, _ in gaps.values())} of {len(gaps)} |"
                )
    for name in list_parts():
        metric = get_part(name).metric
        c = cells([r for r in rows if r["part"] == name], metric)
        fracs = sorted({f for m, f in c if m == "proposed"})
        if not fracs or not all(("g-alone", f) in c and ("h-alone", f) in c for f in fracs):
            continue
        held = [f for f in fracs if c[("proposed", f)].mean() > c[("g-alone", f)].mean() > c[("h-alone", f)].mean()]
        lines.append(
            f"| {name}: proposed > g-alone > h-alone ({metric}) | holds at {len(held)} of {len(fracs)} "
            f"fractions ({', '.join(f'{f:g}' for f in held) or 'none'}) | "
            f"{'yes' if len(held) == len(fracs) else 'no'} |"
        )
    return "\n".join(lines)


def cifar10n_body() -> list[str]:
    """The grid of ``bench_cifar10n.py``: the targets, then one subsection per registered part."""
    rows = read("cifar10n.csv")
    if not rows:
        return []
    out = [
        "Every cell is the mean ± the sample standard deviation (ddof 1) over the seeds; the best "
        "competitor of each column (not `gt`, an upper bound) is in bold.",
        "",
        "### Targets",
        "",
        targets(rows),
        "",
    ]
    for name in list_parts():
        out += part_lines(name, [r for r in rows if r["part"] == name])
    runs = read("cifar10n_runs.csv")
    if runs:
        out += (
            ["Wall time per part:", ""]
            + [f"- {r['part']}: {float(r['seconds']) / 60:.0f} min on {r['machine']}" for r in runs]
            + [""]
        )
    return out


def part_lines(name: str, rows: list[dict]) -> list[str]:
    """One part's subsection: its measured noise, a table per metric, its per-class view, its reading."""
    if not rows:
        return []
    part = get_part(name)
    out = [f"### {part.title}", ""] + noise_lines(name)
    for metric in part.metrics:
        out += [table(rows, metric), ""]
    if part.per_class_ap:
        out += per_class_lines(name, rows) + analysis_lines(name)
    return out + notes(f"part-{name}")


def top_cost_table(rows: list[dict]) -> list[str]:
    """``results/top_cost.csv`` (``bench_top.py``): a step of the top of EfficientNet-Lite0 on cached trunk
    activations against one of the whole network, same batch, interleaved in one process; medians over the
    triples, the ratio's range beside its median; the one-time trunk pass per image."""
    if not rows:
        return []
    by: dict[tuple[int, int, int], list[dict]] = defaultdict(list)
    for r in rows:
        by[(int(r["image_size"]), int(r["batch"]), int(r["train_blocks"]))].append(r)
    first = rows[0]
    out = [
        f"`python -m benchmarks.bench_top` at commit {first['commit']} ({first['date']}, {first['machine']}): one "
        "optimisation step (forward, backward, Adam) of EfficientNet-Lite0 with Backbone (Noisy)'s linear "
        "classifier, the whole network on the images against the top (`--train-blocks K`) on the cached float16 "
        "activations of the frozen trunk, same batch, in interleaved triples (whole, K=2, K=5); medians over the "
        "triples. The trunk pass is paid once per image, when the cache is filled.",
        "",
        "| image | batch | K: what trains | activations per image | whole step s | top step s | whole / top "
        "(min-max) | trunk pass ms/image | whole inference ms/image |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for (size, batch, k), rs in sorted(by.items()):

        def med(key: str, rs: list[dict] = rs) -> float:
            return float(np.median([float(r[key]) for r in rs]))

        ratios = [float(r["ratio"]) for r in rs]
        out.append(
            f"| {size} px | {batch} | {k}: {rs[0]['trained']} | {rs[0]['activation']} float16 | "
            f"{med('whole_s'):.3f} | {med('top_s'):.3f} | **{np.median(ratios):.1f}x** "
            f"({min(ratios):.1f}-{max(ratios):.1f}) | {med('trunk_ms_per_image'):.1f} | "
            f"{med('whole_ms_per_image'):.1f} |"
        )
    return out + [""]


def noise_lines(part: str) -> list[str]:
    """The part's measured noise (``results/noise_<part>.json``, written by bench_cifar10n.py) as a
    sentence and a per-class table; nothing for a part without that file."""
    path = DIR / f"noise_{part}.json"
    if not path.exists():
        return []
    n = json.loads(path.read_text())
    r, multi, unit = n["rates"], get_part(part).multi_label, get_part(part).unit
    head = (
        f"Measured noise of the {n['images']:,} training {unit}: "
        + (
            f"{r['missing']:.1%} of the true labels missing, {r['spurious']:.1%} of the given labels wrong, "
            f"{n['labels_per_image']['noisy']:.2f} noisy vs {n['labels_per_image']['clean']:.2f} true labels "
            f"per labelled {unit[:-1]}; {n['without_label']:,} {unit} got no label (all negatives)"
            if multi
            else f"{r['image']:.1%} of the given labels wrong; {n['without_label']:,} images "
            f"({n['without_label'] / n['images']:.1%}) got no label (no mapped prediction in the top-8) and "
            "leave D_n"
        )
        + " (`results/noise_"
        + part
        + ".json`)."
    )
    lines = [
        head,
        "",
        "| class | images | agreement | precision | most often given instead |",
        "|---|---:|---:|---:|---|",
    ]
    for name, c in n["per_class"].items():
        prec = "-" if c["precision"] is None else f"{c['precision']:.1%}"
        lines.append(f"| {name} | {c['images']:,} | {c['agreement']:.1%} | {prec} | {c['most_confused_with'] or '-'} |")
    return lines + [
        "",
        "agreement: share of the class's images whose noisy labels contain it; precision: share "
        "of the noisy labels naming it that are right.",
        "",
    ]


def per_class_lines(part: str, rows: list[dict], fraction: float = 0.05) -> list[str]:
    """Per-class test AP at ``fraction`` (``results/per_class_<part>.csv``, mean over seeds) of ``proposed``, the
    best other method there, ``mixed``, ``noisy`` and ``g-alone``, beside the annotator's measured noise per class
    (``results/noise_<part>.json``), ordered by ``proposed``'s lead."""
    per = [r for r in read(f"per_class_{part}.csv") if float(r["clean_fraction"]) == fraction and r["ap"] != ""]
    noise_path = DIR / f"noise_{part}.json"
    if not per or not noise_path.exists():
        return []
    _, best = gap(rows, "mAP", fraction)
    methods = list(dict.fromkeys(["proposed", best, "mixed", "noisy", "g-alone"]))
    ap: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in per:
        ap[(r["method"], r["class"])].append(100 * float(r["ap"]))
    noise = json.loads(noise_path.read_text())["per_class"]
    mean = {k: float(np.mean(v)) for k, v in ap.items()}
    classes = sorted(noise, key=lambda c: -(mean.get(("proposed", c), 0) - mean.get((best, c), 0)))
    out = [
        f"Per-class test AP at {fraction:.0%} clean (mean over seeds; `results/per_class_{part}.csv`) beside the "
        "annotator's noise on the training photos (missing: true labels it did not give; wrong: its labels "
        f"that are not true), ordered by `proposed` - `{best}` (the best other method by mAP here):",
        "",
        "| class | photos | missing | wrong | " + " | ".join(f"`{m}`" for m in methods) + f" | proposed - {best} |",
        "|---|---:|---:|---:|" + "---:|" * (len(methods) + 1),
    ]
    for c in classes:
        n = noise[c]
        wrong = "-" if n["precision"] is None else f"{1 - n['precision']:.0%}"
        vals = " | ".join(f"{mean[(m, c)]:.1f}" if (m, c) in mean else "-" for m in methods)
        lead = mean.get(("proposed", c), float("nan")) - mean.get((best, c), float("nan"))
        out.append(f"| {c} | {n['images']:,} | {1 - n['agreement']:.0%} | {wrong} | {vals} | {lead:+.1f} |")
    return out + [""]


def analysis_lines(part: str) -> list[str]:
    """``results/analysis_<part>.csv`` (analyze_voc.py): on the noisy training photos' wrong entries, how often h
    reproduces the machine's label and how often each method's g gives the truth."""
    rows = read(f"analysis_{part}.csv")
    if not rows:
        return []
    pct = lambda r, k: "-" if r.get(k) in (None, "") else f"{100 * float(r[k]):.1f}"  # noqa: E731
    out = [
        "What the residual net absorbs (`python -m benchmarks.analyze_voc`, seed 0, tuned values; "
        f"`results/analysis_{part}.csv`): on the noisy training photos, entry by entry (photo x class), whether a "
        "method's g says the truth where the machine's label is wrong (a true class it missed; a class it named "
        "wrongly), whether g keeps the right entries, and whether h = sigmoid(r + c) reproduces the machine's "
        "wrong label (thresholds 0.5).",
        "",
        "| clean | method | test mAP | g true on missing | g true on wrong | g keeps right | h = given on missing | "
        "h = given on wrong |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {float(r['clean_fraction']):g} | {r['method']} | {pct(r, 'test_mAP')} | "
            f"{pct(r, 'g_true_on_missing')} | {pct(r, 'g_true_on_spurious')} | {pct(r, 'g_kept_right')} | "
            f"{pct(r, 'h_given_on_missing')} | {pct(r, 'h_given_on_spurious')} |"
        )
    return out + [""]


def demo_body() -> list[str]:
    """``results/demo.csv`` (``bench_demo.py``): mean ± sample std over the seeds and each method's gap to
    ``proposed``, after the run's command, machine and versions (``results/blocks/demo.md``)."""
    from benchmarks.bench_demo import table as demo_table

    rows = [{**r, "seed": int(r["seed"]), "value": float(r["value"])} for r in read("demo.csv")]
    return block("demo") + [demo_table(rows), ""] if rows else []


def defaults_table(rows: list[dict]) -> list[str]:
    """Untuned defaults against the tuned grid (``results/defaults.csv``, ``bench_defaults.py``): per part and
    method, default - tuned at each clean fraction, and whether ``proposed``'s defaults meet issue 24's target
    (within 1 point of its tuned result, and not below ``g-alone``'s defaults)."""
    fractions = sorted({float(r["clean_fraction"]) for r in rows})
    cell = {(r["part"], r["method"], float(r["clean_fraction"])): r for r in rows}
    out = [
        "`python -m benchmarks.bench_defaults --part PART`: each method with no option set (length and batch "
        "from the data, the method's own defaults) against its tuned rows above; mean ± sample std over the "
        "seeds, (default - tuned) in brackets. `proposed` chooses its alpha on validation (0.2 / 0.05 / 0.02, "
        "`train/choice.py`); † = that choice read off the three candidates' per-seed runs "
        "(`benchmarks/alpha_choice.py`, which replays the library's rule), ‡ = run before the choice existed "
        "(alpha 0.2), unmarked = run through the library as it is.",
        "",
        "| part | method | " + " | ".join(f"{100 * f:g}%" for f in fractions) + " |",
        "|---|---|" + "---:|" * len(fractions),
    ]
    for part, method in dict.fromkeys((r["part"], r["method"]) for r in rows):
        vals = []
        for f in fractions:
            r = cell.get((part, method, f))
            if r is None:
                vals.append("")
                continue
            diff = f" ({float(r['default']) - float(r['tuned']):+.2f})" if r["tuned"] != "" else ""
            mark = {"candidates": "†", "alpha 0.2": "‡"}.get(r.get("source") or "", "")
            vals.append(f"{float(r['default']):.2f} ± {float(r['default_std']):.2f}{diff}{mark}")
        out.append(f"| {part} | {method} | " + " | ".join(vals) + " |")
    verdicts = []
    for part in dict.fromkeys(r["part"] for r in rows):
        for f in fractions:
            r = cell.get((part, "proposed", f))
            if r is None or r["tuned"] == "":
                continue
            g = cell.get((part, "g-alone", f))
            within = float(r["default"]) >= float(r["tuned"]) - 1
            above = g is None or float(r["default"]) >= float(g["default"])
            verdicts.append(f"{part} {100 * f:g}%: {'yes' if within and above else 'no'}")
    if verdicts:
        out += [
            "",
            "Target (proposed's defaults within 1 point of its tuned result and not below g-alone's "
            "defaults): " + "; ".join(verdicts) + ".",
        ]
    return out + [""] + notes("defaults") + alpha_choice_table()


def alpha_choice_table() -> list[str]:
    """``proposed``'s alpha chosen on validation, replayed per seed from the ablation's candidate runs
    (``alpha_choice.py``, ``results/alpha_candidates.csv``): the paper's 0.2 beside the choice and tuned."""
    if not (DIR / "alpha_candidates.csv").exists():
        return []
    from benchmarks import alpha_choice

    return [
        "### alpha on validation: the choice per cell (generated from `benchmarks/results/alpha_candidates.csv`)",
        "",
        "`python -m benchmarks.alpha_choice`: per seed, the candidate (0.2, 0.05, 0.02) whose kept weights "
        "score best on validation, read off the ablation's runs of each; test mean ± sample std over 3 seeds; "
        "per seed: the alpha chosen.",
        "",
        alpha_choice.table().rstrip("\n"),
        "",
    ] + notes("alpha")


README = HERE.parent / "README.md"
README_START = "<!-- results tables: generated by benchmarks/make_results.py -->"
README_END = "<!-- results tables: end -->"


def headline_table(rows: list[dict], part: str) -> str:
    """The README's view of a part: chosen rows, then the best other method of each column by name."""
    metric, methods = get_part(part).metric, get_part(part).headline
    c = cells([r for r in rows if r["part"] == part], metric)
    fracs = sorted({f for _, f in c})
    present = [m for m in methods if any((m, f) in c for f in fracs)]
    lines = ["| clean share | " + " | ".join(f"{f:.0%}" for f in fracs) + " |", "|---|" + "---:|" * len(fracs)]
    for m in present:
        lines.append(
            f"| `{m}` | "
            + " | ".join(
                "-" if (m, f) not in c else f"{c[(m, f)].mean():.2f} ± {sample_std(c[(m, f)]):.2f}" for f in fracs
            )
            + " |"
        )
    mine = [r for r in rows if r["part"] == part]
    best = [gap(mine, metric, f) for f in fracs]
    lines.append(
        "| best other method | "
        + " | ".join(
            f"`{who}` {c[('proposed', f)].mean() - g:.2f}" if who != "-" else "-" for f, (g, who) in zip(fracs, best)
        )
        + " |"
    )
    lines.append("| `proposed` - best other | " + " | ".join(f"{g:+.2f}" if g == g else "-" for g, _ in best) + " |")
    return "\n".join(lines)


def defaults_headline(part: str, methods: list[str]) -> str:
    """The README's view of a part on every method's untuned defaults (``results/defaults.csv``, the same cells,
    validation and seeds as the tuned grid): ``methods``' rows, then the best other method of each column."""
    rows = [r for r in read("defaults.csv") if r["part"] == part]
    if not rows:
        return ""
    cell = {(r["method"], float(r["clean_fraction"])): r for r in rows}
    fracs = sorted({f for _, f in cell})
    lines = ["| clean share | " + " | ".join(f"{f:.0%}" for f in fracs) + " |", "|---|" + "---:|" * len(fracs)]
    for m in [m for m in methods if any((m, f) in cell for f in fracs)]:
        lines.append(
            f"| `{m}` | "
            + " | ".join(
                f"{float(cell[(m, f)]['default']):.2f} ± {float(cell[(m, f)]['default_std']):.2f}"
                if (m, f) in cell
                else "-"
                for f in fracs
            )
            + " |"
        )
    best, diff = [], []
    for f in fracs:
        others = {m: float(r["default"]) for (m, g), r in cell.items() if g == f and not is_ours(m) and m not in UPPER}
        who = max(others, key=others.get)
        best.append(f"`{who}` {others[who]:.2f}")
        diff.append(f"{float(cell[('proposed', f)]['default']) - others[who]:+.2f}" if ("proposed", f) in cell else "-")
    return "\n".join(
        lines
        + ["| best other method | " + " | ".join(best) + " |", "| `proposed` - best other | " + " | ".join(diff) + " |"]
    )


def others_table(rows: list[dict]) -> str:
    """``proposed`` against the best other method in the remaining parts."""
    lines = ["| part | 1% | 2% | 5% | 10% | 20% |", "|---|---:|---:|---:|---:|---:|"]
    for part in [p for p in list_parts() if get_part(p).summary]:
        mine, metric, name = [r for r in rows if r["part"] == part], get_part(part).metric, get_part(part).summary
        if not mine:
            continue
        c = cells(mine, metric)
        if not {m for m, _ in c} - set(OURS) - UPPER - ABLATIONS:  # no baseline ran in this part
            name += " (vs its ablations only: no baseline ran here)"
        vals = []
        for f in FRACTIONS:
            g, who = gap(mine, metric, f)
            vals.append(
                ""
                if g != g
                else (f"**{c[('proposed', f)].mean():.2f}**" if g >= 0 else f"{c[('proposed', f)].mean():.2f}")
                + f" vs {c[('proposed', f)].mean() - g:.2f}"
            )
        lines.append(f"| {name} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def readme_block(rows: list[dict]) -> str:
    """The README's results: each headline part's table (``Part.headline``), its untuned defaults where
    ``Part.readme_defaults``, then the other parts against their best other method."""
    parts = []
    for name in [p for p in list_parts() if get_part(p).headline]:
        part = get_part(name)
        if any(r["part"] == name for r in rows):
            parts += [part.readme_title, "", headline_table(rows, name), ""]
        if part.readme_defaults and defaults_headline(name, list(part.headline)):
            parts += [
                f"The same cells with every method on its untuned defaults (`python -m benchmarks.bench_defaults "
                f"--part {name} --methods ...`, 5 seeds; `proposed` chooses its alpha on each run's validation "
                f"set), test {METRIC_NAMES[part.metric]} %:",
                "",
                defaults_headline(name, list(part.headline)),
                "",
            ]
    parts += [
        "The other parts, `proposed` against the best other method (bold: `proposed` ahead):",
        "",
        others_table(rows),
    ]
    return "\n".join(parts)


ISSUE_START = "<!-- issue cut-off: generated by benchmarks/make_results.py -->"
ISSUE_END = "<!-- issue cut-off: end -->"


def issue_cells(rows: list[dict]) -> dict[tuple, dict[str, dict[str, float]]]:
    """``results/issue_cutoff.csv`` as (part, noise, images) -> rule (``m=<margin>`` for the contradiction
    rule, ``old`` = posterior <= 0.5, ``validation``) -> metric -> mean over the seeds."""
    vals: dict[tuple, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in rows:
        rule = (
            f"m={float(r['margin']):g}"
            if r["rule"] == "contradiction"
            else "old"
            if "old default" in r["rule"]
            else "validation"
        )
        for k in ("wrong", "labels", "flagged", "precision", "recall", "f1", "suggestion_right"):
            if r[k] != "":
                vals[(r["part"], r["noise"], int(r["rows"]))][rule][k].append(float(r[k]))
    return {c: {rule: {k: float(np.mean(v)) for k, v in m.items()} for rule, m in by.items()} for c, by in vals.items()}


def chosen_margin(cells: dict) -> tuple[float, dict[float, float]]:
    """(the margin with the smallest worst-case F1 regret over the measured sets, each margin's worst regret):
    a margin must serve every noise level and data size, as the library applies one margin to all."""
    margins = sorted({float(rule[2:]) for by in cells.values() for rule in by if rule.startswith("m=")})
    regret = {
        m: max(max(by[f"m={x:g}"]["f1"] for x in margins) - by[f"m={m:g}"]["f1"] for by in cells.values())
        for m in margins
    }
    return min(regret, key=regret.get), regret


def run_facts(sidecar: str) -> str:
    """``; versions, machine and wall time`` from a run's JSON sidecar in results/ (empty when absent)."""
    path = DIR / sidecar
    if not path.is_file():
        return ""
    f = json.loads(path.read_text())
    return f"; Python {f['python']}, torch {f['torch']}, {f['machine']}; wall time {f['wall_minutes']:g} min"


def issue_cutoff_table(rows: list[dict]) -> list[str]:
    """The label-issue default without validation labels (``bench_issue_cutoff.py``): F1 per margin of the
    contradiction rule, then precision and recall at the library's margin beside the old default and the
    cut-off chosen on validation."""
    from noisereg.label_issues.scores import MARGIN

    cells = issue_cells(rows)
    best, regret = chosen_margin(cells)
    margins = sorted(regret)
    seeds = len({r["seed"] for r in rows})
    name = lambda c: f"{c[0]} `{c[1]}`, {c[2]:,} {'mosaics' if c[0] == 'mosaics' else 'images'}"  # noqa: E731
    out = [
        "; ".join(sorted({f"`{r['command']}` (commit {r['commit']}, {r['date']})" for r in rows}))
        + run_facts("issue_cutoff_run.json"),
        "",
        "When no validation images carry both a noisy and a clean label, `find-label-issues` flags the labels "
        "g contradicts: g's top class is not the given label and g(top) - g(given) > margin (multi-label: per "
        "(image, class) entry, g's side differs from the given one by more than the margin). CIFAR-10N human "
        "labels on seeded subsets of the training images (frozen EfficientNet-Lite0 features, 160 px), 5% "
        f"clean, `proposed` with bench_label_issues.py's settings; mean over {seeds} seeds; precision and recall "
        "against the known wrong labels (per entry on the mosaics). F1 of the rule per margin:",
        "",
        "| set | wrong labels | " + " | ".join(f"m = {m:g}" for m in margins) + " |",
        "|---|---:|" + "---:|" * len(margins),
    ]
    for c, by in cells.items():
        top = max(by[f"m={m:g}"]["f1"] for m in margins)
        f1 = [
            f"**{by[f'm={m:g}']['f1']:.3f}**" if by[f"m={m:g}"]["f1"] == top else f"{by[f'm={m:g}']['f1']:.3f}"
            for m in margins
        ]
        out.append(f"| {name(c)} | {by['m=0']['wrong'] / by['m=0']['labels']:.1%} | " + " | ".join(f1) + " |")
    out += [
        "| worst-case F1 regret | | " + " | ".join(f"{regret[m]:.3f}" for m in margins) + " |",
        "",
        f"The margin with the smallest worst-case regret: {best:g}; the library's (`scores.MARGIN`): {MARGIN:g}. "
        "A margin is a gap in probability, and g is less confident when it trained on fewer images, so a "
        "wide margin (0.2-0.3) suits 8,000 images with few wrong labels but flags almost nothing on 1,000. "
        "The margin is a library default chosen here against the known wrong labels of these same sets, so the "
        "figures at it below are in-sample for that one choice (each set's best margin is within 0.04 F1 of it); "
        "a user's run never sees true labels: the rule and its margin are fixed.",
        "",
        f"At the library's margin ({MARGIN:g}), beside the old default (posterior <= 0.5) and the cut-off chosen "
        "on validation (where at least 20 validation images had both labels); `suggestion right`: among the "
        "flagged wrong labels, how often `predicted_label` is the true class:",
        "",
        "| set | flagged | precision | recall | F1 | suggestion right | old: flagged / precision / recall | "
        "validation: flagged / precision / recall |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    trio = lambda m: f"{m['flagged']:,.0f} / {m['precision']:.3f} / {m['recall']:.3f}" if m else "-"  # noqa: E731
    for c, by in cells.items():
        m = by.get(f"m={MARGIN:g}")
        if m is None:  # the library's margin was not among the measured ones
            out.append(f"| {name(c)} | - | - | - | - | - | {trio(by.get('old'))} | {trio(by.get('validation'))} |")
            continue
        out.append(
            f"| {name(c)} | {m['flagged']:,.0f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
            f"{m.get('suggestion_right', float('nan')):.3f} | {trio(by.get('old'))} | "
            f"{trio(by.get('validation'))} |"
        )
    return out + [
        "",
        "On the mosaics a flagged entry's suggestion is its flip, always the true entry when the "
        "entry is wrong (hence 1.000).",
        "",
    ]


def issue_readme_block(rows: list[dict]) -> str:
    """The README's label-issue figures: the contradiction default's precision and recall per set."""
    from noisereg.label_issues.scores import MARGIN

    lines = [
        f"Measured (`benchmarks/bench_issue_cutoff.py`, margin {MARGIN:g}, mean over the seeds; "
        "`benchmarks/RESULTS.md` has every margin and the choice):",
        "",
        "| CIFAR-10N set | wrong labels | flagged | precision | recall | old default (posterior <= 0.5): "
        "precision / recall |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for c, by in issue_cells(rows).items():
        m, old = by.get(f"m={MARGIN:g}"), by.get("old")
        if m is None:
            continue
        unit = "mosaics, per entry" if c[0] == "mosaics" else "images"
        lines.append(
            f"| `{c[1]}`, {c[2]:,} {unit} | {m['wrong'] / m['labels']:.1%} | {m['flagged']:,.0f} | "
            f"{m['precision']:.3f} | {m['recall']:.3f} | "
            + (f"{old['precision']:.3f} / {old['recall']:.3f} ({old['flagged']:,.0f} flagged)" if old else "-")
            + " |"
        )
    return "\n".join(lines)


def notes(slug: str) -> list[str]:
    """The section's reading, written by hand (``results/notes/<slug>.md``), as lines; [] when absent."""
    path = NOTES_DIR / f"{slug}.md"
    return path.read_text().rstrip("\n").split("\n") + [""] if path.exists() else []


def block(slug: str) -> list[str]:
    """A script's current block (``results/blocks/<slug>.md``; a folder: each of its blocks, by name)."""
    path = BLOCKS_DIR / slug
    files = sorted(path.glob("*.md")) if path.is_dir() else [path.with_suffix(".md")]
    return [line for f in files if f.exists() for line in f.read_text().rstrip("\n").split("\n") + [""]]


def pipe_table(rows: list[dict], columns: list[str]) -> str:
    """A markdown table of CSV rows: numbers to 3 decimals, text as it is, blanks blank."""

    def cell(v: str) -> str:
        try:
            return f"{float(v):.3f}" if v not in ("", None) and not v.isdigit() else (v or "")
        except ValueError:
            return v

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows])


LABEL_ISSUE_COLUMNS = [
    "part",
    "noise",
    "peer",
    "head",
    "score",
    "chosen_on",
    "level",
    "val_auroc",
    "auroc",
    "ap",
    "precision_at_k",
    "recall_at_k",
    "flagged_precision",
    "flagged_recall",
    "seconds",
    "cpu_seconds",
    "test_top1",
]


def label_issues_body() -> list[str]:
    """``results/label_issues.csv``'s current run of each label set (``bench_label_issues.py``), then each run's
    command, machine and target (``results/blocks/label-issues/<part>-<noise>.md``)."""
    rows = read("label_issues.csv")
    if not rows:
        return []
    return [pipe_table(rows, LABEL_ISSUE_COLUMNS), "", "The runs these rows come from:", ""] + block("label-issues")


def defaults_miss_body() -> list[str]:
    """``results/defaults_ablation.csv`` (``bench_defaults.py --variant``): the defaults beside one changed value
    at a time, validation and test side by side, then the runs (``results/blocks/defaults-miss/``)."""
    rows = read("defaults_ablation.csv")
    if not rows:
        return []
    lines = ["| part | method | clean | variant | settings | val | test |", "|---|---|---:|---|---|---:|---:|"]
    lines += [
        f"| {r['part']} | {r['method']} | {float(r['clean_fraction']):g} | {r['variant']} | "
        f"{r['settings'] or '-'} | {float(r['val']):.2f} ± {float(r['val_std']):.2f} | "
        f"{float(r['test']):.2f} ± {float(r['test_std']):.2f} |"
        for r in rows
    ]
    return ["\n".join(lines), "", "The runs these rows come from:", ""] + block("defaults-miss")


@dataclass(frozen=True)
class Section:
    """One section of RESULTS.md: ``render`` gives its figures ([] leaves the section out); ``sources`` are the
    files under results/ it reads, named under its title; its reading (``results/notes/<slug>.md``) follows."""

    slug: str
    title: str
    render: Callable[[], list[str]]
    sources: tuple[str, ...] = ()


SECTIONS: dict[str, Section] = {}


def register_section(section: Section) -> Section:
    """Add a section at the end of the document (its slug must be new)."""
    if section.slug in SECTIONS:
        raise ValueError(f"section {section.slug!r} is already registered")
    SECTIONS[section.slug] = section
    return section


def block_section(slug: str, title: str) -> Section:
    """A section that shows a script's current block as it wrote it (``common.write_block``)."""
    return register_section(Section(slug, title, lambda: block(slug), (f"blocks/{slug}.md",)))


def render_section(section: Section) -> list[str]:
    body = section.render()
    if not body:
        return []
    source = ", ".join(f"`results/{s}`" for s in section.sources)
    return (
        [f"## {section.title}", ""] + ([f"Generated from {source}.", ""] if source else []) + body + notes(section.slug)
    )


def document() -> str:
    """The whole of RESULTS.md."""
    head = [
        "# Benchmark results",
        "",
        "Generated by `python -m benchmarks.make_results` from `benchmarks/results/`; "
        "do not edit by hand (edit a section's reading in `results/notes/<section>.md`). Each section shows "
        "the current figures only, with the command, date, machine and, where recorded, the wall time of the "
        "run that produced them; superseded runs stay in the CSVs (column `superseded_by`) and in git "
        "history. Every ± is the sample standard deviation over seeds (ddof 1).",
        "",
        "Sections:",
        "",
    ]
    shown = [(s, render_section(s)) for s in SECTIONS.values()]
    head += [f"- [{s.title}](#{anchor(s.title)})" for s, body in shown if body] + [""]
    return "\n".join(head + [line for _, body in shown for line in body]).rstrip("\n") + "\n"


def anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


LABEL_START = "<!-- label issues: generated by benchmarks/make_results.py -->"
LABEL_END = "<!-- label issues: end -->"
LABEL_PEERS = (
    ("noisereg proposed", "`proposed`"),
    ("cleanlab + same head (5-fold)", "cleanlab, same head"),
    ("cleanlab + logistic regression (5-fold)", "cleanlab, logistic regression"),
    ("noisereg cleannet", "CleanNet"),
    ("noisereg mw-net", "MW-Net"),
)


def label_issues_readme_block(rows: list[dict]) -> str:
    """The README's label-issue ranking: per label set, the ranking AUROC of the wrong labels (per entry on the
    mosaics) of each peer's score chosen on validation, the best in bold, and the CPU seconds of ``proposed``
    against cleanlab's same head (``results/label_issues.csv``, current rows)."""
    lines = [
        "| noise set | wrong labels | "
        + " | ".join(name for _, name in LABEL_PEERS)
        + " | `proposed` / cleanlab CPU s |",
        "|---|---:|" + "---:|" * (len(LABEL_PEERS) + 1),
    ]
    for part, noise in dict.fromkeys((r["part"], r["noise"]) for r in rows):
        level = "entry" if part == "mosaics" else "image"
        mine = [
            r
            for r in rows
            if (r["part"], r["noise"], r["level"]) == (part, noise, level) and r["chosen_on"] != "alternative"
        ]
        got = {peer: next((r for r in mine if r["peer"] == peer), None) for peer, _ in LABEL_PEERS}
        best = max(float(r["auroc"]) for r in got.values() if r)
        cells = [
            "-"
            if r is None
            else f"**{float(r['auroc']):.3f}**"
            if float(r["auroc"]) == best
            else f"{float(r['auroc']):.3f}"
            for r in got.values()
        ]
        ours, peer = got["noisereg proposed"], got["cleanlab + same head (5-fold)"]
        name = f"2x2 mosaics, `{noise}` tiles (multi-label, per entry)" if part == "mosaics" else f"`{noise}`"
        share = float(mine[0]["k"]) / float(mine[0]["labels"])
        lines.append(
            f"| {name} | {share:.1%} | "
            + " | ".join(cells)
            + f" | {float(ours['cpu_seconds']):.0f} / {float(peer['cpu_seconds']):.0f} |"
        )
    return "\n".join(lines)


def replace_between(text: str, start: str, end: str, block: str) -> str:
    """``text`` with what lies between the markers replaced (markers appended when absent)."""
    body = f"{start}\n{block}\n{end}"
    if start in text:
        return text[: text.index(start)] + body + text[text.index(end) + len(end) :]
    return text.rstrip() + "\n\n" + body + "\n"


def readme(text: str) -> str:
    """The README with its generated tables replaced (never copied by hand)."""
    if README_START in text:
        text = replace_between(text, README_START, README_END, readme_block(read("cifar10n.csv")))
    if LABEL_START in text and read("label_issues.csv"):
        text = replace_between(text, LABEL_START, LABEL_END, label_issues_readme_block(read("label_issues.csv")))
    if ISSUE_START in text and read("issue_cutoff.csv"):
        text = replace_between(text, ISSUE_START, ISSUE_END, issue_readme_block(read("issue_cutoff.csv")))
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate benchmarks/RESULTS.md and the README's tables.")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 when either is out of date")
    args = ap.parse_args(argv)
    results, text = document(), readme(README.read_text())
    if args.check:
        stale = [p.name for p, new in ((RESULTS, results), (README, text)) if not p.exists() or p.read_text() != new]
        print("out of date: " + ", ".join(stale) if stale else "up to date")
        return 1 if stale else 0
    RESULTS.write_text(results)
    README.write_text(text)
    print(f"wrote {RESULTS} ({results.count(chr(10))} lines) and the README's tables")
    return 0


CIFAR = "CIFAR-10N and VOC at convergence: every method tuned alike (`bench_cifar10n.py`)"
register_section(Section("cifar10n", CIFAR, cifar10n_body, ("cifar10n.csv", "cifar10n_runs.csv", "noise_*.json")))
register_section(Section("demo", "The demo (`noisereg demo`) over several seeds", demo_body, ("demo.csv",)))
register_section(
    Section(
        "defaults",
        "Out of the box: untuned defaults against the tuned grid",
        lambda: defaults_table(read("defaults.csv")) if read("defaults.csv") else [],
        ("defaults.csv", "alpha_candidates.csv"),
    )
)
register_section(
    Section(
        "defaults-miss",
        "Why the defaults miss: one value at a time (issue 24)",
        defaults_miss_body,
        ("defaults_ablation.csv",),
    )
)
block_section("robust-defaults", "Tuned values that hold up across parts (validation regret, points; issue 24)")
block_section("selection", "Selection with a small validation set")
block_section("knobs", "Training knobs: does each help where it should? (test mean ± sample std, 3 seeds)")
block_section("analysis-worse", "What the residual net absorbs (CIFAR-10N worse, seed 0, tuned values)")
block_section("analysis-annotated", "What the residual net absorbs (machine-annotated CIFAR-10, seed 0, tuned values)")
register_section(
    Section(
        "label-issues",
        "Label issues: CIFAR-10N wrong labels vs cleanlab, CleanNet, Meta-Weight-Net",
        label_issues_body,
        ("label_issues.csv",),
    )
)
register_section(
    Section(
        "issue-cutoff",
        "Label issues without validation labels: the contradiction default",
        lambda: issue_cutoff_table(read("issue_cutoff.csv")) if read("issue_cutoff.csv") else [],
        ("issue_cutoff.csv", "issue_cutoff_run.json"),
    )
)
register_section(
    Section(
        "top-cost",
        "Training the top of the backbone: cost per step",
        lambda: top_cost_table(read("top_cost.csv")),
        ("top_cost.csv",),
    )
)
block_section("cache", "Feature cache vs recompute (efficientnet-lite0, 128 px, batch 32)")
block_section("extract", "Feature extraction throughput (efficientnet-lite0, 128 px, 256 JPEGs)")
block_section("extract-batch", "Feature extraction batch size on a CPU (efficientnet-lite0)")
block_section("growth", "Growth of head training with cache size (D = 1280, K = 10, batch 32)")
block_section("resolution", "Feature resolution of CIFAR-10, chosen on validation (3,000 train images)")
block_section("optimizer", "Fused Adam vs the per-parameter loop (frozen-feature training)")
block_section("allocator", "CPU feature extraction: glibc heap kept vs glibc defaults")
block_section("openimages-read", "OpenImages v1 at full scale: streamed reader memory")
block_section("scale", "OpenImages-sized training in bounded memory (synthetic, 6,012 classes)")
block_section("coco-protocol", "Compiled MS COCO protocol on coco128 real photos")
block_section("coco-topk", "How many predictions to keep: top-k against missing / spurious labels (coco128)")
block_section("coco-grid", "The paper's MS COCO grid in miniature (coco128)")


if __name__ == "__main__":
    sys.exit(main())
