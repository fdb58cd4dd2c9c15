"""Partial fine-tuning (``--train-blocks K``, issue 42): the cut, the trunk cache, what trains, the CLI, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from noisereg.checkpoint import load_weights
from noisereg.cli import main
from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.errors import UserError
from noisereg.methods import list_methods
from noisereg.models.backbones import create_backbone
from noisereg.models.split import count_blocks, split_backbone
from noisereg.train import fit
from noisereg.train.model import build_backbone

BACKBONES = [
    ("small-cnn", 16, {}),
    ("efficientnet-lite0", 64, {}),
    ("resnet18", 32, {"pretrained": False}),
    ("timm/test_resnet", 32, {"pretrained": False}),
]


def _backbone(name: str, size: int, kwargs: dict) -> nn.Module:
    if name.startswith("timm/"):
        pytest.importorskip("timm")
    return create_backbone(name, image_size=size, **kwargs)


@pytest.mark.parametrize("name, size, kwargs", BACKBONES, ids=[b[0] for b in BACKBONES])
def test_trunk_then_top_is_the_backbone_and_shares_its_modules(name, size, kwargs):
    backbone = _backbone(name, size, kwargs).eval()
    x = torch.randn(3, 3, size, size)
    want = backbone(x)
    n = count_blocks(backbone)
    assert n == {"small-cnn": 6, "efficientnet-lite0": 16, "resnet18": 8, "timm/test_resnet": 4}[name]
    for k in sorted({1, 2, n}):
        trunk, top = split_backbone(backbone, k)
        assert torch.allclose(top.eval()(trunk.eval()(x)), want, atol=1e-5), k
    trunk, top = split_backbone(backbone, 2)
    trained = {id(p) for p in top.parameters() if p.requires_grad}
    assert trained and trained <= {id(p) for p in backbone.parameters()}  # views: the backbone's own tensors
    assert not any(p.requires_grad for p in trunk.parameters())
    assert not trained & {id(p) for p in trunk.parameters()}


def test_the_top_trains_at_the_backbone_learning_rate_and_the_trunk_not_at_all():
    from noisereg.train.loop import make_optimizer
    from noisereg.train.model import Classifier, stage_one_model

    backbone = create_backbone("small-cnn", image_size=16)
    trunk, top = split_backbone(backbone, 2)
    model = Classifier(top, stage_one_model(backbone, 3).method)
    heads, body = make_optimizer(model, TrainConfig(lr=1e-2, backbone_lr=1e-4, quiet=True)).param_groups
    assert (heads["lr"], body["lr"]) == (1e-2, 1e-4)
    assert {id(p) for p in body["params"]} == {id(p) for m in top._trained for p in m.parameters()}


def test_more_blocks_than_the_backbone_has_is_refused_naming_the_maximum():
    backbone = create_backbone("small-cnn", image_size=16)
    with pytest.raises(UserError, match=r"--train-blocks 7: small-cnn has 6 blocks, so at most 6"):
        split_backbone(backbone, 7)


def _pixels(n: int = 48, size: int = 16, seed: int = 0, clean_every: int = 3, paired: bool = False) -> LabelledSet:
    """Seeded 3-class images whose class is a bright quadrant; every ``clean_every``-th image clean-labelled
    (1: a validation set), the others noisy-labelled (with ``paired`` every image: label cleaning's pairs)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.uniform(0, 0.3, size=(n, 3, size, size)).astype(np.float32)
    h = size // 2
    for i, c in enumerate(y):
        x[i, :, (c // 2) * h : (c // 2 + 1) * h, (c % 2) * h : (c % 2 + 1) * h] += 0.7
    clean = np.arange(n) % clean_every == 0
    return LabelledSet(
        images=torch.from_numpy(x),
        classes=list("abc"),
        noisy=one_hot(y, 3),
        clean=one_hot(y, 3),
        has_noisy=np.ones(n, bool) if paired else ~clean,
        has_clean=clean,
    )


def _cfg(**kw) -> TrainConfig:
    base = dict(
        backbone="small-cnn",
        backbone_steps=6,
        steps=6,
        hidden=8,
        batch_size=8,
        image_size=16,
        train_blocks=2,
        patience=0,
        eval_every=3,
        quiet=True,
        device="cpu",
        lr=1e-2,
    )
    return TrainConfig(**{**base, **kw})


class StemCalls:
    """Counts the images the backbone's first convolution (the trunk's first layer) sees."""

    def __enter__(self) -> StemCalls:
        self.images = 0

        def hook(module, args, out):
            if isinstance(module, nn.Conv2d) and module.in_channels == 3:
                self.images += args[0].shape[0]

        self.handle = nn.modules.module.register_module_forward_hook(hook)
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def test_a_second_run_reads_the_trunk_cache_and_a_changed_cut_or_size_misses_it(tmp_path):
    data, val = _pixels(), _pixels(n=12, seed=1, clean_every=1)
    cache = tmp_path / "cache"
    runs = {}
    for name, cfg in [
        ("first", _cfg(cache_dir=str(cache))),
        ("again", _cfg(cache_dir=str(cache))),
        ("cut", _cfg(cache_dir=str(cache), train_blocks=3)),
        ("size", _cfg(cache_dir=str(cache), image_size=8)),
    ]:
        with StemCalls() as calls:
            fit(data, cfg, eval_set=val)
        runs[name] = calls.images
    # each training and validation image through the trunk once (+1: the blank image that measures the
    # activations' shape before the cache is written); none when the cache holds them
    once = len(data) + len(val) + 1
    assert runs == {"first": once, "again": 0, "cut": once, "size": once}
    index = [json.loads(p.read_text()) for p in cache.glob("*.json")]
    activations = sorted(tuple(i["shape"]) for i in index if "shape" in i)
    assert activations == sorted([(64, 4, 4)] * 2 + [(64, 8, 8)] * 2 + [(64, 2, 2)] * 2)  # train and validation
    assert all(i["key"]["cut"]["train_blocks"] in (2, 3) for i in index)


def _owned(model: nn.Module, modules: list[nn.Module]) -> set[str]:
    """The state-dict keys of ``model`` whose tensors belong to ``modules``."""
    ids = {id(t) for m in modules for t in [*m.parameters(), *m.buffers()]}
    return {k for k, t in model.state_dict(keep_vars=True).items() if id(t) in ids}


@pytest.mark.parametrize(
    "name, size, kwargs, frozen_bn",
    [
        ("small-cnn", 16, {}, False),
        ("efficientnet-lite0", 64, {}, True),
        ("resnet18", 32, {"pretrained": False}, False),
    ],
    ids=["small-cnn", "efficientnet-lite0", "resnet18"],
)
@pytest.mark.parametrize("scheme", ["frozen", "end-to-end"])
def test_the_top_trains_and_the_trunk_does_not(name, size, kwargs, frozen_bn, scheme):
    """Weights as created (the same seeded build) against those trained: the trunk's are unchanged, the top's
    moved, its BatchNorm statistics frozen for pretrained weights and updated for a backbone from scratch."""
    data = _pixels(n=24, size=size)
    cfg = _cfg(backbone=name, image_size=size, scheme=scheme, steps=4, backbone_steps=4, val_fraction=0, **kwargs)
    created = build_backbone(cfg, data)
    trunk, top = split_backbone(created, 2)
    in_trunk, in_top = _owned(created, list(trunk.parts)), _owned(created, top._trained)
    assert in_trunk and in_top and not in_trunk & in_top
    before = {k: v.clone() for k, v in created.state_dict().items()}
    after = fit(data, cfg).model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in in_trunk)
    assert any(not torch.equal(before[k], after[k]) for k in in_top if k.endswith("weight"))
    stats = [k for k in in_top if k.endswith("running_mean")]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats) == frozen_bn


def _multi_label(data: LabelledSet) -> LabelledSet:
    """``data`` with a second class on every other image, in both label sets: multi-label, 1.5 classes per image."""
    second = np.zeros_like(data.noisy)
    rows = np.arange(0, len(data), 2)
    second[rows, (data.noisy[rows].argmax(1) + 1) % data.noisy.shape[1]] = 1
    return LabelledSet(
        images=data.images,
        classes=data.classes,
        noisy=np.maximum(data.noisy, second),
        clean=np.maximum(data.clean, second),
        has_noisy=data.has_noisy,
        has_clean=data.has_clean,
    )


@pytest.mark.parametrize("scheme", ["frozen", "end-to-end"])
def test_the_top_trains_on_multi_label_data_with_thresholds_chosen_on_validation(scheme):
    """The paper's multi-label setting with ``--train-blocks``: the top moves, the trunk does not, g scores
    several classes per image and the per-class thresholds come from the validation set."""
    data, val = _multi_label(_pixels(n=36)), _multi_label(_pixels(n=12, seed=1, clean_every=1))
    assert not data.is_single_label
    cfg = _cfg(scheme=scheme, steps=4, backbone_steps=4, eval_every=2)
    created = build_backbone(cfg, data)
    trunk, top = split_backbone(created, 2)
    in_trunk, in_top = _owned(created, list(trunk.parts)), _owned(created, top._trained)
    before = {k: v.clone() for k, v in created.state_dict().items()}
    result = fit(data, cfg, eval_set=val)
    after = result.model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in in_trunk)
    assert any(not torch.equal(before[k], after[k]) for k in in_top if k.endswith("weight"))
    assert result.meta["multi_label"] and len(result.meta["thresholds"]) == 3


