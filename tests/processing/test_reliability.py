"""extract_buildings_unet through QGIS Processing: bad input gets a QgsProcessingException that says what to do,
and a failed or cancelled run leaves no output and no temporary files.

The network is the 'bright roof' stand-in (tests/synthetic.py); MODEL stays empty unless the model file itself is
under test, so checkParameterValues reads the header of the shipped model.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from affine import Affine
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsProcessingUtils, QgsVectorLayer

from building_extractor.core.extract import pipeline
from building_extractor.core.extract.stitching import ProbabilityWriter
from building_extractor.core.models import backends
from tests.synthetic import BrightRoofNet, scene_with_roofs, write_raster

torch = pytest.importorskip("torch")

ALG = "building_extractor:extract_buildings_unet"
UTM_T = Affine(0.3, 0, 500000, 0, -0.3, 100000)


class Recorder(QgsProcessingFeedback):
    """Feedback that keeps warnings and cancels when a given step starts (1-based, as logged)."""

    def __init__(self, cancel_at_step: int | None = None) -> None:
        super().__init__()
        self.cancel_at_step = cancel_at_step
        self.warnings: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802 - QGIS API name
        if self.cancel_at_step and info.startswith(f"Step {self.cancel_at_step}:"):
            self.cancel()
        super().pushInfo(info)

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802, N803
        self.warnings.append(error)
        super().reportError(error, fatalError)

    def pushWarning(self, warning: str) -> None:  # noqa: N802 - QGIS API name
        self.warnings.append(warning)
        super().pushWarning(warning)


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Use the bright-roof model; the list records every model load (empty: the run never started)."""
    from building_extractor.core.models.config import ModelConfig

    calls: list[str] = []
    config = ModelConfig(tile_size=64, overlap=16, threshold=0.75, name="bright-roof")

    def load(path: str, architecture: str = "unet"):
        calls.append(path)
        return config, BrightRoofNet.build()

    monkeypatch.setattr(pipeline, "load_cached_model", load)
    # The stand-in is a torch network: BACKEND=auto must take torch even for the shipped (ONNX) default model.
    monkeypatch.setattr(backends, "onnxruntime_installed", lambda: False)
    monkeypatch.setattr(backends, "openvino_installed", lambda: False)
    torch.set_num_threads(1)
    return calls


@pytest.fixture
def raster(tmp_path):
    return write_raster(tmp_path / "roofs.tif", scene_with_roofs(100, 100, [(20, 20, 30, 30)]), "EPSG:32636", UTM_T)


def run(params: dict, feedback: QgsProcessingFeedback | None = None) -> dict:
    import processing

    return processing.run(ALG, {"RESOLUTION": 0, "MIN_AREA": 1.0, **params}, feedback=feedback)


def temp_dirs() -> set[str]:
    folder = QgsProcessingUtils.tempFolder()
    return {name for name in os.listdir(folder) if name.startswith("building_extractor_")}


def features(path) -> list:
    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid()
    return list(layer.getFeatures())


# Parameters and model --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params,message", [
    ({"TILE_SIZE": 100}, "TILE_SIZE must be a positive multiple of 32.*Use 128"),
    ({"TILE_SIZE": 16}, "TILE_SIZE must be a positive multiple of 32.*Use 32"),
    ({"OVERLAP": -1}, "OVERLAP must be 0 or more"),
    ({"TILE_SIZE": 64, "OVERLAP": 64}, r"OVERLAP \(64 px\) must be smaller than TILE_SIZE \(64 px\)"),
    ({"OVERLAP": 2000}, r"smaller than TILE_SIZE \(1024 px, the model’s\)"),
    ({"THRESHOLD": 1.5}, "THRESHOLD must lie between 0 and 1"),
    ({"BATCH_SIZE": 0}, "BATCH_SIZE must be at least 1"),
    ({"RESOLUTION": -1}, "RESOLUTION must be 0"),
    ({"MIN_AREA": -1}, "MIN_AREA must be 0 or more"),
])
def test_out_of_range_parameters_are_refused_before_the_run(provider, loads, raster, tmp_path, params,
                                                            message) -> None:
    with pytest.raises(QgsProcessingException, match=message):
        run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "out.gpkg"), **params})
    assert loads == [] and not (tmp_path / "out.gpkg").exists()


@pytest.mark.parametrize("kind", ["zip", "legacy"])
def test_torch_checkpoints_are_refused_by_the_parameter_check(provider, loads, raster, tmp_path, kind) -> None:
    model = tmp_path / f"{kind}.pt"
    torch.save({"weight": torch.zeros(3)}, model, _use_new_zipfile_serialization=kind == "zip")
    with pytest.raises(QgsProcessingException, match="MODEL: .*pickle checkpoint"):
        run({"INPUT": str(raster), "MODEL": str(model), "OUTPUT": str(tmp_path / "out.gpkg")})
    assert loads == []


