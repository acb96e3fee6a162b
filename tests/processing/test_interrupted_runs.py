"""Issue 20, points 11-13: temporary files never go anywhere but the temporary folder (a missing or unwritable
TMPDIR is refused clearly), train_model checks its output before training, and SIGTERM is handled like cancel."""

from __future__ import annotations

import os

import pytest
from qgis.core import QgsProcessingException

from building_extractor.core.errors import OutputError
from building_extractor.core.extract.pipeline import ExtractionOptions, extract_buildings
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


@pytest.mark.slow
def test_sigterm_during_inference_leaves_nothing_behind(tmp_path, shared_data) -> None:
    """qgis_process stopped by SIGTERM (as a scheduler does) in the middle of inference: the temporary folder,
    the probability raster and the output are all gone, as after Ctrl+C."""
    import signal
    import subprocess
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    # A raster that keeps the model busy for a while even on onnxruntime on an idle machine (the 800 px sample was
    # done in half a second there, before the signal came).
    sample = shared_data / "banepa" / "train.tif"
    process = subprocess.Popen(
        [str(root / "bin" / "qgis_process"), "run", "building_extractor:extract_buildings_unet", f"--INPUT={sample}",
         f"--OUTPUT={tmp_path / 'out.gpkg'}", f"--OUTPUT_PROBABILITY={tmp_path / 'p.tif'}", "--DEVICE=cpu",
         "--TILE_SIZE=256", "--OVERLAP=128"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root,
        env={**os.environ, "TMPDIR": str(temporary), "BUILDING_EXTRACTOR_WORKERS": "1"})
    log = []
    for line in process.stdout:
        log.append(line)
        if "tile(s) of" in line:  # inference has started: its temporary rasters exist
            time.sleep(1)
            process.send_signal(signal.SIGTERM)
            break
    output, _ = process.communicate(timeout=300)
    log.append(output)
    assert process.returncode != 0, "".join(log)[-3000:]
    left = [str(p) for p in temporary.rglob("*") if "building_extractor" in p.name or p.suffix == ".tif"]
    assert left == [], "".join(log)[-3000:]
    assert not (tmp_path / "out.gpkg").exists() and not (tmp_path / "p.tif").exists()


@pytest.mark.slow
def test_sigterm_during_training_leaves_nothing_behind(tmp_path, shared_data) -> None:
    """train_model through qgis_process stopped by SIGTERM once training has begun: its temporary folder is
    removed and no model file is written."""
    import signal
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    process = subprocess.Popen(
        [str(root / "bin" / "qgis_process"), "run", "building_extractor:train_model",
         f"--INPUT={shared_data / 'kampala' / 'image_2.tif'}",
         f"--FOOTPRINTS={shared_data / 'kampala' / 'buildings.geojson'}",
         f"--OUTPUT_MODEL={tmp_path / 'm.safetensors'}",
         "--EPOCHS=50", "--STEPS_PER_EPOCH=50", "--DEVICE=cpu", "--RESOLUTION=0.6"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root,
        env={**os.environ, "TMPDIR": str(temporary)})
    log = []
    for line in process.stdout:
        log.append(line)
        if "Training on" in line:
            process.send_signal(signal.SIGTERM)
            break
    output, _ = process.communicate(timeout=300)
    log.append(output)
    assert process.returncode != 0, "".join(log)[-3000:]
    assert [str(p) for p in temporary.rglob("*") if "building_extractor" in p.name] == [], "".join(log)[-3000:]
    assert not (tmp_path / "m.safetensors").exists()
