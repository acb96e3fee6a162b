"""Building heights on synthetic height rasters with known box buildings, edge cases, LOD1 and CityJSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

from building_extractor.core.errors import InputRasterError
from building_extractor.core.vector.heights import block_surfaces, building_heights, cityjson_lod1

ORIGIN = (500000.0, 100.0)  # EPSG:32636, 0.5 m pixels, 200 x 200 px = 100 m x 100 m
PIXEL = 0.5
NODATA = -9999.0


def write_raster(path: Path, data: np.ndarray, pixel: float = PIXEL, nodata: float | None = NODATA) -> str:
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1,
               "dtype": "float32", "crs": "EPSG:32636", "transform": from_origin(*ORIGIN, pixel, pixel),
               "nodata": nodata}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype("float32"), 1)
    return str(path)


def cells(x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
    """Array slices (rows, cols) of the pixels inside the map box."""
    return (slice(int((ORIGIN[1] - y1) / PIXEL), int((ORIGIN[1] - y0) / PIXEL)),
            slice(int((x0 - ORIGIN[0]) / PIXEL), int((x1 - ORIGIN[0]) / PIXEL)))


def mbox(x0: float, y0: float, x1: float, y1: float):
    """A box in map coordinates, x/y relative to the raster's lower-left corner (0..100 m)."""
    return box(ORIGIN[0] + x0, y0, ORIGIN[0] + x1, y1)


@pytest.fixture
def ndsm(tmp_path: Path) -> tuple[str, np.ndarray]:
    data = np.zeros((200, 200), "float32")
    data[cells(*mbox(10, 10, 20, 18).bounds)] = 6.0  # flat roof 6 m
    data[cells(*mbox(40, 40, 50, 60).bounds)] = 4.0  # two-level building: 4 m and 8 m halves
    data[cells(*mbox(40, 50, 50, 60).bounds)] = 8.0
    data[cells(*mbox(70, 70, 80, 80).bounds)] = 12.5
    data[cells(*mbox(70, 70, 80, 71).bounds)] = 1.0  # a low strip (wall edge / eave) along one side
    return write_raster(tmp_path / "ndsm.tif", data), data


def test_box_buildings_get_their_exact_heights(ndsm):
    path, _ = ndsm
    stats = building_heights([mbox(10, 10, 20, 18), mbox(40, 40, 50, 60)], path)
    flat, two_level = stats
    assert (flat.height_min, flat.height_max, flat.height_mean, flat.height_median, flat.height_p90) == \
        (6.0, 6.0, 6.0, 6.0, 6.0)
    assert flat.pixel_count == 20 * 16
    assert two_level.pixel_count == 20 * 40
    assert (two_level.height_min, two_level.height_max, two_level.height_mean) == (4.0, 8.0, 6.0)
    assert two_level.height_median == 6.0 and two_level.height_p90 == 8.0


def test_inward_buffer_skips_the_wall_edge(ndsm):
    path, _ = ndsm
    footprint = mbox(70, 70, 80, 80)
    plain, buffered = building_heights([footprint, footprint], path, inner=[None, footprint.buffer(-1.0)])
    assert plain.height_min == 1.0
    assert buffered.height_min == buffered.height_max == 12.5
    assert buffered.pixel_count == 16 * 16
    # a buffer that swallows the footprint falls back to the footprint itself
    (tiny,) = building_heights([footprint], path, inner=[footprint.buffer(-6.0)])
    assert tiny.pixel_count == 20 * 20


def test_partly_outside_and_fully_outside(tmp_path):
    data = np.full((200, 200), 9.0, "float32")
    path = write_raster(tmp_path / "ndsm.tif", data)
    half_out = mbox(-5, 10, 5, 20)  # west half outside the raster
    outside = mbox(150, 150, 160, 160)
    inside, none = building_heights([half_out, outside, Polygon()], path)[:2]
    assert inside.pixel_count == 10 * 20 and inside.height_mean == 9.0
    assert none.pixel_count == 0 and none.height_mean is None


