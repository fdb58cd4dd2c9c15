"""``noisereg methods``: the registered methods, as the registry declares them (``methods/registry.py``)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_methods(args: argparse.Namespace) -> int:
    from ..config import TrainConfig
    from ..methods import get_method_spec, list_methods

    for name in list_methods():
        spec = get_method_spec(name)
        if args.defaults:  # what a field left unset takes: the method's own values, else the base ones
            fields, cfg = TrainConfig(method=name).left_to_method(), TrainConfig(method=name).resolved()
            own = " ".join(
                f"{n}={'/'.join(f'{c:g}' for c in spec.chosen_on_val[n])}^"
                if n in spec.chosen_on_val
                else f"{n}={getattr(cfg, n):g}{'' if n in spec.defaults else '*'}"
                for n in fields
            )
            print(f"{name:16s} {own or '-'}")
        elif args.facts:
            print(method_facts_line(name, spec, TrainConfig(method=name).resolved()))
        else:
            print(f"{name:10s} {spec.group:15s} {spec.summary()}")
    if args.defaults:
        print(
            "* = the base default (config.BASE_DEFAULTS); the others are the method's own, the tuned values that "
            "held up best across the benchmark parts (benchmarks/results/robust_defaults.csv); ^ = chosen on "
            "validation among these (frozen scheme; the first elsewhere and on a tie)"
        )
    return 0


def method_facts_line(name: str, spec: Any, cfg: Any) -> str:
    """One line of ``noisereg methods --facts``: what the registry declares of the method (the labels it
    takes, whether it needs pairs, its phases, the fields tuning searches)."""
    labels = "single-label" if spec.single_label_only else "single+multi"
    return (
        f"{name:16s} {labels:13s} {'pairs' if spec.needs_pairs else '-':6s} "
        f"{','.join(spec.phase_names(cfg)):28s} {','.join(spec.tunable)}"
    )


def add_commands(sub: Any) -> None:
    """``noisereg methods``."""
    p = sub.add_parser("methods", help="list the registered methods")
    p.add_argument(
        "--defaults",
        action="store_true",
        help="the values each method trains with where lr, weight_decay, hidden, alpha or clean_ratio is not given",
    )
    p.add_argument(
        "--facts",
        action="store_true",
        help="what each method declares: the labels it takes "
        "(single-label only or also multi-label), whether it needs paired labels, its phases and the "
        "fields tuning searches",
    )
    p.set_defaults(func=cmd_methods)
