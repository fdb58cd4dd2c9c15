"""The frozen scheme's feature cache: reuse on a matching key, rebuild otherwise, never half-written."""

import numpy as np
import pytest
import torch

from noisereg.config import TrainConfig
from noisereg.data.labelset import LabelledSet, one_hot
from noisereg.features import cache_key, cached_features, extract_features, open_cache, write_cache
from noisereg.models.backbones import create_backbone
from noisereg.train import fit

CPU = torch.device("cpu")


def _data(n: int = 40, seed: int = 0) -> LabelledSet:
    g = torch.Generator().manual_seed(seed)
    y = np.arange(n) % 2
    is_clean = np.arange(n) % 5 == 0
    return LabelledSet(
        images=torch.rand(n, 1, 8, 8, generator=g),
        classes=["a", "b"],
        noisy=one_hot(y, 2),
        clean=one_hot(y, 2),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )


def _counting(backbone):
    calls = []
    backbone.register_forward_pre_hook(lambda m, x: calls.append(len(x[0])))
    return calls


def test_cache_is_reused_when_the_key_matches(tmp_path):
    data, b = _data(), create_backbone("small-cnn", in_chans=1, image_size=8)
    calls = _counting(b)
    first = cached_features(b, data, device=CPU, cache_dir=tmp_path, batch_size=16)
    assert sum(calls) == 40 and isinstance(first, np.memmap) and first.dtype == np.float16
    again = cached_features(b, data, device=CPU, cache_dir=tmp_path, batch_size=16)
    assert sum(calls) == 40  # nothing recomputed
    np.testing.assert_array_equal(first, again)
    exact = extract_features(b, data.images, b.preprocess, device=CPU)
    np.testing.assert_allclose(first.astype(np.float32), exact.numpy(), rtol=1e-2, atol=1e-3)


def test_cache_is_rebuilt_when_weights_transform_or_images_change(tmp_path):
    data, b = _data(), create_backbone("small-cnn", in_chans=1, image_size=8)
    cached_features(b, data, device=CPU, cache_dir=tmp_path)
    calls = _counting(b)
    with torch.no_grad():
        next(b.parameters()).add_(0.1)  # retrained backbone
    cached_features(b, data, device=CPU, cache_dir=tmp_path)
    cached_features(b, _data(seed=1), device=CPU, cache_dir=tmp_path)  # other pixels, same ids
    b16 = create_backbone("small-cnn", in_chans=1, image_size=16)
    b16.load_state_dict(b.state_dict())
    cached_features(b16, data, device=CPU, cache_dir=tmp_path)  # other transform
    assert sum(calls) == 80 and len(list(tmp_path.glob("*.json"))) == 4


def test_half_written_or_foreign_caches_are_never_used(tmp_path):
    key = cache_key(backbone="x", weights="w", preprocess={}, ids=["a", "b", "c"])

    def boom(out):
        out[0] = 1
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_cache(tmp_path, key, 4, boom)
    assert list(tmp_path.iterdir()) == [] and open_cache(tmp_path, key) is None
    arr = write_cache(tmp_path, key, 4, lambda out: out.__setitem__(slice(None), 2.0))
    assert arr.shape == (3, 4) and float(arr.sum()) == 24.0
    next(tmp_path.glob("*.json")).write_text("{not json")
    assert open_cache(tmp_path, key) is None
    other = cache_key(backbone="x", weights="w", preprocess={}, ids=["a", "b", "d"])
    assert open_cache(tmp_path, other) is None


def test_heads_train_from_the_memmap_like_from_memory(tmp_path):
    data = _data()
    cfg = TrainConfig(
        scheme="frozen",
        backbone="small-cnn",
        backbone_steps=0,
        steps=20,
        batch_size=10,
        image_size=8,
        hidden=8,
        quiet=True,
    )
    mem = fit(data, cfg)
    disk = fit(data, cfg.replace(cache_dir=str(tmp_path)))
    a = [h["loss"] for h in mem.history]
    b = [h["loss"] for h in disk.history]
    np.testing.assert_allclose(a, b, rtol=2e-2)