def test_missing_and_foreign_model_files(provider, loads, raster, tmp_path) -> None:
    from building_extractor.core.models.config import ModelConfig
    from building_extractor.core.models.model_file import save_model_file

    with pytest.raises(QgsProcessingException, match="MODEL: Model file .* does not exist"):
        run({"INPUT": str(raster), "MODEL": str(tmp_path / "gone.safetensors"), "OUTPUT": "TEMPORARY_OUTPUT"})
    maskrcnn = tmp_path / "maskrcnn.safetensors"
    save_model_file(maskrcnn, ModelConfig(architecture="maskrcnn"), {"w": torch.zeros(2)})
    with pytest.raises(QgsProcessingException, match="MODEL holds a maskrcnn model.*extract_buildings_maskrcnn"):
        run({"INPUT": str(raster), "MODEL": str(maskrcnn), "OUTPUT": "TEMPORARY_OUTPUT"})
    assert loads == []


def test_cuda_without_gpu(provider, loads, raster, tmp_path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(QgsProcessingException, match="DEVICE=cuda was asked for.*sees no CUDA GPU"):
        run({"INPUT": str(raster), "DEVICE": "cuda", "BACKEND": "torch", "OUTPUT": str(tmp_path / "out.gpkg")})
    assert not (tmp_path / "out.gpkg").exists()


# Input rasters ---------------------------------------------------------------------------------------------------

def test_unreadable_and_missing_rasters(provider, loads, tmp_path) -> None:
    garbage = tmp_path / "garbage.tif"
    garbage.write_bytes(b"II*\0 this is not really a TIFF" * 10)
    with pytest.raises(QgsProcessingException, match="INPUT: GDAL cannot read raster .*garbage.tif"):
        run({"INPUT": str(garbage), "OUTPUT": "TEMPORARY_OUTPUT"})
    with pytest.raises(QgsProcessingException, match="INPUT: raster .*missing.tif does not exist"):
        run({"INPUT": str(tmp_path / "missing.tif"), "OUTPUT": "TEMPORARY_OUTPUT"})
    assert loads == []


def test_single_band_needs_bands_and_then_works(provider, loads, tmp_path) -> None:
    grey = write_raster(tmp_path / "grey.tif", scene_with_roofs(100, 100, [(20, 20, 30, 30)])[:1], "EPSG:32636",
                        UTM_T)
    with pytest.raises(QgsProcessingException, match="BANDS to 1,1,1"):
        run({"INPUT": str(grey), "OUTPUT": str(tmp_path / "out.gpkg")})
    assert not (tmp_path / "out.gpkg").exists()
    result = run({"INPUT": str(grey), "BANDS": [1, 1, 1], "OUTPUT": str(tmp_path / "out.gpkg")})
    assert len(features(result["OUTPUT"])) == 1


def test_all_nodata_raster_gives_an_empty_layer_and_warnings(provider, loads, tmp_path) -> None:
    empty = write_raster(tmp_path / "empty.tif", np.zeros((3, 60, 60), np.uint8), "EPSG:32636", UTM_T, nodata=0)
    feedback = Recorder()
    result = run({"INPUT": str(empty), "OUTPUT": str(tmp_path / "out.gpkg")}, feedback)
    assert features(result["OUTPUT"]) == []
    assert any("no valid pixels" in w for w in feedback.warnings)
    assert any("No buildings were found" in w for w in feedback.warnings)


def test_raster_without_crs_warns_in_the_log(provider, loads, tmp_path) -> None:
    path = write_raster(tmp_path / "nocrs.tif", scene_with_roofs(100, 100, [(20, 20, 30, 30)]), None, UTM_T)
    feedback = Recorder()
    result = run({"INPUT": str(path), "OUTPUT": str(tmp_path / "out.gpkg")}, feedback)
    assert len(features(result["OUTPUT"])) == 1
    assert any("no CRS" in w for w in feedback.warnings)


# Outputs ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,message", [
    ("out.csv", "CSV format stores attributes only"),
    ("out.xlsx", "Excel .* stores attributes only"),
    ("out.dxf", "DXF format has no attribute fields"),
    ("out.gpx", "GPX format has no polygons"),
    ("missing/out.gpkg", "the folder .*missing does not exist"),
    ("roofs.tif/out.gpkg", "the folder .*roofs.tif does not exist"),
])
def test_unusable_output_paths_are_refused_before_the_run(provider, loads, raster, tmp_path, name,
                                                          message) -> None:
    with pytest.raises(QgsProcessingException, match=f"OUTPUT: (the )?{message}"):
        run({"INPUT": str(raster), "OUTPUT": str(tmp_path / name)})
    assert loads == []


