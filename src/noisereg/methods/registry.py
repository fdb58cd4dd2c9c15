"""The method registry: ids -> ``MethodSpec``. Everything the rest of noisereg needs to know about a
method is here, so the trainer, the experiment grid, the CLI, the benchmarks and the tests never test a
method id: each fact (single-label only, needs paired labels, tunable fields, defaults, ...) is declared
once, in the method's ``register_method`` line, and the checks that refuse data are made from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from .base import Method

if TYPE_CHECKING:
    import numpy as np

    from ..data.labelset import LabelledSet

Factory = Callable[[int, int, Any], Method]
TrainView = Callable[["LabelledSet", "np.ndarray | None"], "LabelledSet"]
DEFAULTABLE = ("lr", "weight_decay", "hidden", "alpha", "clean_ratio")  # config.BASE_DEFAULTS' fields
GROUPS = (
    "paper",
    "variant",
    "ablation",
    "reference",
    "fine-tuning",
    "label cleaning",
    "loss correction",
    "meta-learning",
    "other",
)


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    Attributes:
        factory: (feature_dim, num_classes, config) -> ``Method``.
        description: one line for ``noisereg methods``.
        group: the family it belongs to (``GROUPS``): the paper's method (``paper``), its ablations, reference
            bounds (Backbone (Noisy) / (GT)), or a baseline family.
        uses_heads: built on the clean/residual heads, so ``activation`` and ``hidden`` apply.
        uses_alpha: ``alpha`` (weight of L_clean) is one of its hyper-parameters.
        has_h: it outputs ``h_logits`` (the noisy-label classifier h) besides g.
        is_backbone_noisy: it *is* Backbone (Noisy), the frozen scheme's stage one: it ends there.
        single_label_only: it assumes one label per image (softmax): multi-label data is refused
            (``check_data``) and ``noisereg methods`` says "(single-label)".
        needs_pairs: it learns from clean images that also carry a noisy label (a clean/noisy pair per
            image, e.g. a label cleaning network): data without such an image is refused (``check_data``).
        train_view: the training set as the method must see it, when it differs from the shared one
            (``(train, known_clean) -> train``): it then cannot share a stage one with the others.
        tunable: the ``TrainConfig`` fields that equal-budget tuning searches for this method.
        demo_peer: one of the strongest trusted-set baselines on the demo's own tasks, shown beside the
            method in ``noisereg demo`` (measured over 5 seeds: ``benchmarks/bench_demo.py``).
        defaults: the values a ``TrainConfig`` field left unset takes for this method (of ``lr``,
            ``weight_decay``, ``hidden``, ``alpha``, ``clean_ratio``; the rest of them as ``BASE_DEFAULTS`` in
            config/__init__.py): the tuned values that held up best across the benchmark parts, by validation regret
            alone (``benchmarks/robust_defaults.py``).
        chosen_on_val: fields that, left unset, are chosen on the validation set among a few candidates
            (``train/choice.py``; the first candidate is the method's default, kept on a tie and wherever no
            choice is made): for values whose best setting flips with the kind of noise.
    """

    factory: Factory
    description: str
    group: str = "other"
    uses_heads: bool = False
    uses_alpha: bool = False
    has_h: bool = False
    is_backbone_noisy: bool = False
    single_label_only: bool = False
    needs_pairs: bool = False
    train_view: TrainView | None = None
    tunable: tuple[str, ...] = ("lr", "weight_decay")
    demo_peer: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)
    chosen_on_val: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def takes(self, *, multi_label: bool = False) -> bool:
        """Whether the method trains on data of this kind (multi-label: several labels per image)."""
        return not (multi_label and self.single_label_only)

    def summary(self) -> str:
        """The description with the facts a user picks a method by: ``... (single-label)``, ``(needs pairs)``."""
        facts = [f for f, on in (("single-label", self.single_label_only), ("needs pairs", self.needs_pairs)) if on]
        return self.description + "".join(f" ({f})" for f in facts)

    def check_data(self, data: Any, where: str) -> None:
        """Refuse data the declared facts rule out, in one line naming ``where`` (e.g. ``method 'glc'``):
        multi-label data for a single-label method, no clean image with a noisy label for one that needs
        pairs. The method's own ``Method.check_data`` then checks what its phases need."""
        if self.single_label_only and not data.is_single_label:
            raise UserError(
                f"{where} assumes one label per image; this data is multi-label "
                "(`noisereg methods` marks the single-label methods)"
            )
        if self.needs_pairs and not (data.has_clean & data.has_noisy).any():
            raise UserError(f"{where} needs clean images that also have noisy labels (paired); this data has none")

    def phase_names(self, cfg: Any) -> list[str]:
        """The names of the phases the method trains through with ``cfg`` (a resolved config), in order: read
        from a throwaway instance over 1-dimensional features, never restated."""
        return [p.name for p in self.factory(1, 2, cfg).phases()]


_REGISTRY: dict[str, MethodSpec] = {}


def register_method(name: str, factory: Factory, description: str = "", **spec: Any) -> MethodSpec:
    """Add a method id (raises when the id is taken); ``spec`` holds the ``MethodSpec`` fields."""
    if name in _REGISTRY:
        raise ValueError(f"method '{name}' is already registered")
    if spec.get("group", "other") not in GROUPS:
        raise ValueError(f"group '{spec['group']}' is not one of {GROUPS}")
    unknown = set(spec.get("defaults", {})) - set(DEFAULTABLE)
    if unknown:
        raise ValueError(f"method '{name}': no default can be given for {sorted(unknown)} (only {DEFAULTABLE})")
    for key, candidates in spec.get("chosen_on_val", {}).items():
        if key not in DEFAULTABLE or len(candidates) < 2:
            raise ValueError(f"method '{name}': chosen_on_val needs two or more candidates of one of {DEFAULTABLE}")
    _REGISTRY[name] = MethodSpec(factory, description, **spec)
    return _REGISTRY[name]


def list_methods(*, group: str | None = None, multi_label: bool = False) -> list[str]:
    """Registered method ids, in registration order (optionally of one group; with ``multi_label`` only those
    that train on multi-label data)."""
    return [m for m, s in _REGISTRY.items() if (group is None or s.group == group) and s.takes(multi_label=multi_label)]


def get_method_spec(name: str) -> MethodSpec:
    """The spec of ``name``; an unknown id is a ``UserError`` with a did-you-mean."""
    if name not in _REGISTRY:
        from ..options import did_you_mean

        known = list_methods()
        raise UserError(f"unknown method '{name}': expected one of {known}{did_you_mean(name, known)}")
    return _REGISTRY[name]


def method_specs() -> dict[str, MethodSpec]:
    """Every registered id with its spec (a copy)."""
    return dict(_REGISTRY)


def create_method(name: str, feature_dim: int, num_classes: int, cfg: Any) -> Method:
    """Build method ``name`` for features of size ``feature_dim`` and ``num_classes`` classes (a config's
    fields left unset take the method's defaults)."""
    resolved = getattr(cfg, "resolved", None)
    return get_method_spec(name).factory(feature_dim, num_classes, resolved() if resolved else cfg)
