"""The registry refuses a name twice, and every model class records the arguments that rebuild it."""

from __future__ import annotations

import pytest
import torch

from edgeseg.models import build_model, list_models, register_model
from edgeseg.models.deeplabv3plus import DeepLabV3Plus
from edgeseg.models.unet_classic import ClassicUNet
from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD
from edgeseg.train.checkpoint import make_metadata, model_from_checkpoint, save_checkpoint


def test_a_name_registered_twice_is_refused():
    def unet_classic(*, num_classes: int = 21) -> None:  # same name as the registered builder
        raise AssertionError("never built")

    with pytest.raises(ValueError, match="'unet_classic' is already registered"):
        register_model(unet_classic)
    assert type(build_model("unet_classic", num_classes=2)) is ClassicUNet  # the first registration stands


@pytest.mark.parametrize("name", list_models())
def test_a_model_made_from_its_class_records_what_the_registry_records(name):
    built = build_model(name, num_classes=3, upsample="transposed")
    extra = {k: v for k, v in built.config.items() if k not in ("model", "num_classes", "upsample")}
    made = type(built)(num_classes=3, upsample_mode="transposed", **extra)
    assert made.config == built.config
    assert built.config["model"] == name and built.config["num_classes"] == 3


def test_a_model_made_from_its_class_can_be_saved_and_rebuilt(tmp_path):
    model = DeepLabV3Plus(num_classes=3, upsample_mode="bilinear", output_stride=8, separable=False).eval()
    meta = make_metadata(model, ("bg", "a", "b"), (64, 64), IMAGENET_MEAN, IMAGENET_STD, "letterbox")
    save_checkpoint(tmp_path / "made.pt", model, meta)
    again, metadata, _ = model_from_checkpoint(tmp_path / "made.pt")
    assert type(again) is DeepLabV3Plus and metadata.model_config == model.config
    assert again.backbone.feature_info["out"] == (320, 8) and again.separable is False
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(again.eval()(x), model(x))
