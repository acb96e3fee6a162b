"""Training for real on small crops of real imagery (Kampala) with a tiny U-Net, on one CPU thread."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from building_extractor.core.errors import BuildingExtractorError, Cancelled
from building_extractor.core.io.labels import IGNORE
from building_extractor.core.models.model_file import read_config
from building_extractor.core.progress import SilentProgress
from building_extractor.core.train.training import (
    Trainer,
    TrainingOptions,
    TrainingSource,
    _Place,
    chip_shares,
    split_blocks,
    touching_seams,
)

torch = pytest.importorskip("torch")


def tiny_options(**changes) -> TrainingOptions:
    """A tiny, fast, deterministic setup: 128 px chips at 0.6 m, small decoder, no pretrained weights."""
    base = dict(gsd_m=0.6, chip_size=128, block_size=128, batch_size=2, epochs=2, steps_per_epoch=2,
                learning_rate=1e-2, pretrained=False, decoder_channels=[16, 16, 16, 16, 16], threads=1,
                device="cpu", augment=False, chip_pool=2)
    base.update(changes)
    return TrainingOptions(**base)


def crop(source: Path, target: Path, col: int, row: int, size: int = 512) -> str:
    from osgeo import gdal

    gdal.Translate(str(target), str(source), srcWin=[col, row, size, size], creationOptions=["TILED=YES"])
    return str(target)


@pytest.fixture(scope="module")
def kampala(shared_data: Path, tmp_path_factory) -> dict[str, TrainingSource]:
    """512 x 512 px (76 m) windows of Kampala image_1, one to train on and one to validate on."""
    folder = tmp_path_factory.mktemp("kampala")
    image = shared_data / "kampala" / "image_1.tif"
    labels = str(shared_data / "kampala" / "buildings.geojson")
    return {
        "train": TrainingSource(crop(image, folder / "train.tif", 1024, 0), labels, name="train"),
        "val": TrainingSource(crop(image, folder / "val.tif", 0, 512), labels, name="val"),
    }


class CancelAfter(SilentProgress):
    """Progress whose user presses cancel after ``updates`` progress updates."""

    def __init__(self, updates: int) -> None:
        super().__init__()
        self.updates = updates
        self.fractions: list[float] = []

    def set_fraction(self, fraction: float) -> None:
        self.fractions.append(fraction)

    def is_canceled(self) -> bool:
        return len(self.fractions) >= self.updates


def test_training_loss_falls_and_model_loads_and_predicts(kampala, tmp_path) -> None:
    from safetensors.torch import load_file

    from building_extractor.core.models.builders import load_model
    from building_extractor.core.models.model_file import read_config
    from building_extractor.core.train.training_report import write_training_report
    from building_extractor.core.vector.split import SEED_THRESHOLDS

    output = tmp_path / "tiny.safetensors"
    trainer = Trainer([kampala["train"]], tiny_options(epochs=4, steps_per_epoch=5), str(output),
                      validation=[kampala["val"]])
    assert trainer.run() == str(output)

    losses = [h.train_loss for h in trainer.history]
    assert len(losses) == 4
    assert losses[-1] < 0.6 * losses[0], losses  # overfitting two fixed chips (seeds 0-2: ~0.2)

    config, model = load_model(str(output), expected_architecture="unet")
    assert config.gsd_m == 0.6 and config.decoder_channels == [16, 16, 16, 16, 16]
    assert 0.3 <= config.threshold <= 0.7
    assert 0.0 <= config.metrics["val_iou"] <= 1.0 and 0.0 <= config.metrics["val_building_f1"] <= 1.0
    assert config.seed_threshold in SEED_THRESHOLDS and config.seed_threshold != config.threshold
    assert [h["epoch"] for h in config.training["history"]] == [1, 2, 3, 4]
    weights = load_file(str(output))
    metrics = trainer.retune(str(output))  # thresholds re-tuned in place, weights kept bit for bit
    assert metrics["val_building_f1"] == read_config(str(output)).metrics["val_building_f1"]
    assert all(torch.equal(weights[k], v) for k, v in load_file(str(output)).items())
    assert config.training["validation"][0]["name"] == "val"
    with torch.inference_mode():
        prob = torch.sigmoid(model(torch.zeros(1, 3, 128, 128)))
    assert prob.shape == (1, 1, 128, 128) and bool(torch.isfinite(prob).all())

    report = write_training_report(str(tmp_path / "report.html"), config, str(output))
    text = Path(report).read_text()
    assert '<img alt="Training curve' in text and "data:image/png;base64,iVBORw0KGgo" in text
    assert "efficientnet_lite0" in text and "val_iou" in text


def test_lovasz_loss_ignores_unknown_pixels_and_rewards_overlap() -> None:
    from building_extractor.core.train.training import unet_loss

    loss = unet_loss("bce_lovasz")
    target = torch.zeros(2, 1, 16, 16, dtype=torch.uint8)
    target[:, :, 4:12, 4:12] = 1
    target[:, :, :, :2] = IGNORE
    right = torch.where(target == 1, 6.0, -6.0)
    wrong = -right
    assert float(loss(right, target)) < 0.05 < 1.0 < float(loss(wrong, target))
    unknown_changed = right.clone()
    unknown_changed[:, :, :, :2] = 6.0  # confident "building" where the label is unknown
    assert float(loss(unknown_changed, target)) == pytest.approx(float(loss(right, target)))
    with pytest.raises(BuildingExtractorError, match="bce_dice, bce_lovasz, focal"):
        unet_loss("hinge")


def test_training_with_the_lovasz_loss_learns_and_records_it(kampala, tmp_path) -> None:
    output = tmp_path / "lovasz.safetensors"
    trainer = Trainer([kampala["train"]], tiny_options(epochs=3, steps_per_epoch=5, loss="bce_lovasz"), str(output),
                      validation=[kampala["val"]])
    trainer.run()
    losses = [h.train_loss for h in trainer.history]
    assert losses[-1] < 0.7 * losses[0], losses
    assert read_config(str(output)).training["options"]["loss"] == "bce_lovasz"


def test_cancel_before_an_epoch_finished_writes_nothing(kampala, tmp_path) -> None:
    output = tmp_path / "cancelled.safetensors"
    progress = CancelAfter(1)
    with pytest.raises(Cancelled):
        Trainer([kampala["train"]], tiny_options(), str(output), validation=[kampala["val"]],
                progress=progress).run(keep_best_on_cancel=True)
    assert len(progress.fractions) == 1
    assert list(tmp_path.iterdir()) == []


def test_cancel_after_an_epoch_keeps_the_best_model_when_asked(kampala, tmp_path) -> None:
    output = tmp_path / "best.safetensors"
    progress = CancelAfter(3)  # epoch 1 has 2 steps; cancelled in epoch 2
    Trainer([kampala["train"]], tiny_options(), str(output), validation=[kampala["val"]],
            progress=progress).run(keep_best_on_cancel=True)
    assert read_config(output).training["epochs_run"] == 1
    assert any("Cancelled" in w for w in progress.warnings)

    output.unlink()
    with pytest.raises(Cancelled):
        Trainer([kampala["train"]], tiny_options(), str(output), validation=[kampala["val"]],
                progress=CancelAfter(3)).run(keep_best_on_cancel=False)
    assert list(tmp_path.iterdir()) == []


def test_area_layer_marks_unlabelled_pixels_ignored(kampala, tmp_path) -> None:
    """Outside the labelled-area polygon pixels are IGNORE, not background; training chips avoid them."""
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(kampala["train"].raster) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    middle = (west + east) / 2
    area = tmp_path / "area.geojson"
    ring = [[west, south], [middle, south], [middle, north], [west, north], [west, south]]
    area.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    source = TrainingSource(kampala["train"].raster, kampala["train"].footprints, area=str(area))
    place = _Place(source, 0.6, 3)
    image, label = place.read_chip(0, 0, 128, 128, np.full(3, 0.5, np.float32))
    assert image.shape == (3, 128, 128)
    # The grid is in UTM, so the raster's edges are a pixel off its rows and columns; hence margins.
    # The image's internal mask (unflown pixels) is IGNORE too, hence "nearly all" on the labelled half.
    assert (label[2:-2, 2:60] != IGNORE).mean() > 0.99 and (label[:, 68:] == IGNORE).all()
    assert (label[:, :60] == 1).any()  # buildings on the labelled half


def test_touching_buildings_get_a_background_seam_in_gap_labels(shared_data) -> None:
    """Banepa's footprints include rows of attached houses: gap labels cut them into separate buildings (more
    4-connected blobs), take only seam pixels off the plain label, and leave free-standing outlines alone."""
    ids = np.zeros((8, 10), np.int32)
    ids[1:6, 1:4], ids[1:6, 4:7], ids[2:4, 8:10] = 1, 2, 3  # 1 and 2 share a wall; 3 stands alone
    seams = touching_seams(ids)
    assert seams[1:6, 3:5].all() and seams.sum() == 10 and not seams[:, 8:].any()

    from osgeo import gdal

    place = _Place(TrainingSource(str(shared_data / "banepa" / "train.tif"),
                                  str(shared_data / "banepa" / "buildings.geojson")), 0.3, 3)
    mean = np.full(3, 0.5, np.float32)
    _, plain = place.read_chip(600, 400, 256, 256, mean)
    _, gapped = place.read_chip(600, 400, 256, 256, mean, gaps=True)
    assert set(np.unique(gapped)) <= {0, 1, IGNORE}
    assert np.all(gapped[plain != 1] == plain[plain != 1])  # only building pixels change
    removed = (plain == 1) & (gapped == 0)
    assert 0.01 < removed.sum() / (plain == 1).sum() < 0.2  # measured 0.045

    def blobs(mask: np.ndarray) -> int:
        driver = gdal.GetDriverByName("MEM")
        raster = driver.Create("", mask.shape[1], mask.shape[0], 1, gdal.GDT_Byte)
        raster.GetRasterBand(1).WriteArray(mask.astype(np.uint8))
        from osgeo import ogr

        source = ogr.GetDriverByName("Memory").CreateDataSource("")  # kept alive while the layer is used
        layer = source.CreateLayer("b")
        gdal.Polygonize(raster.GetRasterBand(1), raster.GetRasterBand(1), layer, -1)
        return layer.GetFeatureCount()

    assert blobs(gapped == 1) >= 2 * blobs(plain == 1)  # measured 27 -> 80


def test_validation_blocks_are_held_out_of_training_chips(kampala) -> None:
    import random

    place = _Place(TrainingSource(kampala["train"].raster, kampala["train"].footprints), 0.3, 3)
    split_blocks(place, 64, 0.25, random.Random(0))
    assert len(place.val_blocks) == 4  # a 256 px grid has 16 blocks of 64 px
    held_out = np.zeros((place.raster.grid.height, place.raster.grid.width), bool)
    for r, c, h, w in place.val_blocks:
        held_out[r:r + h, c:c + w] = True
    windows = []
    read_chip = place.read_chip
    place.read_chip = lambda row, col, size, *rest: windows.append((row, col, size)) or read_chip(row, col, size, *rest)
    trainer = Trainer([TrainingSource("unused.tif", "unused.geojson")], tiny_options(chip_size=64, chip_pool=0),
                      "unused.safetensors")
    rng = np.random.default_rng(0)
    for _ in range(20):
        image, label = trainer._sample_chip([place], np.full(3, 0.5, np.float32), rng)
        assert image.shape == (3, 64, 64) and label.shape == (64, 64)
    assert len(windows) >= 20
    assert not any(held_out[r:r + size, c:c + size].any() for r, c, size in windows)


def test_mask_rcnn_training_loss_falls_and_model_finds_instances(kampala, tmp_path) -> None:
    """A Mask R-CNN overfits two fixed real chips; its file loads, and detections are separate buildings."""
    from building_extractor.core.models.builders import load_model
    from building_extractor.core.models.maskrcnn import detect
    from building_extractor.core.train.instance_training import InstanceTrainer
    from building_extractor.core.train.trainers import make_trainer
    from building_extractor.core.train.training_report import write_training_report

    output = tmp_path / "instances.safetensors"
    options = tiny_options(architecture="maskrcnn", epochs=3, steps_per_epoch=5, learning_rate=1e-3,
                           pretrained=True)
    trainer = make_trainer([kampala["train"]], options, str(output), validation=[kampala["val"]])
    assert isinstance(trainer, InstanceTrainer)
    trainer.run()
    losses = [h.train_loss for h in trainer.history]
    assert losses[-1] < 0.7 * losses[0], losses
    config, model = load_model(str(output), expected_architecture="maskrcnn")
    assert config.architecture == "maskrcnn" and config.gsd_m == 0.6
    assert 0.3 <= config.threshold <= 0.95 and 0.0 <= config.metrics["val_f1"] <= 1.0
    assert all(h["val_f1"] is not None for h in config.training["history"])
    image, _ = trainer._pool[0]
    x = torch.from_numpy((image - 0.5) / 0.5)[None]
    with torch.inference_mode():
        found = detect(model, x, 0.05)[0]
    assert found["masks"].shape[1:] == (28, 28) and np.all((found["scores"] > 0) & (found["scores"] <= 1))
    text = Path(write_training_report(str(tmp_path / "report.html"), config, str(output))).read_text()
    assert "val_f1" in text and "data:image/png;base64," in text


def test_unknown_architecture_is_refused_clearly(kampala, tmp_path) -> None:
    with pytest.raises(BuildingExtractorError, match="Unknown architecture"):
        Trainer([kampala["train"]], tiny_options(architecture="yolo"), str(tmp_path / "m.safetensors"))


def test_no_room_for_validation_blocks_fails_unless_fraction_is_zero(kampala, tmp_path) -> None:
    """A 128 px raster holds one 128 px block: nothing can be held out, which is an error, not IoU 0."""
    output = tmp_path / "model.safetensors"
    with pytest.raises(BuildingExtractorError, match="No validation blocks"):
        Trainer([kampala["train"]], tiny_options(val_fraction=0.2), str(output)).run()
    assert not output.exists()

    progress = SilentProgress()
    Trainer([kampala["train"]], tiny_options(val_fraction=0.0, steps_per_epoch=1), str(output),
            progress=progress).run()
    config = read_config(output)
    assert config.metrics == {} and config.threshold == 0.5 and config.training["epochs_run"] == 2
    assert any("No validation data" in w for w in progress.warnings)


def test_source_shares_of_chips_and_mask_derived_labels_stay_out_of_validation_and_instances(kampala,
                                                                                                tmp_path) -> None:
    """A source of share 0 gives no chips; one whose labels merge buildings gives no validation blocks and
    is left out of Mask R-CNN training."""
    from building_extractor.core.train.instance_training import InstanceTrainer

    merged = TrainingSource(kampala["val"].raster, kampala["val"].footprints, name="merged", share=0.0,
                            separate_buildings=False)
    trainer = Trainer([kampala["train"], merged], tiny_options(chip_size=64, block_size=64, chip_pool=0),
                      str(tmp_path / "m.safetensors"))
    trainer.config = None
    from building_extractor.core.models.config import ModelConfig

    places, _ = trainer._open_places(ModelConfig(gsd_m=0.6), np.full(3, 0.5, np.float32))
    assert places[0].val_blocks and not places[1].val_blocks
    drawn = []
    for place in places:
        read_chip = place.read_chip
        place.read_chip = lambda *args, _p=place, _r=read_chip: drawn.append(_p.name) or _r(*args)
    rng = np.random.default_rng(0)
    for _ in range(6):
        trainer._draw_chip(places, np.full(3, 0.5, np.float32), rng)
    assert drawn == ["train"] * 6
    merged.share = 0.25
    assert chip_shares(places).tolist() == [0.75, 0.25]
    instances = InstanceTrainer([kampala["train"], merged], tiny_options(architecture="maskrcnn"), "m.safetensors")
    assert [s.name for s in instances.sources] == ["train"]
    with pytest.raises(BuildingExtractorError, match="every training source merges touching buildings"):
        InstanceTrainer([merged], tiny_options(architecture="maskrcnn"), "m.safetensors")