def test_precomputed_features_train_the_heads_directly(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(200) % 4
    feats = (rng.normal(size=(200, 16)) + 3 * np.eye(4, 16)[y]).astype(np.float16)
    np.save(tmp_path / "f.npy", feats)
    is_clean = np.arange(200) % 10 == 0
    data = LabelledSet(
        images=np.load(tmp_path / "f.npy", mmap_mode="r"),
        classes=list("abcd"),
        noisy=one_hot(y, 4),
        clean=one_hot(y, 4),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )
    assert data.holds_features and data.ids[:2] == ["0", "1"]
    for method in ("proposed", "noisy"):
        r = fit(data, TrainConfig(method=method, steps=300, hidden=16, lr=1e-2, quiet=True), out=tmp_path / method)
        from noisereg.train import evaluate, load_classifier

        assert evaluate(r.model, data, r.preprocess, device=CPU)["top1"] > 0.6  # chance: 0.25
        loaded, meta = load_classifier(tmp_path / method)
        assert meta["backbone"] == "features" and loaded.backbone.feature_dim == 16


def test_allocator_is_tuned_on_glibc_and_left_alone_when_asked(monkeypatch):
    import platform

    from noisereg.allocator import tune_allocator

    monkeypatch.setenv("NOISEREG_MALLOC", "system")
    assert tune_allocator() is False
    monkeypatch.delenv("NOISEREG_MALLOC")
    for k in [k for k in __import__("os").environ if k.startswith("MALLOC_")]:
        monkeypatch.delenv(k)
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert tune_allocator() is True


def test_without_a_batch_size_features_are_computed_in_the_devices_extraction_batch():
    """A CPU extracts in batches of 32 (faster there than 256, a fraction of the memory: bench_extract_batch), a GPU
    in batches of 256; an explicit batch size still wins."""
    from noisereg.features import extraction_batch

    assert extraction_batch(CPU) == 32 and extraction_batch(torch.device("cuda")) == 256
    data, b = _data(n=70), create_backbone("small-cnn", in_chans=1, image_size=8)
    calls = _counting(b)
    feats = extract_features(b, data.images, b.preprocess, device=CPU)
    assert calls == [32, 32, 6] and feats.shape[0] == 70
    calls.clear()
    cached_features(b, data, device=CPU, cache_dir=None)
    assert calls == [32, 32, 6]
    calls.clear()
    extract_features(b, data.images, b.preprocess, device=CPU, batch_size=50)
    assert calls == [50, 20]


def test_scoring_without_a_batch_size_uses_the_extraction_batch_for_images_and_256_rows_for_features():
    """Evaluation and prediction on pixels take the device's extraction batch (32 on a CPU), like feature
    extraction; heads on precomputed features keep scoring 256 rows at a time."""
    from noisereg.train.evaluate import predict_logits

    data = _data(n=70)
    cfg = TrainConfig(backbone="small-cnn", scheme="end-to-end", steps=2, image_size=8, hidden=8, quiet=True)
    r = fit(data, cfg.replace(val_fraction=0.0))
    calls = _counting(r.model.backbone)
    predict_logits(r.model, data.images, r.preprocess, device=CPU)
    assert calls == [32, 32, 6]
    feats = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    heads = fit(_features_set(feats), cfg.replace(backbone="features", scheme="frozen", val_fraction=0.0))
    sizes = []
    heads.model.register_forward_pre_hook(lambda m, x: sizes.append(len(x[0])))
    predict_logits(heads.model, feats, heads.preprocess, device=CPU)
    assert sizes == [256, 44]


def _features_set(feats: np.ndarray) -> LabelledSet:
    y = np.arange(len(feats)) % 2
    is_clean = np.arange(len(feats)) % 5 == 0
    return LabelledSet(
        images=feats,
        classes=["a", "b"],
        noisy=one_hot(y, 2),
        clean=one_hot(y, 2),
        has_noisy=~is_clean,
        has_clean=is_clean,
    )
