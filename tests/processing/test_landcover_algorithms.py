"""Land cover through processing.run on real QGIS: train_model with classes and class rasters, extraction with the
land cover outputs, evaluate_landcover; refusals named before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.core.test_landcover import CRS, TRANSFORM, class_scene
from tests.synthetic import write_raster

pytest.importorskip("torch")


def _run(algorithm: str, params: dict) -> dict:
    from qgis import processing

    return processing.run(f"building_extractor:{algorithm}", params)


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("landcover_alg")
    image, classes = class_scene(seed=1)
    return {"image": str(write_raster(folder / "image.tif", image, CRS, TRANSFORM)),
            "classes": str(write_raster(folder / "classes.tif", classes[None], CRS, TRANSFORM, nodata=0)),
            "folder": str(folder)}


def test_train_extract_evaluate_land_cover(provider, scene) -> None:
    from osgeo import gdal
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    from building_extractor.core.extract.landcover import evaluate_landcover, raster_classes

    folder = Path(scene["folder"])
    trained = _run("train_model", {
        "INPUT": [scene["image"]], "CLASSES": "1=building:#3c1098, 4=vegetation, 5=water",
        "CLASS_RASTERS": [scene["classes"]], "RESOLUTION": 1.0, "EPOCHS": 1, "STEPS_PER_EPOCH": 2, "BATCH_SIZE": 2,
        "CHIP_SIZE": 64, "VALIDATION_FRACTION": 0.2, "DEVICE": "cpu",
        "OUTPUT_MODEL": str(folder / "lc.safetensors"), "OUTPUT_REPORT": str(folder / "lc.html")})
    assert 0 <= trained["VAL_IOU"] <= 1 and 0 <= trained["VAL_ACCURACY"] <= 1
    assert "val_mean_iou" in Path(trained["OUTPUT_REPORT"]).read_text()

    landcover = str(folder / "landcover.tif")
    extracted = _run("extract_buildings_unet", {
        "INPUT": scene["image"], "MODEL": trained["OUTPUT_MODEL"], "DEVICE": "cpu", "TILE_SIZE": 128, "OVERLAP": 32,
        "OUTPUT": str(folder / "buildings.gpkg"), "OUTPUT_LANDCOVER": landcover,
        "OUTPUT_LANDCOVER_POLYGONS": str(folder / "landcover.gpkg"), "MIN_AREA": 0, "SIMPLIFY": 0})
    assert extracted["OUTPUT_LANDCOVER"] == landcover
    layer = QgsRasterLayer(landcover, "lc", "gdal")
    assert layer.renderer().type() == "paletted"  # the .qml written beside it is QGIS's default style
    labels = {c.value: c.label for c in layer.renderer().classes()}
    assert labels == {1: "building", 4: "vegetation", 5: "water"}
    polygons = QgsVectorLayer(extracted["OUTPUT_LANDCOVER_POLYGONS"], "p", "ogr")
    found = {f["class"]: f["value"] for f in polygons.getFeatures()}
    assert found and set(found.items()) <= {("building", 1), ("vegetation", 4), ("water", 5)}
    # Polygons cover the classified pixels exactly (no simplification, no area filter).
    dataset = gdal.Open(landcover)
    classified = int(np.count_nonzero(dataset.GetRasterBand(1).ReadAsArray()))
    dataset = None
    assert sum(f["area_m2"] for f in polygons.getFeatures()) == pytest.approx(classified)

    scored = _run("evaluate_landcover", {"PREDICTED": landcover, "REFERENCE": scene["classes"],
                                         "OUTPUT_JSON": str(folder / "scores.json"),
                                         "OUTPUT_HTML": str(folder / "scores.html")})
    core = evaluate_landcover(landcover, scene["classes"], raster_classes(landcover))
    assert scored["MEAN_IOU"] == core["mean_iou"] and scored["OVERALL_ACCURACY"] == core["overall_accuracy"]
    written = json.loads(Path(scored["OUTPUT_JSON"]).read_text())
    assert len(written["confusion_matrix"]["rows_reference_columns_predicted"]) == 3
    assert "Confusion matrix" in Path(scored["OUTPUT_HTML"]).read_text()


def test_refusals_name_the_parameter(provider, scene, tmp_path) -> None:
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="need a land cover model"):
        _run("extract_buildings_unet", {"INPUT": scene["image"], "OUTPUT": str(tmp_path / "b.gpkg"),
                                        "OUTPUT_LANDCOVER": str(tmp_path / "lc.tif")})
    with pytest.raises(QgsProcessingException, match="one class raster per training raster"):
        _run("train_model", {"INPUT": [scene["image"], scene["image"]], "CLASSES": "1=a,2=b",
                             "CLASS_RASTERS": [scene["classes"]], "OUTPUT_MODEL": str(tmp_path / "m.safetensors")})
    with pytest.raises(QgsProcessingException, match="FOOTPRINTS"):
        _run("train_model", {"INPUT": [scene["image"]], "OUTPUT_MODEL": str(tmp_path / "m.safetensors")})
    assert not list(tmp_path.iterdir())