def test_existing_output_is_replaced_but_kept_when_the_run_fails(provider, loads, raster, tmp_path) -> None:
    out = tmp_path / "out.gpkg"
    two = write_raster(tmp_path / "two.tif", scene_with_roofs(100, 100, [(5, 5, 20, 20), (60, 60, 20, 20)]),
                       "EPSG:32636", UTM_T)
    run({"INPUT": str(two), "OUTPUT": str(out)})
    assert len(features(out)) == 2
    run({"INPUT": str(raster), "OUTPUT": str(out)})
    assert len(features(out)) == 1  # overwritten, not appended
    grey = write_raster(tmp_path / "grey.tif", scene_with_roofs(50, 50, [])[:1], "EPSG:32636", UTM_T)
    with pytest.raises(QgsProcessingException, match="BANDS"):
        run({"INPUT": str(grey), "OUTPUT": str(out)})
    assert len(features(out)) == 1  # a run that failed before writing leaves the earlier result alone


def test_shapefile_output_warns_about_cut_field_names(provider, loads, raster, tmp_path) -> None:
    feedback = Recorder()
    result = run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "out.shp")}, feedback)
    assert len(features(result["OUTPUT"])) == 1
    assert any("max_probab" in w for w in feedback.warnings)


def test_sink_that_cannot_be_created_says_what_to_do(provider, loads, raster, tmp_path, monkeypatch) -> None:
    from building_extractor.processing.extract_buildings_unet import ExtractBuildingsUnet

    def refuse(self, *args):
        raise QgsProcessingException("Could not create layer out.gpkg: disk I/O error")

    monkeypatch.setattr(ExtractBuildingsUnet, "parameterAsSink", refuse)
    before = temp_dirs()
    with pytest.raises(QgsProcessingException, match="disk I/O error.*Choose another output path or format"):
        run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "out.gpkg")})
    assert temp_dirs() == before and not (tmp_path / "out.gpkg").exists()


def test_disk_full_on_the_temporary_accumulator(provider, loads, raster, tmp_path, monkeypatch) -> None:
    import errno

    def full(self, row, prob):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ProbabilityWriter, "write_rows", full)
    before = temp_dirs()
    with pytest.raises(QgsProcessingException, match="the disk is full.*temporary files were removed"):
        run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "out.gpkg")})
    assert temp_dirs() == before and not (tmp_path / "out.gpkg").exists()


# Cancel and batch ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("step", [1, 2, 3])  # read and infer, vectorize, post-process and write
def test_cancel_at_each_step_leaves_nothing(provider, loads, raster, tmp_path, step) -> None:
    before = temp_dirs()
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "out.gpkg"),
             "OUTPUT_PROBABILITY": str(tmp_path / "prob.tif")}, Recorder(cancel_at_step=step))
    assert sorted(os.listdir(tmp_path)) == ["roofs.tif"]
    assert temp_dirs() == before


def test_cancel_while_writing_removes_the_partial_output(provider, loads, tmp_path, monkeypatch) -> None:
    from building_extractor.processing.extract_buildings_unet import ExtractBuildingsUnet

    roofs = [(r, c, 4, 4) for r in range(2, 200, 8) for c in range(2, 200, 8)]  # 625 small roofs
    many = write_raster(tmp_path / "many.tif", scene_with_roofs(200, 200, roofs), "EPSG:32636", UTM_T)
    feedback = Recorder()
    written = []
    add = ExtractBuildingsUnet._add

    def add_then_cancel(self, sink, building):
        add(self, sink, building)
        written.append(building.id)
        feedback.cancel()

    monkeypatch.setattr(ExtractBuildingsUnet, "_add", add_then_cancel)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run({"INPUT": str(many), "OUTPUT": str(tmp_path / "out.gpkg"), "MIN_AREA": 0.5}, feedback)
    assert 1 <= len(written) <= 201  # the sink existed and got features, then the run stopped at the next check
    assert sorted(os.listdir(tmp_path)) == ["many.tif"]


def test_a_failed_run_does_not_spoil_the_next(provider, loads, raster, tmp_path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure inside GDAL")

    original = pipeline.polygonize_mask
    monkeypatch.setattr(pipeline, "polygonize_mask", broken)
    with pytest.raises(QgsProcessingException, match="simulated failure"):
        run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "a.gpkg")})
    monkeypatch.setattr(pipeline, "polygonize_mask", original)
    first = features(run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "b.gpkg")})["OUTPUT"])
    second = features(run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "c.gpkg")})["OUTPUT"])
    assert len(loads) == 3 and len(first) == len(second) == 1
    assert first[0].geometry().equals(second[0].geometry())
    assert not (tmp_path / "a.gpkg").exists()