def test_nodata_pixels_are_ignored(tmp_path):
    data = np.full((200, 200), 5.0, "float32")
    data[cells(*mbox(10, 10, 15, 20).bounds)] = NODATA  # west half of the first building
    data[cells(*mbox(30, 30, 40, 40).bounds)] = NODATA  # all of the second
    data[cells(*mbox(60, 60, 61, 61).bounds)] = np.nan  # NaN counts as missing too
    path = write_raster(tmp_path / "ndsm.tif", data)
    half, empty, with_nan = building_heights([mbox(10, 10, 20, 20), mbox(30, 30, 40, 40),
                                              mbox(60, 60, 70, 70)], path)
    assert half.pixel_count == 10 * 20 and half.height_min == 5.0
    assert empty.pixel_count == 0 and empty.height_max is None
    assert with_nan.pixel_count == 400 - 4


def test_dsm_minus_dtm_on_the_same_and_on_a_coarser_grid(tmp_path, ndsm):
    _, heights = ndsm
    cols = np.arange(200) * PIXEL + PIXEL / 2
    terrain = (1200.0 + 0.05 * cols)[None, :].repeat(200, axis=0).astype("float32")  # sloping ground
    dsm = write_raster(tmp_path / "dsm.tif", terrain + heights)
    dtm = write_raster(tmp_path / "dtm.tif", terrain)
    (flat,) = building_heights([mbox(10, 10, 20, 18)], dsm, dtm)
    assert flat.height_min == pytest.approx(6.0, abs=1e-3) and flat.height_max == pytest.approx(6.0, abs=1e-3)
    assert flat.ground == pytest.approx(1200.0 + 0.05 * 15, abs=0.01)
    coarse_cols = np.arange(50) * 2.0 + 1.0
    coarse = write_raster(tmp_path / "dtm_2m.tif", (1200.0 + 0.05 * coarse_cols)[None, :].repeat(50, axis=0),
                          pixel=2.0)
    (resampled,) = building_heights([mbox(10, 10, 20, 18)], dsm, coarse)
    assert resampled.height_median == pytest.approx(6.0, abs=0.05)


def test_bad_band_and_unreadable_raster(ndsm, tmp_path):
    path, _ = ndsm
    with pytest.raises(InputRasterError, match="band"):
        building_heights([mbox(10, 10, 20, 18)], path, band=2)
    with pytest.raises(InputRasterError, match="Cannot open"):
        building_heights([mbox(10, 10, 20, 18)], str(tmp_path / "missing.tif"))


def _volume(surfaces) -> float:
    """Volume enclosed by planar faces (divergence theorem); positive when all normals point outward."""
    total = 0.0
    for surface in surfaces:
        for ring in surface:
            pts = np.asarray(ring)
            for i in range(1, len(pts) - 1):  # fan triangulation of each ring (holes subtract)
                total += np.dot(pts[0], np.cross(pts[i], pts[i + 1])) / 6.0
    return total


def test_lod1_block_is_closed_and_faces_outward():
    courtyard = Polygon(box(0, 0, 10, 8).exterior, [box(3, 3, 5, 5).exterior])
    surfaces = block_surfaces(courtyard, 100.0, 106.0)
    assert len(surfaces) == 2 + 4 + 4  # roof, floor, 4 outer walls, 4 courtyard walls
    assert _volume(surfaces) == pytest.approx(courtyard.area * 6.0)


def test_cityjson_lod1_document():
    document = cityjson_lod1([("a", box(0, 0, 10, 8), 100.0, 106.0, {"height": 6.0, "note": None}),
                              ("b", box(20, 0, 25, 5), 101.0, 104.0, {"height": 3.0})], epsg=32636)
    assert document["type"] == "CityJSON" and document["version"] == "1.1"
    assert document["metadata"]["referenceSystem"].endswith("/EPSG/0/32636")
    building = document["CityObjects"]["a"]
    assert building["type"] == "Building" and building["attributes"] == {"height": 6.0}
    (geometry,) = building["geometry"]
    assert geometry["type"] == "Solid" and geometry["lod"] == "1"
    assert len(geometry["boundaries"][0]) == 6 and len(document["vertices"]) == 16
    scale, translate = document["transform"]["scale"], document["transform"]["translate"]
    zs = sorted({v[2] * scale[2] + translate[2] for v in document["vertices"]})
    assert zs == pytest.approx([100.0, 101.0, 104.0, 106.0])
    surfaces = [[[[document["vertices"][i][d] * scale[d] + translate[d] for d in range(3)] for i in ring]
                 for ring in surface] for surface in geometry["boundaries"][0]]
    assert _volume(surfaces) == pytest.approx(80 * 6.0)


