"""The extraction pipeline end to end on synthetic rasters with a stand-in model (fast, deterministic)."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely import wkb

from building_extractor.core.errors import Cancelled
from building_extractor.core.extract.pipeline import ExtractionOptions, ExtractionRun, extract_buildings
from building_extractor.core.progress import SilentProgress
from building_extractor.core.vector.vectorize import PostProcessOptions
from tests.synthetic import scene_with_roofs, use_bright_roof_model, write_raster

UTM = "EPSG:32636"


def run(path, model: str, **kwargs):
    options = ExtractionOptions(model, post=PostProcessOptions(min_area_m2=1.0, simplify_m=0.0, fill_holes_m2=1.0),
                                **kwargs)
    info = ExtractionRun(None)
    buildings = list(extract_buildings(str(path), options, SilentProgress(), info))
    return buildings, info


def test_building_straddling_tile_borders_comes_out_once(tmp_path, monkeypatch) -> None:
    model = use_bright_roof_model(monkeypatch, tmp_path, gsd_m=0.3, tile=64, overlap=16)
    # Tiles start every 48 px: a 30×40 px roof at (35, 30) crosses both a row and a column border.
    data = scene_with_roofs(150, 170, [(35, 30, 30, 40), (100, 120, 20, 20)])
    path = write_raster(tmp_path / "roofs.tif", data, UTM, Affine(0.3, 0, 500000, 0, -0.3, 100000))
    buildings, info = run(path, model, gsd_m=0)
    assert len(buildings) == 2
    areas = sorted(b.area_m2 for b in buildings)
    assert areas == pytest.approx([20 * 20 * 0.09, 30 * 40 * 0.09], rel=0.02)
    assert all(0.5 < b.confidence <= 1 and b.confidence <= b.max_probability <= 1 for b in buildings)
    assert info.grid_size == (170, 150)


def test_masked_area_yields_no_buildings_and_does_not_leak(tmp_path, monkeypatch) -> None:
    model = use_bright_roof_model(monkeypatch, tmp_path)
    data = scene_with_roofs(120, 120, [(10, 10, 20, 20), (70, 70, 30, 30)])
    mask = np.ones((120, 120), bool)
    mask[60:, 60:] = False  # the second roof lies in the masked (unflown) part
    path = write_raster(tmp_path / "masked.tif", data, UTM, Affine(0.3, 0, 500000, 0, -0.3, 100000), mask=mask)
    buildings, _ = run(path, model, gsd_m=0)
    assert len(buildings) == 1
    x0, y0, x1, y1 = wkb.loads(buildings[0].wkb).bounds
    assert x1 < 500000 + 0.3 * 60 and y0 > 100000 - 0.3 * 60


def test_nodata_value_is_never_a_building(tmp_path, monkeypatch) -> None:
    model = use_bright_roof_model(monkeypatch, tmp_path)
    data = scene_with_roofs(80, 80, [])
    data[:, :40, :] = 255  # bright but nodata
    path = write_raster(tmp_path / "nodata.tif", data, UTM, Affine(0.3, 0, 500000, 0, -0.3, 100000), nodata=255)
    buildings, _ = run(path, model, gsd_m=0)
    assert buildings == []


def test_geographic_input_gets_true_metre_areas(tmp_path, monkeypatch) -> None:
    """A roof in EPSG:4326 (Banepa-like latitude) measures the same as computed in a projected CRS."""
    from osgeo import ogr, osr

    model = use_bright_roof_model(monkeypatch, tmp_path, gsd_m=0.3)
    deg_x, deg_y = 1.341e-6 * 2, 1.188e-6 * 2  # ~0.26 m pixels at 27.6° N
    data = scene_with_roofs(200, 200, [(60, 50, 60, 80)])
    path = write_raster(tmp_path / "geo.tif", data, "EPSG:4326", Affine(deg_x, 0, 85.52, 0, -deg_y, 27.63))
    buildings, info = run(path, model)  # resampled to 0.3 m in a UTM zone
    assert len(buildings) == 1
    polygon = ogr.CreateGeometryFromWkb(buildings[0].wkb)
    wgs84, utm45 = osr.SpatialReference(), osr.SpatialReference()
    wgs84.ImportFromEPSG(4326), utm45.ImportFromEPSG(32645)
    for srs in (wgs84, utm45):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    assert -180 < polygon.GetEnvelope()[0] < 180  # output geometry is in the input's CRS (degrees)
    polygon.Transform(osr.CoordinateTransformation(wgs84, utm45))
    assert buildings[0].area_m2 == pytest.approx(polygon.GetArea(), rel=0.01)
    expected = (60 * deg_y * 110_800) * (80 * deg_x * 111_320 * np.cos(np.radians(27.63)))
    assert buildings[0].area_m2 == pytest.approx(expected, rel=0.06)
    assert info.gsd_m == 0.3


def test_raster_smaller_than_a_tile_and_probability_output(tmp_path, monkeypatch) -> None:
    model = use_bright_roof_model(monkeypatch, tmp_path, tile=64)
    data = scene_with_roofs(30, 20, [(5, 5, 12, 8)])
    path = write_raster(tmp_path / "small.tif", data, UTM, Affine(0.3, 0, 500000, 0, -0.3, 100000))
    prob_path = tmp_path / "prob.tif"
    buildings, _ = run(path, model, gsd_m=0, probability_path=str(prob_path))
    assert len(buildings) == 1
    with rasterio.open(prob_path) as src:
        assert (src.width, src.height, src.dtypes[0]) == (20, 30, "uint8")
        assert src.profile.get("tiled") and src.compression is not None
        prob = src.read(1)
    assert prob[10, 8] > 200 and prob[25, 2] < 128


def test_cancel_stops_and_removes_temporary_files(tmp_path, monkeypatch) -> None:
    model = use_bright_roof_model(monkeypatch, tmp_path, tile=32, overlap=0)
    data = scene_with_roofs(256, 256, [(10, 10, 20, 20)])
    path = write_raster(tmp_path / "big.tif", data, UTM, Affine(0.3, 0, 500000, 0, -0.3, 100000))

    class CancelAfter(SilentProgress):
        calls = 0

        def is_canceled(self) -> bool:
            self.calls += 1
            return self.calls > 3

    workdir = tempfile.mkdtemp(dir=tmp_path)
    options = ExtractionOptions(model, gsd_m=0, batch_size=1, workdir=workdir)
    progress = CancelAfter()
    with pytest.raises(Cancelled):
        list(extract_buildings(str(path), options, progress))
    assert progress.calls <= 5  # stopped within a batch or two of the request
    assert os.listdir(workdir) == []


def test_regularize_option_gives_right_angled_footprints(tmp_path, monkeypatch) -> None:
    """REGULARIZE=right_angles turns a pixel blob of a rotated roof into a 4-corner rectangle."""
    from PIL import Image, ImageDraw

    model = use_bright_roof_model(monkeypatch, tmp_path)
    canvas = Image.new("L", (120, 120), 40)
    ImageDraw.Draw(canvas).polygon([(30, 40), (80, 20), (95, 58), (45, 78)], fill=220)  # rotated rectangle
    data = np.repeat(np.asarray(canvas)[None], 3, axis=0)
    path = write_raster(tmp_path / "rotated.tif", data, UTM, Affine(0.3, 0, 500000, 0, -0.3, 100000))
    post = PostProcessOptions(min_area_m2=1.0, simplify_m=0.25, regularize="right_angles")
    buildings = list(extract_buildings(str(path), ExtractionOptions(model, gsd_m=0, post=post)))
    assert len(buildings) == 1
    polygon = wkb.loads(buildings[0].wkb)
    corners = np.asarray(polygon.exterior.coords)[:-1]
    assert len(corners) == 4
    edges = np.diff(np.vstack([corners, corners[:1]]), axis=0)
    for a, b in zip(edges, np.roll(edges, -1, axis=0)):
        assert abs(np.dot(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b)) < 0.02  # right angles


def test_pixel_aligned_mask_matches_gdal_rasterize_for_polygonized_blobs() -> None:
    """The numpy fill used for confidence statistics selects exactly the pixels GDAL's rasterizer selects, for
    the blobs GDAL Polygonize makes (holes, diagonal touches); slanted polygons are left to GDAL."""
    from osgeo import gdal, ogr
    from rasterio.features import geometry_mask
    from shapely.geometry import Polygon

    from building_extractor.core.vector.vectorize import pixel_aligned_mask, polygon_rings

    rng = np.random.default_rng(3)
    mask = (rng.random((40, 50)) < 0.55).astype(np.uint8)
    transform = Affine(0.3, 0, 500_000.0, 0, -0.3, 4_000_000.0)
    raster = gdal.GetDriverByName("MEM").Create("", 50, 40, 1, gdal.GDT_Byte)
    raster.SetGeoTransform(transform.to_gdal())
    raster.GetRasterBand(1).WriteArray(mask)
    source = ogr.GetDriverByName("Memory").CreateDataSource("")
    layer = source.CreateLayer("blobs")
    gdal.Polygonize(raster.GetRasterBand(1), raster.GetRasterBand(1), layer, -1)
    blobs = [wkb.loads(bytes(f.GetGeometryRef().ExportToWkb())) for f in layer]
    assert len(blobs) > 20 and any(b.interiors for b in blobs)
    window = transform * Affine.translation(3, 2)  # a window offset into the raster, cutting some blobs
    for blob in blobs:
        rings = polygon_rings(blob)  # read from the WKB: the same coordinates and bounds as Shapely's
        shapely_rings = [list(map(list, ring.coords)) for ring in (blob.exterior, *blob.interiors)]
        assert [ring.tolist() for ring in rings] == shapely_rings
        assert (*rings[0].min(axis=0), *rings[0].max(axis=0)) == blob.bounds
        ours = pixel_aligned_mask(rings, ~window, (30, 40))
        assert ours is not None
        assert np.array_equal(ours, ~geometry_mask([blob], (30, 40), window)), blob.wkt
    slanted = Polygon([(500_001, 3_999_995), (500_004, 3_999_996), (500_002, 3_999_999)])
    assert pixel_aligned_mask(polygon_rings(slanted), ~window, (30, 40)) is None


def test_worker_processes_give_the_same_buildings_in_the_same_order(tmp_path, monkeypatch) -> None:
    """Post-processing in jobs of 8 blobs spread over 2 spawned processes equals doing it here, also when the
    processes were started before the mask was polygonized (large masks)."""
    from building_extractor.core.vector import vectorize
    from building_extractor.core.workers import WORKERS_VARIABLE

    model = use_bright_roof_model(monkeypatch, tmp_path)
    roofs = [(8 + 24 * i, 8 + 24 * j, 10 + (i + j) % 6, 12) for i in range(8) for j in range(8)]
    path = write_raster(tmp_path / "roofs.tif", scene_with_roofs(200, 200, roofs), UTM,
                        Affine(0.3, 0, 500000, 0, -0.3, 100000))
    monkeypatch.setattr(vectorize, "BLOBS_PER_JOB", 8)
    class Recorder(SilentProgress):
        messages: list[str]

        def info(self, message: str) -> None:
            self.messages.append(message)

        warning = info

    results, logs = {}, {}
    for workers in ("1", "2", "2 started"):
        monkeypatch.setenv(WORKERS_VARIABLE, workers[0])
        # this 200 x 200 px mask counts as large: its workers are started before it is polygonized
        monkeypatch.setattr(vectorize, "MIN_PIXELS_FOR_WORKERS", 0 if "started" in workers else 4_000_000)
        options = ExtractionOptions(model, gsd_m=0, post=PostProcessOptions(min_area_m2=1.0, simplify_m=0.0))
        logs[workers] = Recorder()
        logs[workers].messages = []
        results[workers] = [(b.id, b.wkb, b.confidence, b.area_m2)
                            for b in extract_buildings(str(path), options, logs[workers])]
    assert len(results["1"]) == 64
    for workers in ("2", "2 started"):
        assert results[workers] == results["1"]
        assert "Post-processing 64 blobs in 2 worker processes." in logs[workers].messages  # no fallback message:
        assert not any("Worker processes failed" in message for message in logs[workers].messages)
