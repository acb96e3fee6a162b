"""Issue 20, points 11-13: temporary files never go anywhere but the temporary folder (a missing or unwritable
TMPDIR is refused clearly), train_model checks its output before training, and SIGTERM is handled like cancel."""

from __future__ import annotations

import os

import pytest
from qgis.core import QgsProcessingException

from building_extractor.core.errors import OutputError
from building_extractor.core.pipeline import ExtractionOptions, extract_buildings
from tests.processing import test_reliability
from tests.processing.test_reliability import UTM_T, run
from tests.synthetic import scene_with_roofs, use_bright_roof_model, write_raster

torch = pytest.importorskip("torch")
loads = test_reliability.loads  # the bright-roof model fixture


@pytest.fixture
def raster(tmp_path):
    return write_raster(tmp_path / "roofs.tif", scene_with_roofs(100, 100, [(20, 20, 30, 30)]), "EPSG:32636", UTM_T)


@pytest.fixture
def unusable_tmpdir(tmp_path, monkeypatch):
    """TMPDIR naming a file (as root, permissions cannot make a folder read-only; a file is as unusable)."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    monkeypatch.setenv("TMPDIR", str(blocker))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return blocker, work


def test_core_refuses_an_unusable_tmpdir_instead_of_writing_elsewhere(monkeypatch, tmp_path, raster,
                                                                     unusable_tmpdir) -> None:
    blocker, work = unusable_tmpdir
    model = use_bright_roof_model(monkeypatch, tmp_path)
    with pytest.raises(OutputError, match=f"Cannot create a temporary folder in {blocker}: it does not exist.*TMPDIR"):
        list(extract_buildings(str(raster), ExtractionOptions(model, gsd_m=0)))
    assert os.listdir(work) == []  # nothing in the working directory


def test_processing_refuses_an_unusable_tmpdir(provider, loads, raster, tmp_path, unusable_tmpdir) -> None:
    blocker, work = unusable_tmpdir
    with pytest.raises(QgsProcessingException, match="Cannot create a temporary folder in .*(TMPDIR|Options)"):
        run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "out.gpkg")})
    assert os.listdir(work) == [] and not (tmp_path / "out.gpkg").exists()


def test_train_model_checks_its_output_before_training(provider, raster, tmp_path) -> None:
    import processing

    blocker = tmp_path / "file"
    blocker.write_text("x")
    labels = tmp_path / "labels.geojson"
    labels.write_text('{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": '
                      '"urn:ogc:def:crs:EPSG::32636"}}, "features": [{"type": "Feature", "properties": {}, '
                      '"geometry": {"type": "Polygon", "coordinates": [[[500006, 99994], [500015, 99994], '
                      '[500015, 99985], [500006, 99994]]]}}]}')
    with pytest.raises(QgsProcessingException, match="OUTPUT_MODEL: cannot create the folder"):
        processing.run("building_extractor:train_model", {
            "INPUT": [str(raster)], "FOOTPRINTS": str(labels), "OUTPUT_MODEL": str(blocker / "m.safetensors")})
