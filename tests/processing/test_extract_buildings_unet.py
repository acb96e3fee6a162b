"""extract_buildings_unet through QGIS Processing on real imagery with the shipped model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer, QgsVectorLayer

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "banepa_sample.tif"
ALG = "building_extractor:extract_buildings_unet"


def test_real_sample_gives_polygons_with_attributes_in_input_crs(provider, tmp_path) -> None:
    import processing

    out = tmp_path / "buildings.gpkg"
    prob = tmp_path / "prob.tif"
    result = processing.run(ALG, {"INPUT": str(SAMPLE), "OUTPUT": str(out), "OUTPUT_PROBABILITY": str(prob)})
    layer = QgsVectorLayer(result["OUTPUT"], "b", "ogr")
    assert layer.isValid() and layer.featureCount() > 0
    assert [f.name() for f in layer.fields()][-5:] == ["id", "confidence", "max_probability", "area_m2", "perimeter_m"]
    assert layer.crs().authid() == "EPSG:4326"
    raster = QgsRasterLayer(str(SAMPLE), "s")
    assert raster.extent().buffered(1e-9).contains(layer.extent())  # clipped to the image (float round-off)
    ids = set()
    for feature in layer.getFeatures():
        assert 0 < feature["confidence"] <= feature["max_probability"] <= 1
        assert feature["area_m2"] >= 4.0 and feature["perimeter_m"] > 0
        assert feature.geometry().isGeosValid()
        ids.add(feature["id"])
    assert len(ids) == layer.featureCount()
    assert QgsRasterLayer(str(prob), "p").isValid()


def test_cancel_leaves_no_output(provider, tmp_path) -> None:
    import processing

    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda _: feedback.cancel())
    out = tmp_path / "cancelled.gpkg"
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run(ALG, {"INPUT": str(SAMPLE), "OUTPUT": str(out), "TILE_SIZE": 128, "OVERLAP": 0,
                             "BATCH_SIZE": 1}, feedback=feedback)
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith("cancelled")]


@pytest.mark.parametrize("params,message", [
    ({"TILE_SIZE": 100}, "multiple of 32"),
    ({"TILE_SIZE": 256, "OVERLAP": 256}, "smaller than TILE_SIZE"),
])
def test_parameter_checks_name_the_parameter(provider, tmp_path, params, message) -> None:
    import processing

    with pytest.raises(QgsProcessingException, match=message):
        processing.run(ALG, {"INPUT": str(SAMPLE), "OUTPUT": str(tmp_path / "x.gpkg"), **params})


def test_pickle_model_is_refused_before_anything_runs(provider, tmp_path) -> None:
    import pickle

    import processing

    evil = tmp_path / "model.safetensors"
    evil.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(QgsProcessingException, match="pickle"):
        processing.run(ALG, {"INPUT": str(SAMPLE), "MODEL": str(evil), "OUTPUT": str(tmp_path / "x.gpkg")})
    assert not (tmp_path / "x.gpkg").exists()


@pytest.mark.parametrize("algorithm", ["extract_buildings_unet", "extract_buildings_maskrcnn"])
@pytest.mark.parametrize("parameter", ["TTA", "NORMALIZE"])
def test_enum_options_reach_the_core(provider, tmp_path, algorithm, parameter, monkeypatch) -> None:
    """TTA's and NORMALIZE's option indexes map onto core.extract.tta.TTA_MODES and
    core.extract.normalize.NORMALIZATIONS; the core receives them (stubbed after the options)."""
    import processing

    from building_extractor.core.extract.normalize import NORMALIZATIONS
    from building_extractor.core.extract.tta import TTA_MODES
    from building_extractor.processing import extract_buildings_maskrcnn, extract_buildings_unet

    modes = list(TTA_MODES if parameter == "TTA" else NORMALIZATIONS)
    seen = []

    def stop(raster, options, *rest):
        seen.append(getattr(options, parameter.lower()))
        raise QgsProcessingException("stopped after the options")

    module = extract_buildings_unet if algorithm.endswith("unet") else extract_buildings_maskrcnn
    monkeypatch.setattr(module, "extract_buildings" if algorithm.endswith("unet") else "extract_instances", stop)
    for index in range(len(modes)):
        with pytest.raises(QgsProcessingException, match="stopped after the options"):
            processing.run(f"building_extractor:{algorithm}",
                           {"INPUT": str(SAMPLE), parameter: index, "OUTPUT": str(tmp_path / "x.gpkg")})
    assert seen == modes
