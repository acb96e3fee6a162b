"""Every bad input to the extraction core gets a clear BuildingExtractorError, a warning, or a sane result.

Rasters are small synthetic GeoTIFFs and the network is the 'bright roof' stand-in (tests/synthetic.py), except
where the model file itself is under test.
"""

from __future__ import annotations

import errno
import os
import pickle
import threading

import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely import wkb
from shapely.geometry import Polygon, box

from building_extractor.core.errors import (
    BuildingExtractorError,
    Cancelled,
    DeviceError,
    InputRasterError,
    ModelFileError,
    OutputError,
)
from building_extractor.core.extract import pipeline
from building_extractor.core.extract.pipeline import ExtractionOptions, ExtractionRun, extract_buildings
from building_extractor.core.extract.stitching import ProbabilityWriter
from building_extractor.core.models.config import CONFIG_KEY, ModelConfig
from building_extractor.core.models.model_file import save_model_file
from building_extractor.core.progress import SilentProgress
from building_extractor.core.vector.vectorize import PostProcessOptions
from tests.synthetic import BrightRoofNet, scene_with_roofs, use_bright_roof_model, write_raster

torch = pytest.importorskip("torch")

UTM = "EPSG:32636"
UTM_T = Affine(0.3, 0, 500000, 0, -0.3, 100000)
ROOF = (20, 20, 30, 30)  # 30×30 px at 0.3 m: 81 m²


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def model(monkeypatch, tmp_path) -> str:
    return use_bright_roof_model(monkeypatch, tmp_path)


def run(path, model_path: str, workdir=None, progress=None, **kwargs):
    """Buildings and the run record; ``workdir`` (if given) must be empty afterwards."""
    options = ExtractionOptions(model_path, post=PostProcessOptions(min_area_m2=1.0, simplify_m=0.0,
                                                                    fill_holes_m2=1.0),
                                workdir=str(workdir) if workdir else None, **kwargs)
    info = ExtractionRun(None)
    progress = progress or SilentProgress()
    try:
        return list(extract_buildings(str(path), options, progress, info)), info, progress
    finally:
        if workdir:
            assert os.listdir(workdir) == [], "temporary files were left behind"


def utm_roofs(tmp_path, name="roofs.tif", roofs=(ROOF,), size=(100, 100), **kwargs):
    return write_raster(tmp_path / name, scene_with_roofs(*size, list(roofs)), UTM, UTM_T, **kwargs)


def polygons(buildings):
    return [wkb.loads(b.wkb) for b in buildings]


# Raster ---------------------------------------------------------------------------------------------------------

