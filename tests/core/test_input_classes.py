"""Issue 20, inputs that used to give silently wrong results or blame the wrong cause: every GDAL data type is
read with its sign and range (against numpy), and geographic rasters the metric grid cannot hold, or grids that
would shrink to a few pixels, are refused with the reason."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from osgeo import gdal

from building_extractor.core.errors import InputRasterError
from building_extractor.core.extract.inference import value_scale
from building_extractor.core.io.raster_source import RasterSource
from building_extractor.core.models.config import ModelConfig
from tests.synthetic import scene_with_roofs, write_raster

NATIVE_INT8 = hasattr(gdal, "GDT_Int8")  # GDAL 3.7+ (QGIS 3.40 on Debian 13); before, Byte + PIXELTYPE=SIGNEDBYTE
GDAL_TYPES = {"int8": gdal.GDT_Int8 if NATIVE_INT8 else gdal.GDT_Byte, "uint8": gdal.GDT_Byte,
              "int16": gdal.GDT_Int16, "uint16": gdal.GDT_UInt16, "int32": gdal.GDT_Int32,
              "uint32": gdal.GDT_UInt32, "float32": gdal.GDT_Float32, "float64": gdal.GDT_Float64}


class Warnings:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def warning(self, message: str) -> None:
        self.messages.append(message)


def write_typed(path, values: np.ndarray, dtype: str) -> str:
    """A 3-band GeoTIFF of ``values`` in ``dtype``; int8 the way this GDAL writes it (GDT_Int8 from 3.7, before
    Byte with PIXELTYPE=SIGNEDBYTE)."""
    signed_byte = dtype == "int8" and not NATIVE_INT8
    options = ["PIXELTYPE=SIGNEDBYTE"] if signed_byte else []
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), values.shape[2], values.shape[1], 3, GDAL_TYPES[dtype],
                                                   options=options)
    dataset.SetGeoTransform((500000, 0.3, 0, 100000, 0, -0.3))
    for band in range(3):
        raw = values[band].astype(dtype)
        dataset.GetRasterBand(band + 1).WriteArray(raw.view(np.uint8) if signed_byte else raw)
    dataset = None
    return str(path)


@pytest.mark.parametrize("dtype", sorted(GDAL_TYPES))
def test_every_data_type_reads_its_values_and_stretches_from_their_percentiles(tmp_path, dtype) -> None:
    info = np.iinfo(dtype) if dtype[0] in "iu" else np.finfo(np.float32)
    rng = np.random.default_rng(3)
    low, high = max(float(info.min), -1e6), min(float(info.max), 1e6)
    values = rng.uniform(low, high, (3, 40, 50))
    if dtype.startswith("float"):
        values[:, :3, :3] = np.nan
        values[:, 5, :2] = [np.inf, -np.inf]
    path = write_typed(tmp_path / f"{dtype}.tif", values, dtype)
    expected = values.astype(dtype).astype(np.float32)
    finite = np.isfinite(expected).all(axis=0)
    with RasterSource(path, None) as source:
        data, valid = source.read(0, 0, 40, 50)
        progress = Warnings()
        offset, scale = value_scale(source, ModelConfig(), progress)
    assert np.array_equal(valid, finite)
    assert np.array_equal(data[:, valid], expected[:, finite])  # the sign and the range survive reading
    if dtype == "uint8":
        assert offset.tolist() == [0, 0, 0] and scale.tolist() == [1, 1, 1] and progress.messages == []
        return
    reference = np.percentile(expected[:, finite], [2, 98], axis=1)
    assert np.allclose(offset, reference[0], rtol=1e-5)
    assert np.allclose(255.0 / scale + offset, reference[1], rtol=1e-4)
    assert f"{reference[0][0]:g}"[:4] in progress.messages[0]  # the log shows the real range


def test_complex_raster_is_refused_with_what_to_do(tmp_path) -> None:
    path = tmp_path / "sar.tif"
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), 8, 8, 3, gdal.GDT_CFloat32)
    dataset.SetGeoTransform((500000, 0.3, 0, 100000, 0, -0.3))
    dataset = None
    with pytest.raises(InputRasterError, match="complex values .*amplitude"):
        RasterSource(str(path), None)


@pytest.mark.parametrize("crs, transform, match", [
    ("EPSG:4326", Affine(3e-6, 0, 179.99995, 0, -3e-6, -16.0), "crosses the antimeridian .*EPSG:32760"),
    ("EPSG:4326", Affine(3e-6, 0, -180.00005, 0, -3e-6, 65.0), "crosses the antimeridian .*EPSG:32601"),
    ("EPSG:3857", Affine(0.3, 0, 20037508.34 - 10, 0, -0.3, 0), "crosses the antimeridian"),
    ("EPSG:4326", Affine(3e-6, 0, 10.0, 0, -3e-6, 90.0), "latitude 90.*polar stereographic"),
])
def test_geographic_rasters_the_metric_grid_cannot_hold_are_refused(tmp_path, crs, transform, match) -> None:
    path = write_raster(tmp_path / "r.tif", scene_with_roofs(100, 100, [(20, 20, 30, 30)]), crs, transform)
    with pytest.raises(InputRasterError, match=match):
        RasterSource(str(path), 0.3)
    shifted = Affine(transform.a, 0, 170.0, 0, transform.e, -16.0) if crs == "EPSG:4326" else None
    if shifted is not None:  # the same raster away from the antimeridian and the poles is read
        with RasterSource(str(write_raster(tmp_path / "ok.tif", scene_with_roofs(100, 100, []), crs, shifted)),
                          0.3) as source:
            assert source.grid.width > 50


def test_resolution_that_shrinks_the_grid_to_a_pixel_is_refused_as_such(tmp_path) -> None:
    """Regression: RESOLUTION=1e6 made a 1×1 px grid and the warning blamed nodata."""
    path = write_raster(tmp_path / "r.tif", scene_with_roofs(100, 100, []), "EPSG:32636",
                        Affine(0.3, 0, 500000, 0, -0.3, 100000))
    with pytest.raises(InputRasterError, match=r"1×1 px.*Set RESOLUTION near the model's"):
        RasterSource(str(path), 1e6)
    with RasterSource(str(path), 3.0) as source:  # ten-fold coarser is allowed
        assert (source.grid.width, source.grid.height) == (10, 10)
