import numpy as np
import pytest
import torch
from PIL import Image

from noisereg.data.images import IMAGENET_MEAN, IMAGENET_STD, Preprocess, eval_transform, image_to_tensor
from noisereg.errors import UserError
from noisereg.models.backbones import create_backbone, efficientnet_lite0


def test_offline_efficientnet_lite0_classifies_the_flower_as_a_daisy():
    from sklearn.datasets import load_sample_image

    model = efficientnet_lite0(pretrained=True, with_head=True).eval()
    pre = create_backbone("efficientnet-lite0", pretrained=False).preprocess
    x = image_to_tensor(Image.fromarray(load_sample_image("flower.jpg")), pre)[None]
    with torch.inference_mode():
        logits = model(x)
    assert logits.shape == (1, 1000)
    assert int(logits.argmax()) == 985  # ImageNet class 985: daisy


def test_efficientnet_lite0_backbone_gives_pooled_features():
    b = create_backbone("efficientnet-lite0", image_size=64)
    assert b.feature_dim == 1280 and b.preprocess.image_size == 64
    assert b.preprocess.mean == (0.498,) * 3  # TF-style normalisation
    with torch.inference_mode():
        assert b.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 1280)


def test_small_cnn_takes_any_channel_count_and_small_images():
    b = create_backbone("small-cnn", in_chans=1, image_size=8)
    assert b(torch.randn(4, 1, 8, 8)).shape == (4, b.feature_dim)


def test_torchvision_backbone_by_name_without_download():
    b = create_backbone("resnet18", pretrained=False, image_size=32)
    assert b.feature_dim == 512
    assert b(torch.randn(2, 3, 32, 32)).shape == (2, 512)


def test_local_weight_file_is_loaded(tmp_path):
    from safetensors.torch import save_file

    src = create_backbone("small-cnn", in_chans=1)
    save_file({k: v.contiguous() for k, v in src.body.state_dict().items()}, str(tmp_path / "w.safetensors"))
    torch.manual_seed(123)
    dst = create_backbone("small-cnn", in_chans=1, weights=str(tmp_path / "w.safetensors"))
    for k, v in src.body.state_dict().items():
        torch.testing.assert_close(dst.body.state_dict()[k], v)


def test_unknown_backbone_and_missing_weights_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown backbone 'resnet9000'"):
        create_backbone("resnet9000")
    with pytest.raises(UserError, match="weight file not found"):
        create_backbone("small-cnn", weights=str(tmp_path / "nope.pth"))


def test_an_offline_download_says_how_to_supply_the_weights(tmp_path, monkeypatch):
    """A real failed download (the proxy refuses the connection), not a mocked one: one line, no traceback."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached weights
    for var in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(UserError) as e:
        create_backbone("resnet18")
    message = str(e.value)
    assert "cannot download the pretrained weights of 'resnet18'" in message and "--weights FILE" in message
    assert "resnet18-f37072fd.pth" in message and "\n" not in message


def _photo():
    """A seeded 200 x 120 RGB image (wider than tall, so the resize and the crop both matter)."""
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8))


def test_torchvision_backbones_are_preprocessed_as_their_weights_say():
    """resize 256, crop 224, bicubic: EfficientNet-B0's ``weights.transforms()`` (read from the weights
    enum, no download), not ImageNet's default of resizing to the crop bilinearly; loaded or not."""
    from torchvision.models import EfficientNet_B0_Weights

    pre = create_backbone("efficientnet_b0", pretrained=False).preprocess
    assert (pre.image_size, pre.resize, pre.interpolation) == (224, 256, "bicubic")
    assert (pre.mean, pre.std) == (IMAGENET_MEAN, IMAGENET_STD)
    torch.testing.assert_close(eval_transform(pre)(_photo()), EfficientNet_B0_Weights.DEFAULT.transforms()(_photo()))
    assert create_backbone("resnet18", pretrained=False).preprocess.resize == 256
    small = create_backbone("efficientnet_b0", pretrained=False, image_size=112).preprocess  # --image-size 112
    assert (small.image_size, small.resize, small.interpolation) == (112, 128, "bicubic")  # 256 / 224 kept


