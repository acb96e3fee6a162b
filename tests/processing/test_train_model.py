"""building_extractor:train_model through processing.run: real training on Kampala crops, cancel, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # a training job may share the machine


def _crop(source: Path, target: Path, col: int, row: int, size: int = 512) -> str:
    from osgeo import gdal

    gdal.Translate(str(target), str(source), srcWin=[col, row, size, size], creationOptions=["TILED=YES"])
    return str(target)


@pytest.fixture(scope="module")
def data(shared_data: Path, tmp_path_factory) -> dict[str, str]:
    """512 px Kampala crops (76 m) and a tiny U-Net to start from (16-channel decoder, random weights)."""
    from building_extractor.core.models.builders import build_model
    from building_extractor.core.models.config import ModelConfig
    from building_extractor.core.models.model_file import save_model_file

    folder = tmp_path_factory.mktemp("train_model")
    image = shared_data / "kampala" / "image_1.tif"
    config = ModelConfig(decoder_channels=[16, 16, 16, 16, 16], gsd_m=0.6, name="tiny")
    save_model_file(folder / "tiny.safetensors", config, build_model(config).state_dict())
    return {"train": _crop(image, folder / "train.tif", 1024, 0), "val": _crop(image, folder / "val.tif", 0, 512),
            "labels": str(shared_data / "kampala" / "buildings.geojson"),
            "tiny": str(folder / "tiny.safetensors")}


def _params(data: dict[str, str], tmp_path: Path, **changes) -> dict:
    params = {"INPUT": [data["train"]], "FOOTPRINTS": data["labels"], "VALIDATION_RASTER": data["val"],
              "VALIDATION_FOOTPRINTS": data["labels"], "INIT_MODEL": data["tiny"], "RESOLUTION": 0.6,
              "EPOCHS": 2, "STEPS_PER_EPOCH": 2, "BATCH_SIZE": 2, "CHIP_SIZE": 128, "LEARNING_RATE": 0.01,
              "DEVICE": "cpu", "OUTPUT_MODEL": str(tmp_path / "model.safetensors")}
    params.update(changes)
    return params


def _memory_copy(path: str):
    """The footprints as a memory layer (not backed by a file), so the algorithm must save them itself."""
    from qgis.core import QgsFeatureRequest, QgsVectorLayer

    layer = QgsVectorLayer(path, "footprints", "ogr")
    assert layer.isValid()
    return layer.materialize(QgsFeatureRequest())


class CancelAfter:
    """A feedback whose user presses cancel after ``updates`` progress updates."""

    def __init__(self, updates: int) -> None:
        from qgis.core import QgsProcessingFeedback

        self.feedback = QgsProcessingFeedback()
        self.updates, self.seen = updates, 0
        self.feedback.progressChanged.connect(self._on_progress)

    def _on_progress(self, _value: float) -> None:
        self.seen += 1
        if self.seen >= self.updates:
            self.feedback.cancel()


def test_trains_writes_model_report_and_iou(provider, data, tmp_path) -> None:
    from qgis import processing

    from building_extractor.core.models.builders import load_model
    from building_extractor.core.models.model_file import read_config

    memory = _memory_copy(data["labels"])
    report = tmp_path / "report.html"
    result = processing.run("building_extractor:train_model",
                            _params(data, tmp_path, FOOTPRINTS=memory, OUTPUT_REPORT=str(report)))

    assert result["OUTPUT_MODEL"] == str(tmp_path / "model.safetensors")
    assert result["OUTPUT_REPORT"] == str(report)
    assert 0.0 <= result["VAL_IOU"] <= 1.0
    config, model = load_model(result["OUTPUT_MODEL"], expected_architecture="unet")
    assert config.decoder_channels == [16, 16, 16, 16, 16] and config.gsd_m == 0.6  # fine-tuned the tiny model
    assert config.metrics["val_iou"] == pytest.approx(result["VAL_IOU"])
    assert config.training["epochs_run"] == 2 and config.training["options"]["chip_size"] == 128
    saved = Path(config.training["sources"][0]["footprints"])
    assert saved.suffix == ".gpkg" and "building_extractor_train_" in str(saved) and not saved.parent.exists()
    assert config.training["validation"][0]["raster"] == data["val"]
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)
    html = report.read_text()
    assert '<img alt="Training curve" src="data:image/png;base64,' in html
    if result["OUTPUT_ONNX"]:  # written beside the model when onnx is installed (make setup installs it)
        assert result["OUTPUT_ONNX"] == str(tmp_path / "model.onnx") and read_config(result["OUTPUT_ONNX"]) == config
    assert "val_iou" in html


def test_trains_a_mask_rcnn_from_a_unet_encoder(provider, data, tmp_path) -> None:
    from qgis import processing

    from building_extractor.core.models.model_file import read_config

    result = processing.run("building_extractor:train_model",
                            _params(data, tmp_path, ARCHITECTURE=1, LEARNING_RATE=None, BATCH_SIZE=None,
                                    STEPS_PER_EPOCH=1))
    config = read_config(result["OUTPUT_MODEL"])
    assert config.architecture == "maskrcnn" and config.training["options"]["batch_size"] == 4
    assert config.training["options"]["learning_rate"] == 5e-4
    assert 0.0 <= result["VAL_F1"] <= 1.0 and result["VAL_F1"] == config.metrics["val_f1"]


def test_architecture_encoder_and_loss_options_train_and_the_result_extracts(provider, data, tmp_path) -> None:
    """Enum options map onto the core tables: a P-LinkNet on ResNet-18 with the Tversky loss, then extracted."""
    from qgis import processing

    from building_extractor.core.models.model_file import read_config
    from building_extractor.processing.train_model import ARCHITECTURE_NAMES, ENCODER_NAMES, LOSSES

    result = processing.run("building_extractor:train_model", _params(
        data, tmp_path, INIT_MODEL=None, ARCHITECTURE=ARCHITECTURE_NAMES.index("plinknet"),
        ENCODER=ENCODER_NAMES.index("resnet18"), LOSS=LOSSES.index("tversky"), EPOCHS=1))
    config = read_config(result["OUTPUT_MODEL"])
    assert (config.architecture, config.encoder, config.training["options"]["loss"]) == \
        ("plinknet", "resnet18", "tversky")
    out = tmp_path / "buildings.gpkg"
    extracted = processing.run("building_extractor:extract_buildings_unet", {
        "INPUT": data["val"], "MODEL": result["OUTPUT_MODEL"], "THRESHOLD": 0.01, "OUTPUT": str(out)})
    assert extracted["OUTPUT"] == str(out) and out.exists()


def test_cancel_before_an_epoch_finished_fails_and_writes_nothing(provider, data, tmp_path) -> None:
    from qgis import processing
    from qgis.core import QgsProcessingException

    cancel = CancelAfter(1)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("building_extractor:train_model",
                       _params(data, tmp_path, OUTPUT_REPORT=str(tmp_path / "report.html")),
                       feedback=cancel.feedback)
    assert list(tmp_path.iterdir()) == []


def test_cancel_after_an_epoch_keeps_the_best_model(provider, data, tmp_path) -> None:
    from qgis import processing

    from building_extractor.core.models.model_file import read_config

    cancel = CancelAfter(3)  # two steps per epoch: cancelled during epoch 2
    result = processing.run("building_extractor:train_model", _params(data, tmp_path, KEEP_BEST_ON_CANCEL=True),
                            feedback=cancel.feedback)
    assert read_config(result["OUTPUT_MODEL"]).training["epochs_run"] == 1


@pytest.mark.parametrize("changes, message", [
    ({"VALIDATION_RASTER": None}, "Give both VALIDATION_RASTER and VALIDATION_FOOTPRINTS"),
    ({"CHIP_SIZE": 100}, "multiple of 32"),
    ({"VALIDATION_RASTER": None, "VALIDATION_FOOTPRINTS": None}, "No validation blocks could be held out"),
])
def test_bad_parameters_fail_clearly(provider, data, tmp_path, changes, message) -> None:
    from qgis import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=message):
        processing.run("building_extractor:train_model", _params(data, tmp_path, **changes))
    assert not (tmp_path / "model.safetensors").exists()
