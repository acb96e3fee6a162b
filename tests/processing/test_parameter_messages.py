"""Issue 20, points 8, 13 and 14: every refused value says the allowed range and what was given (never QGIS's bare
"Incorrect parameter value"), NaN is refused like any other bad number, an enum's index is accepted where its
name is (DEVICE=2), and tile settings whose cost is absurd are refused with the estimate."""

from __future__ import annotations

import os

import pytest
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException

from tests.processing import test_reliability
from tests.processing.test_reliability import UTM_T, Recorder, features, run, temp_dirs
from tests.synthetic import scene_with_roofs, write_raster

torch = pytest.importorskip("torch")
loads = test_reliability.loads  # the bright-roof model fixture


@pytest.fixture
def raster(tmp_path):
    return write_raster(tmp_path / "roofs.tif", scene_with_roofs(100, 100, [(20, 20, 30, 30)]), "EPSG:32636", UTM_T)


@pytest.mark.parametrize("algorithm, name, value, match", [
    ("extract_buildings_unet", "TILE_SIZE", 10000, "TILE_SIZE must be an integer from 32 to 8192; got 10000"),
    ("extract_buildings_unet", "BATCH_SIZE", 1000, "BATCH_SIZE must be an integer from 1 to 256; got 1000"),
    ("extract_buildings_unet", "OVERLAP", "nan", "OVERLAP must be a finite number of at least 0; got nan"),
    ("extract_buildings_unet", "RESOLUTION", float("inf"), "RESOLUTION must be a finite number of at least 0"),
    ("extract_buildings_unet", "MIN_AREA", "ten", "MIN_AREA must be a finite number of at least 0; got ten"),
    ("extract_buildings_unet", "SPLIT_THRESHOLD", "x", "SPLIT_THRESHOLD must be a finite number from 0 to 0.999"),
    ("extract_buildings_unet", "DEVICE", "gpu", "Unknown DEVICE 'gpu'. Use one of: auto, cpu"),
    ("extract_buildings_unet", "DEVICE", 7, "DEVICE must be one of auto, cpu"),
    ("extract_buildings_maskrcnn", "TILE_SIZE", 9000, "TILE_SIZE must be an integer from"),
    ("train_model", "EPOCHS", 0, "EPOCHS must be an integer from 1 to 10000; got 0"),
    ("train_model", "RESOLUTION", -1, "RESOLUTION must be a finite number"),
    ("regularize_buildings", "TOLERANCE", -2, "TOLERANCE must be a finite number"),
    ("building_heights", "BUFFER", float("nan"), "BUFFER must be a finite number from 0 to 50; got nan"),
])
def test_refused_values_say_the_allowed_range(provider, raster, tmp_path, algorithm, name, value, match) -> None:
    alg = QgsApplication.processingRegistry().createAlgorithmById(f"building_extractor:{algorithm}")
    parameters = {"INPUT": str(raster), name: value}
    ok, message = alg.checkParameterValues(parameters, QgsProcessingContext())
    assert not ok and match in message, message
    assert "Incorrect parameter value" not in message


def test_device_index_is_accepted(provider, loads, raster, tmp_path) -> None:
    feedback = Recorder()
    result = run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "out.gpkg"), "DEVICE": 1}, feedback)
    assert len(features(result["OUTPUT"])) == 1 and loads


def test_absurd_overlap_is_refused_with_the_estimate(provider, loads, tmp_path) -> None:
    """Regression: OVERLAP=0.99 was accepted and would have run for hours (×12,134 the raster's pixels)."""
    big = write_raster(tmp_path / "big.tif", scene_with_roofs(450, 450, [(20, 20, 30, 30)]), "EPSG:32636", UTM_T)
    before = temp_dirs()
    with pytest.raises(QgsProcessingException, match=r"[\d,]+ tiles, and the model would compute [\d,]+ MP for "
                                                      r"0.20 MP of raster .*Lower OVERLAP"):
        run({"INPUT": str(big), "OUTPUT": str(tmp_path / "out.gpkg"), "OVERLAP": 0.99})
    assert temp_dirs() == before and not os.path.exists(tmp_path / "out.gpkg")
    result = run({"INPUT": str(big), "OUTPUT": str(tmp_path / "out.gpkg"), "OVERLAP": 0.5})  # costly, but sane
    assert len(features(result["OUTPUT"])) == 1