@pytest.mark.parametrize("method", list_methods())
def test_every_method_trains_the_top_with_its_own_loss_end_to_end(method):
    """The joint scheme: each method's loss (every phase of the two-phase ones: ft-w fine-tunes the top on the
    clean set after the noisy phase) moves the top and leaves the trunk; a method the scheme or the data refuse
    says so whatever K is."""
    data = _pixels(n=24, paired=True)
    cfg = _cfg(method=method, scheme="end-to-end", steps=2, eval_every=2, val_fraction=0, train_blocks=1)
    created = build_backbone(cfg, data)
    trunk, top = split_backbone(created, 1)
    in_trunk, in_top = _owned(created, list(trunk.parts)), _owned(created, top._trained)
    before = {k: v.clone() for k, v in created.state_dict().items()}
    try:
        result = fit(data, cfg)
    except UserError as e:
        assert method in ("ft-l", "ft-m", "gt"), e  # last-layer fine-tuning is frozen-only; gt needs all clean
        return
    after = result.model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in in_trunk)
    assert any(not torch.equal(before[k], after[k]) for k in in_top if k.endswith("weight"))
    stages = {r["stage"] for r in result.history}
    assert stages == ({"end-to-end:noisy", "end-to-end:fine-tune"} if method == "ft-w" else stages)


