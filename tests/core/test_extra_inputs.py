"""Extra model inputs: a height channel that alone carries the buildings (synthetic, trained for real), the
errors naming what a model expects, indices, and the plumbing on the real Alexandria lidar (reading, aligning
across CRSs and resolutions, nodata)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from building_extractor.core.errors import BuildingExtractorError
from tests.synthetic import write_raster

torch = pytest.importorskip("torch")

CRS = "EPSG:32640"
TRANSFORM = Affine(1.0, 0, 400000, 0, -1.0, 2800000)
SIZE = 160
BLOCKS = [(r, c) for r in (20, 70, 120) for c in (20, 70, 120)]  # 9 buildings of 24 x 20 m


def flat_image(seed: int = 0) -> np.ndarray:
    """RGB noise with no trace of the buildings: only the height model shows them."""
    rng = np.random.default_rng(seed)
    return rng.integers(90, 160, (3, SIZE, SIZE)).astype(np.uint8)


def heights(buildings: bool = True) -> np.ndarray:
    """An nDSM on a 2 m grid (coarser than the 1 m image): ground 0 m, buildings 9 m."""
    ndsm = np.zeros((SIZE // 2, SIZE // 2), np.float32)
    if buildings:
        for r, c in BLOCKS:
            ndsm[r // 2:(r + 20) // 2, c // 2:(c + 24) // 2] = 9.0
    return ndsm


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("extra_inputs")
    coarse = Affine(2.0, 0, TRANSFORM.c, 0, -2.0, TRANSFORM.f)
    footprints = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": CRS}}, "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[
            (TRANSFORM.c + c, TRANSFORM.f - r), (TRANSFORM.c + c + 24, TRANSFORM.f - r),
            (TRANSFORM.c + c + 24, TRANSFORM.f - r - 20), (TRANSFORM.c + c, TRANSFORM.f - r - 20),
            (TRANSFORM.c + c, TRANSFORM.f - r)]]}} for r, c in BLOCKS]}
    (folder / "buildings.geojson").write_text(json.dumps(footprints))
    return {"image": str(write_raster(folder / "image.tif", flat_image(), CRS, TRANSFORM)),
            "other_image": str(write_raster(folder / "other.tif", flat_image(seed=5), CRS, TRANSFORM)),
            "ndsm": str(write_raster(folder / "ndsm.tif", heights()[None], CRS, coarse, nodata=-9999)),
            "flat": str(write_raster(folder / "flat.tif", heights(False)[None], CRS, coarse, nodata=-9999)),
            "footprints": str(folder / "buildings.geojson"), "folder": str(folder)}


@pytest.fixture(scope="module")
def height_model(scene) -> str:
    from building_extractor.core.train.trainers import make_trainer
    from building_extractor.core.train.training import TrainingOptions, TrainingSource

    options = TrainingOptions(gsd_m=1.0, chip_size=64, block_size=64, batch_size=4, epochs=8, steps_per_epoch=8,
                              learning_rate=1e-2, pretrained=False, decoder_channels=[16, 16, 16, 16, 16],
                              threads=1, device="cpu", augment=False, chip_pool=24, val_fraction=0.2,
                              extra_inputs=[{"kind": "raster", "name": "height", "scale": 20.0}])
    source = TrainingSource(scene["image"], scene["footprints"], extra_rasters={"height": scene["ndsm"]})
    return make_trainer([source], options, str(Path(scene["folder"]) / "height.safetensors")).run()


def extract(model: str, image: str, rasters: dict[str, str] | None) -> list:
    from building_extractor.core.extract.pipeline import ExtractionOptions, extract_buildings

    options = ExtractionOptions(model, device="cpu", tile_size=64, overlap=16, extra_rasters=rasters)
    return list(extract_buildings(image, options))


def test_a_model_that_needs_heights_finds_buildings_only_with_them(height_model, scene) -> None:
    from building_extractor.core.models.model_file import read_config

    config = read_config(height_model)
    assert config.extra_inputs == [{"kind": "raster", "name": "height", "scale": 20.0}]
    assert config.channel_count == 4 and len(config.mean) == 4
    # Another image of noise: the buildings can only come from the height model.
    found = extract(height_model, scene["other_image"], {"height": scene["ndsm"]})
    assert len(found) == len(BLOCKS)
    assert all(380 < b.area_m2 < 580 for b in found)
    assert extract(height_model, scene["other_image"], {"height": scene["flat"]}) == []
    # DSM - DTM: the same heights as a difference of two rasters.
    assert len(extract(height_model, scene["other_image"], {"dsm": scene["ndsm"], "dtm": scene["flat"]})) == 9


def test_missing_or_foreign_inputs_say_what_the_model_expects(height_model, scene) -> None:
    from building_extractor.core.models.model_file import shipped_model_path

    with pytest.raises(BuildingExtractorError, match="expects a height raster"):
        extract(height_model, scene["image"], None)
    with pytest.raises(BuildingExtractorError, match="takes the image alone"):
        extract(shipped_model_path(), scene["image"], {"height": scene["ndsm"]})
    far = write_raster(Path(scene["folder"]) / "far.tif", heights()[None], CRS,
                       Affine(2.0, 0, 900000, 0, -2.0, 100000), nodata=-9999)
    with pytest.raises(BuildingExtractorError, match="does not overlap the image"):
        extract(height_model, scene["image"], {"height": str(far)})


def test_indices_from_the_image_bands() -> None:
    from building_extractor.core.io.extra_inputs import InputStack, check_extra_inputs

    class Bands:  # a reader of one 1 x 2 window: a vegetated and a bare pixel
        grid = None

        def read(self, row, col, height, width):
            data = np.array([[[20, 120]], [[60, 110]], [[30, 100]], [[180, 130]]], np.float32)  # R, G, B, NIR
            return data, np.ones((1, 2), bool)

    stack = InputStack(Bands(), [{"kind": "index", "name": "ndvi"}, {"kind": "index", "name": "shadow"}],
                       ["red", "green", "blue", "nir"], None)
    data, _ = stack.read(0, 0, 1, 2)
    assert data.shape == (6, 1, 2)
    ndvi = data[4] / 127.5 - 1
    assert ndvi[0, 0] == pytest.approx((180 - 20) / 200) and ndvi[0, 1] == pytest.approx(10 / 250)
    assert data[5, 0, 0] > data[5, 0, 1]  # the darker pixel is more shadow-like
    assert check_extra_inputs([{"kind": "index", "name": "ndvi"}], ["red", "green", "blue"]) == [
        "index ndvi needs the bands nir in bands ['red', 'green', 'blue']"]


def test_real_lidar_aligned_on_another_crs_and_resolution(shared_data, tmp_path) -> None:
    """An image in Web Mercator over Alexandria is processed on a 1 m UTM grid; the 2 m nDSM (NAD83 / UTM 18N)
    is warped onto it: heights inside the footprints match building_heights read from the nDSM itself, the
    nodata border and the area beyond the lidar come back invalid."""
    import fiona
    from rasterio.features import geometry_mask
    from shapely.geometry import shape

    from building_extractor.core.io.extra_inputs import InputStack
    from building_extractor.core.io.raster_source import RasterSource
    from building_extractor.core.vector.heights import building_heights

    folder = shared_data / "alexandria"
    # Web Mercator metres are ~1.28 ground metres here; this image reaches ~60 m past the lidar's east edge.
    mercator = Affine(1.0, 0, -8577800.0, 0, -1.0, 4694880.0)
    image = write_raster(tmp_path / "image.tif", flat_image()[:, :1, :1].repeat(700, 1).repeat(800, 2), "EPSG:3857",
                         mercator)
    with RasterSource(str(image), 1.0) as source, \
            InputStack(source, [{"kind": "raster", "name": "height", "scale": 50.0}], ["red", "green", "blue"],
                       {"height": str(folder / "ndsm.tif")}) as stack:
        grid = stack.grid
        data, valid = stack.read(0, 0, grid.height, grid.width)
        _, covered = stack.aligned["height"][0].read(0, 0, grid.height, grid.width)
    assert "UTM zone 18N" in grid.crs_wkt and grid.gsd_m == 1.0
    height = data[3] / 255.0 * 50.0
    assert 0.2 < covered.mean() < 0.95  # the lidar covers part of the image: beyond it heights are unknown
    assert not valid[~covered].any() and np.all(height[~covered] == 0) and height[valid].max() > 20
    with fiona.open(folder / "buildings.geojson") as features:
        polygons = [shape(f["geometry"]) for f in features][:20]
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping

    expected = building_heights(polygons, str(folder / "ndsm.tif"))
    pairs = []
    for polygon, stats in zip(polygons, expected):
        on_grid = shape(transform_geom("EPSG:26918", grid.crs_wkt, mapping(polygon)))
        inside = ~geometry_mask([on_grid], (grid.height, grid.width), grid.transform) & valid
        if stats.pixel_count >= 10 and inside.sum() >= 40:
            pairs.append((float(np.median(height[inside])), stats.height_median))
    aligned, native = np.array(pairs).T
    assert len(pairs) >= 10
    # Bilinear on a 1 m grid against pixel centres on the 2 m grid: edges differ, the buildings agree.
    assert np.median(np.abs(aligned - native)) < 0.6 and np.corrcoef(aligned, native)[0, 1] > 0.95


def test_onnxruntime_reads_extra_inputs_as_torch_does(scene, tmp_path) -> None:
    """A model of an RGBN image with NDVI and a height model as extra inputs (trained on the scene whose heights
    alone show the buildings), exported to ONNX: the onnxruntime backend finds the same buildings with the same
    probabilities as the torch backend on the safetensors file (fp16 weights in both), so the ONNX file carries
    the bands and extra inputs in their order, and extraction feeds them in that order."""
    import rasterio
    from osgeo import gdal
    from shapely import wkb

    from building_extractor.core.extract.pipeline import ExtractionOptions, ExtractionRun, extract_buildings
    from building_extractor.core.models.export import export_model_file
    from building_extractor.core.models.model_file import read_config
    from building_extractor.core.train.trainers import make_trainer
    from building_extractor.core.train.training import TrainingOptions, TrainingSource

    rgbn = {}
    for name, seed in (("train", 0), ("other", 5)):  # RGBN: the 4th band not alpha (rasterio's default)
        rgbn[name] = str(tmp_path / f"{name}.tif")
        with rasterio.open(rgbn[name], "w", driver="GTiff", width=SIZE, height=SIZE, count=4, dtype="uint8", crs=CRS,
                           transform=TRANSFORM, photometric="MINISBLACK") as dst:
            dst.write(np.concatenate([flat_image(seed), flat_image(seed + 1)[:1]]))
    inputs = [{"kind": "index", "name": "ndvi"}, {"kind": "raster", "name": "height", "scale": 20.0}]
    options = TrainingOptions(gsd_m=1.0, chip_size=64, block_size=64, batch_size=4, epochs=8, steps_per_epoch=8,
                              learning_rate=1e-2, pretrained=False, decoder_channels=[16, 16, 16, 16, 16],
                              threads=1, device="cpu", augment=False, chip_pool=24, val_fraction=0.2,
                              bands=["red", "green", "blue", "nir"], extra_inputs=inputs)
    source = TrainingSource(rgbn["train"], scene["footprints"], extra_rasters={"height": scene["ndsm"]})
    model = make_trainer([source], options, str(tmp_path / "rgbn.safetensors")).run()
    onnx = export_model_file(model, tmp_path / "exported.onnx")
    assert read_config(onnx).extra_inputs == inputs and read_config(onnx).bands == ["red", "green", "blue", "nir"]

    found, probabilities = {}, {}
    for backend, path in (("torch", model), ("onnxruntime", onnx)):
        run = ExtractionRun(read_config(model))
        probability = str(tmp_path / f"{backend}.tif")
        extraction = ExtractionOptions(path, device="cpu", backend=backend, tile_size=64, overlap=16,
                                       extra_rasters={"height": scene["ndsm"]}, probability_path=probability)
        found[backend] = list(extract_buildings(rgbn["other"], extraction, run=run))
        assert run.backend == backend
        dataset = gdal.Open(probability)
        probabilities[backend] = dataset.ReadAsArray().astype(int)
        dataset = None
    assert len(found["torch"]) == len(BLOCKS)  # the model learnt the buildings (from the heights)
    assert np.abs(probabilities["onnxruntime"] - probabilities["torch"]).max() <= 2  # of 255
    assert len(found["onnxruntime"]) == len(found["torch"])
    for a, b in zip(found["onnxruntime"], found["torch"]):  # the same outlines, to a pixel near the threshold
        assert wkb.loads(a.wkb).symmetric_difference(wkb.loads(b.wkb)).area <= 2.0