# Plausibility (issue 20, point 6) ------------------------------------------------------------------------------
def test_dsm_without_dtm_is_refused_and_points_to_the_dtm(tmp_path, ndsm):
    """Regression: a DSM given alone reported a median building height of 1,311 m."""
    _, heights = ndsm
    dsm = write_raster(tmp_path / "dsm.tif", heights + 1305.0)
    buildings = [mbox(10, 10, 20, 18), mbox(40, 40, 50, 60), mbox(70, 70, 80, 80)]
    with pytest.raises(InputRasterError, match=r"ground around the buildings lies at a median 1305 .*give the DTM"):
        building_heights(buildings, dsm)
    low = write_raster(tmp_path / "low_dsm.tif", heights + 8.0)  # a DSM near sea level: warned about
    progress = Recorder()
    (flat, *_) = building_heights(buildings, low, progress=progress)
    assert flat.height_median == pytest.approx(14.0)
    assert any("median 8.0 m, not near 0" in w for w in progress.warnings)
    progress = Recorder()
    building_heights(buildings, ndsm[0], progress=progress)  # a real nDSM: no warning
    assert progress.warnings == []


def test_colour_image_is_refused_as_height_raster(tmp_path):
    from tests.synthetic import scene_with_roofs
    from tests.synthetic import write_raster as write_image

    image = write_image(tmp_path / "rgb.tif", scene_with_roofs(200, 200, [(20, 20, 30, 30)]), "EPSG:32636",
                        from_origin(*ORIGIN, PIXEL, PIXEL))
    with pytest.raises(InputRasterError, match="looks like an image, not a height model.*nDSM"):
        building_heights([mbox(10, 10, 20, 18)], str(image))


def test_dtm_that_does_not_cover_the_buildings_is_named(tmp_path, ndsm):
    _, heights = ndsm
    dsm = write_raster(tmp_path / "dsm.tif", heights + 100.0)
    elsewhere = np.full((200, 200), 100.0, "float32")
    profile = {"driver": "GTiff", "width": 200, "height": 200, "count": 1, "dtype": "float32", "crs": "EPSG:32636",
               "transform": from_origin(ORIGIN[0] + 5000, ORIGIN[1], PIXEL, PIXEL), "nodata": NODATA}
    with rasterio.open(tmp_path / "dtm.tif", "w", **profile) as dst:
        dst.write(elsewhere, 1)
    with pytest.raises(InputRasterError, match="DTM .* does not cover the buildings"):
        building_heights([mbox(10, 10, 20, 18), mbox(70, 70, 80, 80)], dsm, str(tmp_path / "dtm.tif"))
    far = [box(ORIGIN[0] + 9000, 10, ORIGIN[0] + 9010, 20)]
    with pytest.raises(InputRasterError, match="None of the 1 buildings lies on the height raster"):
        building_heights(far, dsm)


class Recorder:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def set_fraction(self, fraction: float) -> None:
        pass

    def is_canceled(self) -> bool:
        return False


def test_heights_on_real_lidar_agree_with_the_footprints_heights(shared_data) -> None:
    """Alexandria (2 m lidar): DSM − DTM with a 1 m inward buffer matches the footprints' height_m within a few
    decimetres (help/building_heights.md: median |diff| 0.23 m, r 0.975); the shipped nDSM runs ~1.6 m higher."""
    import fiona
    from shapely.geometry import shape

    from building_extractor.core.vector.heights import agreement

    folder = shared_data / "alexandria"
    with fiona.open(folder / "buildings.geojson") as source:
        features = [(shape(f["geometry"]), f["properties"]["height_m"]) for f in source]
    geometries = [g for g, _ in features]
    reference = [h if h and h > 0 else None for _, h in features]
    inner = [g.buffer(-1.0) for g in geometries]
    difference = building_heights(geometries, str(folder / "dsm.tif"), str(folder / "dtm.tif"), inner=inner)
    ndsm = building_heights(geometries, str(folder / "ndsm.tif"))
    best = agreement([s.height_median for s in difference], reference)
    assert best["buildings"] == 82
    assert best["median_abs_diff_m"] < 0.4 and best["correlation"] > 0.96
    assert all(s.ground is not None for s in difference if s.pixel_count)
    plain = agreement([s.height_median for s in ndsm], reference)
    assert 1.0 < plain["median_diff_m"] < 2.2 and plain["correlation"] > 0.85
    # p90 and max reach roof ridges and overhanging trees: further from height_m than the median.
    assert agreement([s.height_max for s in difference], reference)["median_abs_diff_m"] > best["median_abs_diff_m"]
