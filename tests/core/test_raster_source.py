"""The GDAL-only RasterSource gives the grids and pixels that rasterio's WarpedVRT gave (issue 19, lean path).

rasterio is only the reference here: extraction itself reads through ``osgeo.gdal`` alone.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine

from building_extractor.core.io.raster_source import RasterSource, is_north_up, utm_crs_for
from tests.synthetic import write_raster


def rasterio_reference(path: str, gsd_m: float, band_count: int) -> tuple[tuple, np.ndarray, np.ndarray]:
    """Grid (transform, width, height) and the whole grid's float32 pixels and validity, read as the plugin did
    before issue 19: rasterio's calculate_default_transform and WarpedVRT."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import Resampling, calculate_default_transform, transform_bounds

    # The target resolution and the band choice are not under test: taken from RasterSource.
    with RasterSource(path, gsd_m, band_count=band_count) as source:
        native, target, bands = source.native_gsd_m, source.grid.gsd_m, source.bands
    with rasterio.open(path) as src:
        t = src.transform
        corners = [t * (0, 0), t * (src.width, 0), t * (0, src.height), t * (src.width, src.height)]
        left, bottom = min(c[0] for c in corners), min(c[1] for c in corners)
        right, top = max(c[0] for c in corners), max(c[1] for c in corners)
        metric = src.crs is not None and (src.crs.is_geographic or src.crs.to_epsg() == 3857)
        if metric:
            lon0, lat0, lon1, lat1 = transform_bounds(src.crs, "EPSG:4326", left, bottom, right, top)
            dst = utm_crs_for((lon0 + lon1) / 2, (lat0 + lat1) / 2)
            grid = calculate_default_transform(src.crs, dst, src.width, src.height, left, bottom, right, top,
                                               resolution=target)
        elif is_north_up(t):
            scale = target / native
            grid = (t * t.scale(scale, scale), max(1, round(src.width / scale)), max(1, round(src.height / scale)))
            dst = src.crs
        else:
            unit = target / (native / math.hypot(t.a, t.d))
            grid = (Affine(unit, 0.0, left, 0.0, -unit, top), math.ceil((right - left) / unit - 1e-9),
                    math.ceil((top - bottom) / unit - 1e-9))
            dst = src.crs
        warp_crs = src.crs or CRS.from_wkt('LOCAL_CS["unknown",UNIT["metre",1]]')
        has_alpha = any(ci.name == "alpha" for ci in src.colorinterp)
        with WarpedVRT(src, src_crs=warp_crs, crs=dst or warp_crs, transform=grid[0], width=grid[1], height=grid[2],
                       resampling=Resampling.bilinear if target < native * 1.5 else Resampling.average,
                       add_alpha=not has_alpha) as vrt:
            data = vrt.read(bands, out_dtype="float32")
            valid = np.all(vrt.read_masks(bands) > 0, axis=0)
    return grid, data, valid


def synthetic_rasters(folder) -> list[str]:
    """Rasters that take each warping branch: rotated, flipped, no CRS, nodata, alpha band, 16-bit."""
    import rasterio

    rng = np.random.default_rng(1)
    image = (rng.random((3, 120, 160)) * 255).astype(np.uint8)  # zeros included: nodata pixels in nodata.tif
    geographic = Affine(0.000002, 0, 8.5, 0, -0.000002, 47.3)
    paths = [
        write_raster(folder / "rotated.tif", image, "EPSG:32632", Affine(0.2, 0.05, 500000, 0.05, -0.2, 5000000)),
        write_raster(folder / "flipped.tif", image, "EPSG:32632", Affine(0.2, 0, 500000, 0, 0.2, 5000000)),
        write_raster(folder / "no_crs.tif", image, None, Affine(0.25, 0, 100, 0, -0.25, 200)),
        write_raster(folder / "nodata.tif", image, "EPSG:4326", geographic, nodata=0),
        write_raster(folder / "uint16.tif", image.astype(np.uint16) * 40, "EPSG:3857",
                     Affine(0.2, 0, 900000, 0, -0.2, 6000000)),
    ]
    alpha = np.where(rng.random((1, 120, 160)) > 0.2, 255, 0).astype(np.uint8)
    with rasterio.open(folder / "rgba.tif", "w", driver="GTiff", width=160, height=120, count=4, dtype="uint8",
                       crs="EPSG:4326", transform=geographic, photometric="RGB", alpha="YES") as dst:
        dst.write(np.concatenate([image, alpha]))
    return [str(p) for p in paths] + [str(folder / "rgba.tif")]


def assert_same_as_rasterio(path: str, gsd_m: float, band_count: int = 3) -> None:
    (transform, width, height), data, valid = rasterio_reference(path, gsd_m, band_count)
    with RasterSource(path, gsd_m, band_count=band_count) as source:
        grid = source.grid
        assert (tuple(grid.transform), grid.width, grid.height) == (tuple(transform), width, height)
        ours, ours_valid = source.read(0, 0, grid.height, grid.width)
    assert np.array_equal(ours_valid, valid)
    assert np.array_equal(ours[:, valid], data[:, valid])  # invalid pixels are ignored by the pipeline


@pytest.mark.parametrize("gsd_m", [0.3, 0.0, 0.5])
def test_synthetic_rasters_read_as_rasterio_read_them(tmp_path, gsd_m: float) -> None:
    for path in synthetic_rasters(tmp_path):
        assert_same_as_rasterio(path, gsd_m)


@pytest.mark.parametrize("name,bands", [("banepa/predict.tif", 3), ("banepa_east/image_1.tif", 3),
                                        ("rio/image_2.tif", 3), ("alexandria/ndsm.tif", 1)])
def test_real_rasters_read_as_rasterio_read_them(shared_data, name: str, bands: int) -> None:
    """Geographic (to UTM), Web Mercator with an internal mask (to UTM), satellite UTM resampled, a float DSM
    with nodata."""
    assert_same_as_rasterio(str(shared_data / name), 0.3, bands)