def test_missing_garbage_and_truncated_rasters_are_input_errors(tmp_path, model) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(InputRasterError, match="does not exist"):
        run(tmp_path / "nowhere.tif", model, workdir)
    garbage = tmp_path / "garbage.tif"
    garbage.write_bytes(b"definitely not a GeoTIFF" * 50)
    with pytest.raises(InputRasterError, match="GDAL cannot read raster"):
        run(garbage, model, workdir)
    good = utm_roofs(tmp_path, size=(200, 200)).read_bytes()
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(good[: len(good) // 2])  # header intact, pixel strips cut off
    with pytest.raises(InputRasterError, match="damaged or incomplete"):
        run(truncated, model, workdir, gsd_m=0)


def test_raster_without_crs_runs_in_pixel_units_and_says_so(tmp_path, model) -> None:
    path = write_raster(tmp_path / "nocrs.tif", scene_with_roofs(100, 100, [ROOF]), None, UTM_T)
    buildings, info, progress = run(path, model)
    assert len(buildings) == 1 and buildings[0].area_m2 == pytest.approx(81, rel=0.02)
    assert any("no CRS" in w and "pixel units" in w for w in progress.warnings)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_image_without_any_georeferencing_comes_out_in_pixel_coordinates(tmp_path, model) -> None:
    """A plain image (identity geotransform, y growing downwards) runs at its own resolution, not upsampled."""
    path = write_raster(tmp_path / "photo.tif", scene_with_roofs(100, 120, [ROOF]), None, Affine.identity())
    buildings, info, progress = run(path, model)  # the model's 0.3 m GSD would upsample 3.3-fold
    assert info.grid_size == (120, 100)
    assert len(buildings) == 1 and buildings[0].area_m2 == pytest.approx(900, rel=0.02)  # square pixels
    assert polygons(buildings)[0].bounds == pytest.approx((20, 20, 50, 50), abs=0.6)  # x = column, y = row
    assert any("no georeferencing" in w for w in progress.warnings)


@pytest.mark.parametrize("crs", [UTM, None])
def test_rotated_geotransform_is_warped_north_up(tmp_path, model, crs) -> None:
    transform = UTM_T * Affine.rotation(20)
    path = write_raster(tmp_path / "rotated.tif", scene_with_roofs(100, 100, [ROOF]), crs, transform)
    buildings, info, progress = run(path, model, gsd_m=0)
    assert len(buildings) == 1 and buildings[0].area_m2 == pytest.approx(81, rel=0.05)
    roof = Polygon([transform * (c, r) for c, r in ((20, 20), (50, 20), (50, 50), (20, 50))])
    assert polygons(buildings)[0].symmetric_difference(roof).area < 0.1 * roof.area
    footprint = Polygon([transform * xy for xy in ((0, 0), (100, 0), (100, 100), (0, 100))])
    assert footprint.buffer(0.01).contains(polygons(buildings)[0])
    assert any("rotated" in w for w in progress.warnings)


def test_flipped_geotransform_is_warped_north_up(tmp_path, model) -> None:
    flipped = Affine(0.3, 0, 500000, 0, 0.3, 100000)  # rows go north
    path = write_raster(tmp_path / "flipped.tif", scene_with_roofs(100, 100, [ROOF]), UTM, flipped)
    buildings, _, _ = run(path, model, gsd_m=0)
    assert len(buildings) == 1
    assert polygons(buildings)[0].bounds == pytest.approx((500006, 100006, 500015, 100015), abs=0.2)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_rasters_georeferenced_by_gcps_only_are_refused(tmp_path, model) -> None:
    from rasterio.control import GroundControlPoint

    path = tmp_path / "gcps.tif"
    data = scene_with_roofs(50, 50, [])
    with rasterio.open(path, "w", driver="GTiff", width=50, height=50, count=3, dtype="uint8") as dst:
        dst.write(data)
        dst.gcps = ([GroundControlPoint(0, 0, 500000, 100000), GroundControlPoint(50, 0, 500015, 100000),
                     GroundControlPoint(0, 50, 500000, 99985)], rasterio.crs.CRS.from_string(UTM))
    with pytest.raises(InputRasterError, match="ground control points"):
        run(path, model)


def test_wrong_crs_and_absurd_upsampling_are_refused(tmp_path, model) -> None:
    metres_as_degrees = write_raster(tmp_path / "wrongcrs.tif", scene_with_roofs(50, 50, []), "EPSG:4326", UTM_T)
    with pytest.raises(InputRasterError, match="CRS is wrong"):
        run(metres_as_degrees, model)
    coarse = write_raster(tmp_path / "coarse.tif", scene_with_roofs(50, 50, []), UTM,
                          Affine(10, 0, 500000, 0, -10, 100000))  # 10 m pixels, model at 0.3 m
    with pytest.raises(InputRasterError, match="RESOLUTION to 0"):
        run(coarse, model)
    buildings, _, _ = run(coarse, model, gsd_m=0)  # what the message suggests works
    assert buildings == []


def test_one_and_two_band_rasters_need_bands_and_say_how(tmp_path, model) -> None:
    grey = scene_with_roofs(100, 100, [ROOF])[:1]
    path = write_raster(tmp_path / "grey.tif", grey, UTM, UTM_T)
    with pytest.raises(InputRasterError, match="BANDS to 1,1,1"):
        run(path, model, gsd_m=0)
    buildings, _, _ = run(path, model, gsd_m=0, bands=[1, 1, 1])
    assert len(buildings) == 1
    grey_alpha = tmp_path / "grey_alpha.tif"
    with rasterio.open(grey_alpha, "w", driver="GTiff", width=100, height=100, count=2, dtype="uint8", crs=UTM,
                       transform=UTM_T, alpha="YES") as dst:
        dst.write(np.concatenate([grey, np.full_like(grey, 255)]))
    with pytest.raises(InputRasterError, match="1 data band"):
        run(grey_alpha, model, gsd_m=0)
    with pytest.raises(InputRasterError, match="BANDS lists 2"):
        run(path, model, gsd_m=0, bands=[1, 1])
    with pytest.raises(InputRasterError, match="Pick bands 1-1"):
        run(path, model, gsd_m=0, bands=[1, 2, 3])


def write_rgba(path, rgb: np.ndarray, alpha: np.ndarray, crs: str, transform: Affine):
    with rasterio.open(path, "w", driver="GTiff", width=rgb.shape[2], height=rgb.shape[1], count=4, dtype="uint8",
                       crs=crs, transform=transform, photometric="RGB", alpha="YES") as dst:
        dst.write(np.concatenate([rgb, alpha[None]]))
    return path


@pytest.mark.parametrize("crs,transform,gsd", [
    (UTM, UTM_T, 0),  # read as it is
    ("EPSG:4326", Affine(2.7e-6, 0, 33.0, 0, -2.7e-6, 0.5), None),  # warped into UTM
])
def test_rgba_alpha_is_a_mask_not_data(tmp_path, model, crs, transform, gsd) -> None:
    rgb = scene_with_roofs(120, 120, [(10, 10, 30, 30), (80, 80, 30, 30)])
    alpha = np.full((120, 120), 255, np.uint8)
    alpha[60:, 60:] = 0  # the second roof is transparent
    path = write_rgba(tmp_path / "rgba.tif", rgb, alpha, crs, transform)
    buildings, _, _ = run(path, model, gsd_m=gsd)
    assert len(buildings) == 1
    if crs == UTM:
        assert polygons(buildings)[0].bounds == pytest.approx((500003, 99988, 500012, 99997), abs=0.2)


def test_rgbn_bands_are_chosen_by_colour_interpretation(tmp_path, model) -> None:
    """N, R, G, B order: the NIR-only 'roof' is ignored, the RGB roof found; without labels a warning says which."""
    from rasterio.enums import ColorInterp

    rgb = scene_with_roofs(100, 100, [ROOF])
    nir = np.full((1, 100, 100), 40, np.uint8)
    nir[:, 60:90, 60:90] = 250
    data = np.concatenate([nir, rgb])
    path = tmp_path / "nrgb.tif"
    with rasterio.open(path, "w", driver="GTiff", width=100, height=100, count=4, dtype="uint8", crs=UTM,
                       transform=UTM_T, photometric="MINISBLACK") as dst:
        dst.write(data)
        dst.colorinterp = [ColorInterp.undefined, ColorInterp.red, ColorInterp.green, ColorInterp.blue]
    buildings, _, progress = run(path, model, gsd_m=0)
    assert len(buildings) == 1 and polygons(buildings)[0].bounds[0] < 500000 + 0.3 * 55
    assert not progress.warnings
    unlabelled = write_raster(tmp_path / "unlabelled.tif", np.concatenate([rgb, nir, nir]), UTM, UTM_T)
    buildings, _, progress = run(unlabelled, model, gsd_m=0)
    assert len(buildings) == 1
    assert any("bands 1, 2, 3 are used" in w for w in progress.warnings)


@pytest.mark.parametrize("dtype,scale,offset", [("uint16", 40, 0), ("int16", 30, -3000), ("float32", 1 / 255, 0)])
def test_16_bit_and_float_rasters_are_stretched_and_say_so(tmp_path, model, dtype, scale, offset) -> None:
    rgb = scene_with_roofs(100, 100, [ROOF, (60, 60, 20, 20)]).astype(np.float64) * scale + offset
    data = rgb.astype(dtype)
    nodata = None
    if dtype == "float32":
        data[:, 80:, :] = np.nan  # NaN without a nodata value: treated as invalid, not as data
    else:
        nodata = np.iinfo(dtype).max
        data[:, 90:, :] = nodata
    path = write_raster(tmp_path / f"{dtype}.tif", data, UTM, UTM_T, nodata=nodata)
    buildings, _, progress = run(path, model, gsd_m=0)
    assert sorted(round(b.area_m2) for b in buildings) == [36, 81]
    stretch = [w for w in progress.warnings if "stretched" in w]
    assert len(stretch) == 1 and dtype in stretch[0] and "nan" not in stretch[0]


@pytest.mark.parametrize("dtype,nodata", [("uint8", 0), ("uint16", 0), ("float32", None)])
def test_all_nodata_raster_gives_no_buildings_and_a_warning(tmp_path, model, dtype, nodata) -> None:
    data = np.zeros((3, 80, 80), dtype) if nodata is not None else np.full((3, 80, 80), np.nan, dtype)
    path = write_raster(tmp_path / "empty.tif", data, UTM, UTM_T, nodata=nodata)
    workdir = tmp_path / "work"
    workdir.mkdir()
    buildings, _, progress = run(path, model, workdir, gsd_m=0)
    assert buildings == []
    assert any("no valid pixels" in w for w in progress.warnings)
    assert not any("stretched" in w for w in progress.warnings)


# Model ----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """A real (untrained) U-Net model file, as small as the format allows."""
    from building_extractor.core.models.builders import build_model

    torch.manual_seed(0)
    config = ModelConfig(decoder_channels=[16, 8, 8, 8, 8], tile_size=64, overlap=16, name="tiny")
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_model_file(path, config, build_model(config).state_dict())
    return str(path)


def test_missing_empty_truncated_and_corrupt_model_files(tmp_path, tiny_model) -> None:
    raster = utm_roofs(tmp_path)
    with pytest.raises(ModelFileError, match="does not exist"):
        run(raster, str(tmp_path / "none.safetensors"))
    with pytest.raises(ModelFileError, match="is a folder"):
        run(raster, str(tmp_path))
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty or truncated"):
        run(raster, str(empty))
    content = open(tiny_model, "rb").read()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(content[: len(content) // 2])
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        run(raster, str(cut))
    noise = tmp_path / "noise.safetensors"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="not a valid safetensors file"):
        run(raster, str(noise))


@pytest.mark.parametrize("kind", ["zip", "legacy", "plain"])
def test_pickle_checkpoints_are_refused_before_anything_else(tmp_path, monkeypatch, kind) -> None:
    """Neither torch.load nor pickle ever runs, and the refusal comes before the raster is even looked at."""
    path = tmp_path / "model.safetensors"
    if kind == "plain":
        path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=2))
    else:
        torch.save({"weight": torch.zeros(3)}, path, _use_new_zipfile_serialization=kind == "zip")

    def forbidden(*args, **kwargs):
        raise AssertionError("a pickle was opened")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    with pytest.raises(ModelFileError, match="pickle checkpoint.*refuses them"):
        run(tmp_path / "raster-that-does-not-exist.tif", str(path))


def test_model_files_for_another_architecture_or_tool_are_refused(tmp_path) -> None:
    from safetensors.torch import save_file

    raster = utm_roofs(tmp_path)
    maskrcnn = tmp_path / "maskrcnn.safetensors"
    save_model_file(maskrcnn, ModelConfig(architecture="maskrcnn"), {"w": torch.zeros(2)})
    with pytest.raises(ModelFileError, match="holds a maskrcnn model.*extract_buildings_maskrcnn"):
        run(raster, str(maskrcnn))
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ModelFileError, match="without a building_extractor description"):
        run(raster, str(foreign))
    broken = tmp_path / "broken.safetensors"
    save_file({"w": torch.zeros(2)}, str(broken), metadata={CONFIG_KEY: "{not json"})
    with pytest.raises(ModelFileError, match="not valid JSON"):
        run(raster, str(broken))
    inconsistent = tmp_path / "inconsistent.safetensors"
    save_model_file(inconsistent, ModelConfig(mean=[0.5]), {"w": torch.zeros(2)})
    with pytest.raises(ModelFileError, match="mean has 1 values for 3 (band|input channel)"):
        run(raster, str(inconsistent))