@pytest.mark.parametrize("scheme", ["frozen", "end-to-end"])
def test_the_cli_trains_the_top_and_evaluate_predict_export_use_its_checkpoint(digit_folder, tmp_path, capsys, scheme):
    out, img = tmp_path / "run", digit_folder.parent / "img" / "7_0.png"
    assert (
        main(
            [
                "train",
                "--manifest",
                str(digit_folder),
                "--out",
                str(out),
                "--scheme",
                scheme,
                "--backbone",
                "small-cnn",
                "--train-blocks",
                "2",
                "--backbone-steps",
                "12",
                "--steps",
                "12",
                "--image-size",
                "16",
                "--hidden",
                "16",
                "--batch-size",
                "10",
                "--patience",
                "0",
                "--cache-dir",
                str(tmp_path / "cache"),
            ]
        )
        == 0
    )
    stage = "backbone" if scheme == "frozen" else "end-to-end"
    printed = capsys.readouterr().out
    assert (
        f"{stage} stage: training the top of small-cnn, the last 2 of 6 blocks (block 4 to block 5) and the "
        "head, on the cached activations of the frozen trunk below it (64x4x4 float16 per image; BatchNorm "
        "statistics updated); the clean validation set chooses the step kept" in printed
    )
    meta = json.loads((out / "checkpoint.json").read_text())
    assert meta["config"]["train_blocks"] == 2 and meta["stage"] == ("heads" if scheme == "frozen" else "end-to-end")
    assert {r["stage"] for r in meta["history"]} == ({"backbone", "heads"} if scheme == "frozen" else {"end-to-end"})
    scored = [r for r in meta["history"] if r["stage"] == stage and "val_top1" in r]  # the top is chosen on validation
    assert scored and all(r["kept_by"] == "val top1" for r in scored)

    assert main(["evaluate", "--checkpoint", str(out), "--manifest", str(digit_folder), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["images"] == 12 and all(0 <= scores[k] <= 1 for k in ("mAP", "AP_all", "top1"))
    assert main(["predict", "--checkpoint", str(out), str(img), "--format", "jsonl"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["error"] == "" and abs(sum(row[c] for c in ("0", "1", "7")) - 1) < 1e-3
    assert main(["export", "--checkpoint", str(out), "--format", "torchscript", "--out", str(tmp_path / "m.pt")]) == 0
    from noisereg.data.images import Preprocess, image_to_tensor, load_image

    info = json.loads((tmp_path / "m.json").read_text())
    pre = Preprocess(16, 3, tuple(info["input"]["mean"]), tuple(info["input"]["std"]))
    with torch.inference_mode():
        g = torch.jit.load(str(tmp_path / "m.pt"))(image_to_tensor(load_image(img), pre)[None])[0]
    assert np.allclose(g.numpy(), [row[c] for c in ("0", "1", "7")], atol=1e-4)


class Stop(Exception):
    """Raised by the test's evaluation callback: the run dies there, as if killed."""


def _stopper(at: int):
    seen = []

    def on_evaluation(scores, model):
        seen.append(scores)
        if len(seen) == at:
            raise Stop

    return on_evaluation


@pytest.mark.parametrize(
    "scheme, stop_at, stage", [("frozen", 3, "backbone"), ("frozen", 7, "heads"), ("end-to-end", 3, "end-to-end")]
)
def test_resume_continues_inside_each_stage_to_the_same_weights(tmp_path, scheme, stop_at, stage):
    """Stopped at the 3rd/7th evaluation (every 2 steps, a checkpoint every 2): the newest checkpoint is inside
    the stage; --resume continues it there and ends with the weights of a run that was never stopped."""
    data, val = _pixels(), _pixels(n=12, seed=1, clean_every=1)
    cfg = _cfg(scheme=scheme, backbone_steps=8, steps=8, eval_every=2, save_every=2)
    fit(data, cfg, eval_set=val, out=tmp_path / "whole")
    with pytest.raises(Stop):
        fit(data, cfg, eval_set=val, out=tmp_path / "cut", on_evaluation=_stopper(stop_at))
    meta = json.loads((tmp_path / "cut" / "checkpoint.json").read_text())
    assert (meta["stage"], meta["step"]) == (stage, 4)
    fit(data, cfg, eval_set=val, out=tmp_path / "cut", resume=True)
    want, got = load_weights(tmp_path / "whole"), load_weights(tmp_path / "cut")
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    history = json.loads((tmp_path / "cut" / "checkpoint.json").read_text())["history"]
    assert [(r["stage"], r["step"]) for r in history] == [
        (s, i) for s in (["backbone", "heads"] if scheme == "frozen" else ["end-to-end"]) for i in range(1, 9)
    ]