def test_a_torchvision_name_without_weights_is_preprocessed_as_imagenet_at_224():
    """``models/preprocessing.py``'s fallback: no default weights to read a config from."""
    from noisereg.models.preprocessing import torchvision_preprocess

    assert torchvision_preprocess("no_such_model") == Preprocess(224)
    assert torchvision_preprocess("no_such_model", image_size=96) == Preprocess(96)
    assert torchvision_preprocess("resnet18", image_size=112).resize == 128  # 256 / 224 kept


def test_timm_backbones_are_preprocessed_as_their_config_says():
    """A timm model's own data config (160 px, crop_pct 0.95, mean = std = 0.5, bicubic): the same tensor
    as timm's eval transform gives, and --image-size keeps its crop_pct."""
    timm = pytest.importorskip("timm", reason="timm backbones need pip install timm")
    pre = create_backbone("timm/test_vit.r160_in1k", pretrained=False).preprocess
    assert (pre.image_size, pre.resize, pre.interpolation) == (160, 168, "bicubic")  # floor(160 / 0.95)
    assert pre.mean == pre.std == (0.5, 0.5, 0.5)
    config = timm.data.resolve_model_data_config(model=timm.create_model("test_vit.r160_in1k", pretrained=False))
    torch.testing.assert_close(eval_transform(pre)(_photo()), timm.data.create_transform(**config)(_photo()))
    small = create_backbone("timm/test_vit.r160_in1k", pretrained=False, image_size=96).preprocess
    assert (small.image_size, small.resize) == (96, 101)  # floor(96 / 0.95)


def test_preprocess_of_old_checkpoints_reads_as_before():
    """A checkpoint recorded before resize and interpolation were: resize to the crop, bilinear."""
    old = {"image_size": 64, "channels": 3, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    pre = Preprocess.from_dict(old)
    assert (pre.resize, pre.interpolation) == (64, "bilinear") and pre.to_dict() == {
        **old,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
    }
    new = create_backbone("efficientnet_b0", pretrained=False).preprocess
    assert Preprocess.from_dict(new.to_dict()) == new


def test_the_default_backbone_is_pretrained_efficientnet_lite0_without_a_backbone_stage():
    """Issue 44 (15): by default the frozen scheme trains the heads on ImageNet features (Lite0, installed
    offline) with no stage one; the estimator's defaults are the config's."""
    from noisereg import NoiseRegClassifier, TrainConfig

    cfg = TrainConfig()
    assert (cfg.scheme, cfg.backbone, cfg.pretrained, cfg.weights) == ("frozen", "efficientnet-lite0", True, None)
    assert cfg.backbone_steps is None and cfg.stage_one_steps() == 0  # left to the backbone, resolved once
    assert cfg.resolved().backbone_steps == 0  # what a run records in checkpoint.json and config.yaml
    assert NoiseRegClassifier().config() == TrainConfig(quiet=True)


def test_small_cnn_by_name_is_trained_from_scratch_with_a_backbone_stage():
    """A backbone that starts from random weights gets stage one (500 steps) when --backbone-steps is left
    unset; given weights count as pretrained; a given --backbone-steps always wins."""
    from noisereg.config import SCRATCH_BACKBONE_STEPS, TrainConfig

    small = TrainConfig(backbone="small-cnn")
    assert small.backbone_steps is None and small.resolved().backbone_steps == SCRATCH_BACKBONE_STEPS == 500
    assert TrainConfig(backbone="resnet18", pretrained=False).resolved().backbone_steps == 500
    assert TrainConfig(backbone="resnet18").resolved().backbone_steps == 0
    assert TrainConfig(backbone="small-cnn", weights="stage_one.safetensors").resolved().backbone_steps == 0
    assert TrainConfig(backbone="small-cnn", backbone_steps=7).resolved().backbone_steps == 7
    assert TrainConfig(backbone_steps=30).resolved().backbone_steps == 30
    with pytest.raises(UserError, match="backbone_steps must be an integer >= 0, got -1"):
        TrainConfig(backbone_steps=-1)