def test_weights_that_do_not_fit_the_described_network_are_refused(tmp_path, tiny_model) -> None:
    from safetensors.torch import load_file

    config = ModelConfig(decoder_channels=[32, 16, 8, 8, 8], tile_size=64, overlap=16)  # not the stored shape
    path = tmp_path / "mismatch.safetensors"
    save_model_file(path, config, load_file(tiny_model))
    with pytest.raises(ModelFileError, match="do not fit the network"):
        run(utm_roofs(tmp_path), str(path))


def test_model_expecting_other_bands_than_given(tmp_path, monkeypatch) -> None:
    config = ModelConfig(bands=["red", "green", "blue", "nir"], mean=[0.5] * 4, std=[0.5] * 4, tile_size=64,
                         overlap=16, threshold=0.75)
    monkeypatch.setattr(pipeline, "load_cached_model", lambda path, *_: (config, BrightRoofNet.build()))
    with pytest.raises(InputRasterError, match=r"expects 4 bands \(red, green, blue, nir\).*3 data band"):
        run(utm_roofs(tmp_path), "rgbn.safetensors")


def test_runs_never_share_a_model_object(tiny_model) -> None:
    """The cached model is copied per run: changing one run's weights or config leaves the next run's alone."""
    pipeline._MODEL_CACHE.clear()
    config, model = pipeline.load_cached_model(tiny_model)
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    config.bands.append("nir")
    config.threshold = 0.01
    config2, model2 = pipeline.load_cached_model(tiny_model)
    assert model2 is not model and config2.bands == ["red", "green", "blue"] and config2.threshold == 0.5
    assert all(torch.equal(v, reference[k]) for k, v in model2.state_dict().items())


