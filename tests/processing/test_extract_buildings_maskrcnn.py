"""extract_buildings_maskrcnn through QGIS Processing: the shipped instance model on real imagery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import rasterio
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "banepa_sample.tif"
ALG = "building_extractor:extract_buildings_maskrcnn"


def test_real_sample_gives_one_polygon_per_building_with_scores(provider, tmp_path) -> None:
    import processing

    out = tmp_path / "instances.gpkg"
    result = processing.run(ALG, {"INPUT": str(SAMPLE), "OUTPUT": str(out)})
    layer = QgsVectorLayer(result["OUTPUT"], "b", "ogr")
    assert layer.isValid() and layer.featureCount() > 10
    assert [f.name() for f in layer.fields()][-5:] == ["id", "confidence", "mask_confidence", "area_m2",
                                                       "perimeter_m"]
    assert layer.crs().authid() == "EPSG:4326"
    scores = []
    for feature in layer.getFeatures():
        assert 0 < feature["confidence"] <= 1 and 0 < feature["mask_confidence"] <= 1
        assert feature["area_m2"] >= 4.0 and feature["perimeter_m"] > 0
        assert feature.geometry().isGeosValid()
        scores.append(feature["confidence"])
    assert len(set(scores)) > len(scores) // 2  # real, varying detection scores
    geometries = [f.geometry() for f in layer.getFeatures()]
    overlapping = sum(a.intersection(b).area() > 0.01 * min(a.area(), b.area())
                      for i, a in enumerate(geometries) for b in geometries[i + 1:])
    assert overlapping == 0  # duplicates across tiles removed, and buildings never overlap


def test_held_out_city_building_f1_and_separate_attached_roofs(provider, shared_data, tmp_path) -> None:
    """The shipped instance model on Kampala (never trained on): a loose F1 floor against the OSM labels
    (MODELS.md has the real numbers), and attached roofs come out as separate buildings, not blobs."""
    import processing

    from building_extractor.core.evaluate.metrics import evaluate, read_polygon_set

    reference = read_polygon_set(str(shared_data / "kampala" / "buildings.geojson"), name="reference")
    f1s = []
    for name in ("image_1", "image_2"):
        image = shared_data / "kampala" / f"{name}.tif"
        out = tmp_path / f"{name}.gpkg"
        processing.run(ALG, {"INPUT": str(image), "OUTPUT": str(out)})
        with rasterio.open(image) as src:
            bounds, crs = tuple(src.bounds), src.crs.to_wkt()
        metrics = evaluate(read_polygon_set(str(out), name="predicted"), reference, extent=(bounds, crs)).to_dict()
        f1s.append(metrics["building"]["0.5"]["f1"])
        if name == "image_2":  # dense attached roofs: a semantic mask (U-Net, no split) merges them into blobs
            unet = tmp_path / "unet.gpkg"
            processing.run("building_extractor:extract_buildings_unet",
                           {"INPUT": str(image), "SPLIT_THRESHOLD": 0, "OUTPUT": str(unet)})
            instances = QgsVectorLayer(str(out), "i", "ogr").featureCount()
            blobs = QgsVectorLayer(str(unet), "u", "ogr").featureCount()
            assert instances >= 2 * blobs, (instances, blobs)
    assert min(f1s) >= FLOOR_F1, f1s


FLOOR_F1 = 0.30  # per image; measured 0.633 (image_1) and 0.476 (image_2) with the shipped model (MODELS.md)


def test_cancel_leaves_no_output(provider, tmp_path) -> None:
    import processing

    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda _: feedback.cancel())
    out = tmp_path / "cancelled.gpkg"
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run(ALG, {"INPUT": str(SAMPLE), "OUTPUT": str(out), "TILE_SIZE": 128, "OVERLAP": 32,
                             "BATCH_SIZE": 1}, feedback=feedback)
    assert not [p for p in os.listdir(tmp_path) if p.startswith("cancelled")]


def test_progress_reaches_the_end(provider, tmp_path) -> None:
    import processing

    feedback = QgsProcessingFeedback()
    values: list[float] = []
    feedback.progressChanged.connect(values.append)
    processing.run(ALG, {"INPUT": str(SAMPLE), "OUTPUT": str(tmp_path / "p.gpkg"), "TILE_SIZE": 256},
                   feedback=feedback)
    assert len(values) >= 3 and values == sorted(values) and values[-1] >= 99


@pytest.mark.parametrize("params,message", [
    ({"MODEL": str(ROOT / "building_extractor" / "models" / "default_unet.safetensors")},
     "holds a unet model.*extract_buildings_unet"),
    ({"TILE_SIZE": 100}, "multiple of 32"),
])
def test_wrong_model_and_bad_parameters_fail_clearly(provider, tmp_path, params, message) -> None:
    import processing

    with pytest.raises(QgsProcessingException, match=message):
        processing.run(ALG, {"INPUT": str(SAMPLE), "OUTPUT": str(tmp_path / "x.gpkg"), **params})
    assert not (tmp_path / "x.gpkg").exists()
