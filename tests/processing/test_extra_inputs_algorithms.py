"""Extra inputs through processing.run: train_model with a height input, extract_buildings_unet with and without
the height model it expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.test_extra_inputs import scene  # noqa: F401 - the synthetic scene fixture

pytest.importorskip("torch")


def _run(algorithm: str, params: dict) -> dict:
    from qgis import processing

    return processing.run(f"building_extractor:{algorithm}", params)


def test_height_input_through_the_toolbox(provider, scene, tmp_path) -> None:  # noqa: F811
    from qgis.core import QgsProcessingException, QgsVectorLayer

    from building_extractor.core.models.model_file import read_config

    trained = _run("train_model", {
        "INPUT": [scene["image"]], "FOOTPRINTS": scene["footprints"], "EXTRA_INPUTS": "height:20",
        "HEIGHT_RASTERS": [scene["ndsm"]], "RESOLUTION": 1.0, "EPOCHS": 1, "STEPS_PER_EPOCH": 2, "BATCH_SIZE": 2,
        "CHIP_SIZE": 64, "DEVICE": "cpu", "OUTPUT_MODEL": str(tmp_path / "height.safetensors")})
    config = read_config(trained["OUTPUT_MODEL"])
    assert config.extra_inputs == [{"kind": "raster", "name": "height", "scale": 20.0}] and config.channel_count == 4
    params = {"INPUT": scene["image"], "MODEL": trained["OUTPUT_MODEL"], "DEVICE": "cpu", "TILE_SIZE": 64,
              "OVERLAP": 16, "OUTPUT": str(tmp_path / "buildings.gpkg")}
    with pytest.raises(QgsProcessingException, match="expects a height raster"):
        _run("extract_buildings_unet", params)
    assert not Path(params["OUTPUT"]).exists()
    result = _run("extract_buildings_unet", {**params, "HEIGHT": scene["ndsm"]})
    assert QgsVectorLayer(result["OUTPUT"], "b", "ogr").isValid()
    result = _run("extract_buildings_unet", {**params, "HEIGHT": scene["ndsm"], "DTM": scene["flat"],
                                             "OUTPUT": str(tmp_path / "dsm_dtm.gpkg")})
    assert QgsVectorLayer(result["OUTPUT"], "b", "ogr").isValid()