def test_real_model_file_runs_end_to_end(tmp_path, tiny_model) -> None:
    pipeline._MODEL_CACHE.clear()
    workdir = tmp_path / "work"
    workdir.mkdir()
    buildings, info, _ = run(utm_roofs(tmp_path, size=(70, 90)), tiny_model, workdir, gsd_m=0, threshold=0.5)
    assert info.config.name == "tiny" and info.grid_size == (90, 70)
    assert all(p.is_valid for p in polygons(buildings))


# Device ---------------------------------------------------------------------------------------------------------

def test_cuda_without_gpu_names_what_torch_sees(tmp_path, model) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match=r"DEVICE=cuda.*sees no CUDA GPU.*DEVICE=auto or cpu"):
        run(utm_roofs(tmp_path), model, device="cuda")
    with pytest.raises(DeviceError, match="Unknown DEVICE 'tpu'"):
        run(utm_roofs(tmp_path), model, device="tpu")


class OutOfMemoryAbove(torch.nn.Module):
    """The bright-roof net, raising CUDA out-of-memory for batches larger than ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.net, self.limit, self.batches = BrightRoofNet.build(), limit, []

    def forward(self, x):
        self.batches.append(len(x))
        if len(x) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


def test_gpu_out_of_memory_halves_the_batch_then_says_so(tmp_path, monkeypatch) -> None:
    config = ModelConfig(tile_size=32, overlap=0, threshold=0.75)
    net = OutOfMemoryAbove(limit=1)
    monkeypatch.setattr(pipeline, "load_cached_model", lambda path, architecture="unet": (config, net))
    raster = utm_roofs(tmp_path, size=(64, 96))  # 6 tiles of 32 px
    buildings, _, progress = run(raster, "m", gsd_m=0, batch_size=4)
    assert len(buildings) == 1 and buildings[0].area_m2 == pytest.approx(81, rel=0.02)
    assert net.batches == [4, 2] + [1] * 6  # the working batch size is kept for the rest of the run
    oom = [w for w in progress.warnings if "out of memory" in w]
    assert len(oom) == 2 and "batch 4; continuing with batches of 2" in oom[0]

    net = OutOfMemoryAbove(limit=0)  # even one tile is too much
    monkeypatch.setattr(pipeline, "load_cached_model", lambda path, architecture="unet": (config, net))
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(DeviceError, match="even with one tile per batch.*TILE_SIZE"):
        run(raster, "m", workdir, gsd_m=0, batch_size=2)


# Output ---------------------------------------------------------------------------------------------------------

def test_disk_full_on_the_temporary_accumulator(tmp_path, model, monkeypatch) -> None:
    def full(self, row, prob):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ProbabilityWriter, "write_rows", full)
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(OutputError, match="disk is full.*Free disk space"):
        run(utm_roofs(tmp_path), model, workdir, gsd_m=0)


def test_failing_temporary_polygonize_and_probability_export(tmp_path, model, monkeypatch) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(OutputError, match="Cannot write the probability raster"):
        run(utm_roofs(tmp_path), model, workdir, gsd_m=0, probability_path=str(tmp_path / "no" / "p.tif"))

    def broken(mask_path, gpkg_path, progress=None):
        raise RuntimeError("sqlite3_exec failed: database or disk is full")

    monkeypatch.setattr(pipeline, "polygonize_mask", broken)
    with pytest.raises(OutputError, match="temporary polygons.*disk is full"):
        run(utm_roofs(tmp_path), model, workdir, gsd_m=0)
    options = ExtractionOptions(model, workdir=str(tmp_path / "missing-folder"))
    with pytest.raises(OutputError, match="Cannot create a temporary folder.*does not exist"):
        list(extract_buildings(str(utm_roofs(tmp_path)), options))


# Cancel ---------------------------------------------------------------------------------------------------------

class CancelAtStage(SilentProgress):
    """Cancels once the pipeline has entered stage ``stage``; counts the checks made after that."""

    def __init__(self, stage: int) -> None:
        super().__init__()
        self.stage, self.current, self.checks_after = stage, -1, 0

    def set_stage(self, index: int, name: str) -> None:
        self.current = index

    def is_canceled(self) -> bool:
        if self.current >= self.stage:
            self.checks_after += 1
            return True
        return False


@pytest.mark.parametrize("stage", [0, 1, 2])  # read and infer, vectorize, post-process and write
def test_cancel_at_each_stage_stops_and_leaves_nothing(tmp_path, model, stage) -> None:
    raster = utm_roofs(tmp_path, size=(160, 160), roofs=[ROOF, (100, 100, 20, 20)])
    workdir = tmp_path / "work"
    workdir.mkdir()
    progress = CancelAtStage(stage)
    options = ExtractionOptions(model, gsd_m=0, batch_size=1, workdir=str(workdir),
                                probability_path=str(tmp_path / "prob.tif"))
    seen = []
    with pytest.raises(Cancelled):
        for building in extract_buildings(str(raster), options, progress):
            seen.append(building)
    assert seen == [] and progress.checks_after == 1  # stopped at the first check after the request
    assert os.listdir(workdir) == [] and not (tmp_path / "prob.tif").exists()
    assert not [t for t in threading.enumerate() if t.name == "building_extractor-reader"]


def test_closing_the_generator_midway_removes_temporary_files(tmp_path, model) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    raster = utm_roofs(tmp_path, roofs=[(5, 5, 20, 20), (60, 60, 20, 20)])
    buildings = extract_buildings(str(raster), ExtractionOptions(model, gsd_m=0, workdir=str(workdir)))
    next(buildings)
    assert os.listdir(workdir)
    buildings.close()
    assert os.listdir(workdir) == []


# Batch and parameters -------------------------------------------------------------------------------------------

def test_a_failing_run_does_not_spoil_the_next(tmp_path, monkeypatch) -> None:
    config = ModelConfig(tile_size=32, overlap=0, threshold=0.75)
    failing = OutOfMemoryAbove(limit=0)
    monkeypatch.setattr(pipeline, "load_cached_model", lambda path, architecture="unet": (config, failing))
    raster = utm_roofs(tmp_path)
    with pytest.raises(DeviceError):
        run(raster, "m", gsd_m=0, batch_size=1)
    # The reader thread was joined before the raster was closed (closing it under the thread crashes GDAL).
    assert not [t for t in threading.enumerate() if t.name == "building_extractor-reader"]
    monkeypatch.setattr(pipeline, "load_cached_model", lambda path, *_: (config, BrightRoofNet.build()))
    garbage = tmp_path / "garbage.tif"
    garbage.write_bytes(b"\0" * 100)
    with pytest.raises(InputRasterError):
        run(garbage, "m")
    buildings, _, _ = run(raster, "m", gsd_m=0)
    assert len(buildings) == 1


@pytest.mark.parametrize("options,message", [
    ({"tile_size": 100}, "TILE_SIZE must be a positive multiple of 32.*Use 128"),
    ({"tile_size": 16}, "TILE_SIZE must be a positive multiple of 32.*Use 32"),
    ({"overlap": -8}, "OVERLAP must be at least 0"),
    ({"overlap": 64}, r"OVERLAP must .* smaller than TILE_SIZE \(64 px\)"),
    ({"threshold": 1.0}, "THRESHOLD must lie between 0 and 1"),
    ({"batch_size": 0}, "BATCH_SIZE must be at least 1"),
    ({"gsd_m": -0.3}, "RESOLUTION must be 0"),
    ({"post": PostProcessOptions(min_area_m2=-1)}, "MIN_AREA must be 0 or more"),
    ({"post": PostProcessOptions(simplify_m=float("nan"))}, "SIMPLIFY must be 0 or more"),
])
def test_out_of_range_options_name_the_parameter(tmp_path, model, options, message) -> None:
    with pytest.raises(BuildingExtractorError, match=message):
        list(extract_buildings(str(tmp_path / "never-opened.tif"), ExtractionOptions(model, **options)))


def test_outputs_stay_inside_the_raster_footprint(tmp_path, model) -> None:
    """A roof cut by the raster edge is clipped to the footprint, also after warping from EPSG:4326."""
    data = scene_with_roofs(100, 100, [(70, 70, 30, 30)])
    transform = Affine(2.7e-6, 0, 33.0, 0, -2.7e-6, 0.5)
    path = write_raster(tmp_path / "edge.tif", data, "EPSG:4326", transform)
    buildings, _, _ = run(path, model)
    assert len(buildings) == 1
    extent = box(*rasterio.open(path).bounds)
    assert extent.buffer(1e-9).contains(polygons(buildings)[0])
