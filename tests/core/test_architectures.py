"""Every architecture, encoder and loss train_model offers: trained for a few steps on real Kampala crops, saved,
reloaded and run through the extraction pipeline (tiny chips, one CPU thread)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from building_extractor.core.io.labels import IGNORE
from building_extractor.core.models.choices import ARCHITECTURES, ENCODERS, SEGMENTATION
from building_extractor.core.models.config import ModelConfig
from building_extractor.core.models.model_file import read_config
from building_extractor.core.train.trainers import make_trainer
from building_extractor.core.train.training import UNET_LOSSES, TrainingOptions, TrainingSource, unet_loss

torch = pytest.importorskip("torch")
SEGMENTATION_NETWORKS = [name for name, a in ARCHITECTURES.items() if a.task == SEGMENTATION]


def few_steps(**changes) -> TrainingOptions:
    """Two steps on two fixed 64 px chips at 0.6 m; small decoder; no pretrained weights."""
    base = dict(gsd_m=0.6, chip_size=64, block_size=64, batch_size=2, epochs=1, steps_per_epoch=2,
                learning_rate=1e-2, pretrained=False, decoder_channels=[16, 16, 16, 16, 16], threads=1,
                device="cpu", augment=False, chip_pool=2)
    base.update(changes)
    return TrainingOptions(**base)


@pytest.fixture(scope="module")
def kampala(shared_data: Path, tmp_path_factory) -> dict[str, TrainingSource]:
    """256 px (38 m) windows of Kampala image_1 to train on and 512 px (76 m) to validate and extract on."""
    from osgeo import gdal

    folder = tmp_path_factory.mktemp("kampala_arch")
    image, labels = str(shared_data / "kampala" / "image_1.tif"), str(shared_data / "kampala" / "buildings.geojson")
    for name, window in (("train", [1024, 0, 256, 256]), ("val", [0, 512, 512, 512])):
        gdal.Translate(str(folder / f"{name}.tif"), image, srcWin=window, creationOptions=["TILED=YES"])
    return {name: TrainingSource(str(folder / f"{name}.tif"), labels, name=name) for name in ("train", "val")}


def probability_of(model_path: str, raster: str, tmp_path: Path) -> np.ndarray:
    """The building probability raster (0-255) the extraction pipeline writes for ``raster``."""
    import rasterio

    from building_extractor.core.extract.pipeline import ExtractionOptions, ExtractionRun, extract_buildings
    from building_extractor.core.progress import SilentProgress

    path = tmp_path / "probability.tif"
    run = ExtractionRun(None)
    list(extract_buildings(raster, ExtractionOptions(model_path, device="cpu", probability_path=str(path)),
                           SilentProgress(), run))
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", SEGMENTATION_NETWORKS)
def test_each_segmentation_network_trains_saves_and_extracts(architecture, kampala, tmp_path) -> None:
    from building_extractor.core.models.builders import build_model, load_model

    output = tmp_path / f"{architecture}.safetensors"
    make_trainer([kampala["train"]], few_steps(architecture=architecture, loss="focal"), str(output),
                 validation=[kampala["val"]]).run()
    config = read_config(output)
    assert (config.architecture, config.encoder) == (architecture, "efficientnet_lite0")
    assert config.training["options"]["loss"] == "focal" and 0 <= config.metrics["val_iou"] <= 1
    _, model = load_model(str(output), expected_architecture="unet")  # the U-Net algorithm runs every one
    assert type(model).__name__ == type(build_model(config)).__name__

    probability = probability_of(str(output), kampala["val"].raster, tmp_path)
    assert abs(probability.shape[0] - 128) <= 1 and abs(probability.shape[1] - 128) <= 1  # 76 m at 0.6 m (UTM grid)
    assert probability.std() > 0  # a real network on real imagery, not a constant


@pytest.mark.slow
def test_mask_rcnn_trains_saves_and_extracts(kampala, tmp_path) -> None:
    from building_extractor.core.extract.instances import InstanceOptions, extract_instances
    from building_extractor.core.extract.pipeline import ExtractionRun

    output = tmp_path / "maskrcnn.safetensors"
    make_trainer([kampala["train"]], few_steps(architecture="maskrcnn", learning_rate=1e-3), str(output),
                 validation=[kampala["val"]]).run()
    config = read_config(output)
    assert config.architecture == "maskrcnn" and 0 <= config.metrics["val_f1"] <= 1
    run = ExtractionRun(None)
    found = list(extract_instances(kampala["val"].raster, InstanceOptions(str(output), device="cpu"), None, run))
    assert all(abs(side - 128) <= 1 for side in run.grid_size)
    assert all(config.threshold <= b.confidence <= 1 for b in found)


@pytest.mark.parametrize("loss", list(UNET_LOSSES))
def test_each_loss_rewards_overlap_and_ignores_unknown_pixels(loss) -> None:
    function = unet_loss(loss)
    target = torch.zeros(2, 1, 16, 16, dtype=torch.uint8)
    target[:, :, 4:12, 4:12] = 1
    target[:, :, :, :2] = IGNORE
    right = torch.where(target == 1, 6.0, -6.0)
    half = torch.where(target == 1, 0.0, -6.0)  # unsure on the buildings
    wrong = -right
    assert float(function(right, target)) < float(function(half, target)) < float(function(wrong, target))
    unknown_changed = right.clone()
    unknown_changed[:, :, :, :2] = 6.0  # confident "building" where the label is unknown
    assert float(function(unknown_changed, target)) == pytest.approx(float(function(right, target)), rel=1e-5)
    logits = torch.zeros(2, 1, 16, 16, requires_grad=True)
    function(logits, target).backward()
    assert bool(torch.isfinite(logits.grad).all()) and float(logits.grad[target == 1].sum()) < 0  # towards "building"


@pytest.mark.slow
@pytest.mark.parametrize("loss", [name for name in UNET_LOSSES if name != "focal"])  # focal: trained above
def test_each_loss_trains_and_is_recorded(loss, kampala, tmp_path) -> None:
    output = tmp_path / f"{loss}.safetensors"
    trainer = make_trainer([kampala["train"]], few_steps(loss=loss), str(output), validation=[kampala["val"]])
    trainer.run()
    assert all(np.isfinite(h.train_loss) and np.isfinite(h.val_loss) for h in trainer.history)
    assert read_config(output).training["options"]["loss"] == loss


@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_each_encoder_builds_and_takes_imagenet_weights_where_a_package_has_them(encoder) -> None:
    from building_extractor.core.models.builders import build_model, imagenet_encoder_state, init_pretrained_encoder

    config = ModelConfig(architecture="linknet", encoder=encoder)
    model = build_model(config)
    pretrained = init_pretrained_encoder(model, config)
    assert pretrained == (ENCODERS[encoder].imagenet_package is not None)
    if pretrained:  # every weight of the encoder is now the package's
        own = {k: v for k, v in model.encoder.model.state_dict().items() if not k.endswith("num_batches_tracked")}
        state = imagenet_encoder_state(encoder)
        assert all(torch.equal(v, state[k]) for k, v in own.items())
    with torch.inference_mode():
        assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)


def test_deeplab_refuses_batches_of_one_chip(kampala, tmp_path) -> None:
    from building_extractor.core.errors import BuildingExtractorError

    with pytest.raises(BuildingExtractorError, match="batch size of at least 2"):
        make_trainer([kampala["train"]], few_steps(architecture="deeplabv3plus", batch_size=1),
                     str(tmp_path / "m.safetensors"))
