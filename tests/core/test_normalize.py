"""NORMALIZE on real imagery: `match` undoes haze (I' = I·t + A·(1 − t)) on a Kampala image the shipped model never
saw, so that the model finds the buildings again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from building_extractor.core.errors import BuildingExtractorError
from building_extractor.core.extract.inference import value_scale
from building_extractor.core.extract.normalize import match_training_range, training_range
from building_extractor.core.io.raster_source import RasterSource
from building_extractor.core.models.model_file import ModelConfig, shipped_model_path
from building_extractor.core.progress import SilentProgress

KAMPALA = Path(__file__).resolve().parents[3] / "shared" / "data" / "kampala"


def hazy_copy(path: Path, destination: Path, transmission: float, airlight: tuple[float, ...]) -> str:
    """``path`` seen through haze, as a lossless 8-bit GeoTIFF with the same georeferencing and mask."""
    source = gdal.Open(str(path))
    pixels = source.ReadAsArray()[:3].astype(np.float64)
    hazy = np.clip(np.round(pixels * transmission + np.array(airlight)[:, None, None] * (1 - transmission)), 0, 255)
    target = gdal.GetDriverByName("GTiff").Create(str(destination), source.RasterXSize, source.RasterYSize, 3,
                                                  gdal.GDT_Byte, ["COMPRESS=DEFLATE"])
    target.SetGeoTransform(source.GetGeoTransform())
    target.SetProjection(source.GetProjection())
    for band in range(3):
        target.GetRasterBand(band + 1).WriteArray(hazy[band].astype(np.uint8))
    target = None
    return str(destination)


def normalised_8bit(path: str, normalize: str) -> tuple[np.ndarray, np.ndarray]:
    """The raster's pixels (native grid) as the model sees them before mean/std, in 8-bit units, and validity."""
    config = ModelConfig()
    with RasterSource(path, None) as source:
        offset, scale = value_scale(source, config, SilentProgress(), normalize)
        data, valid = source.read(0, 0, source.grid.height, source.grid.width)
    return (data - offset[:, None, None]) * scale[:, None, None] / config.input_scale * 255, valid


def test_match_maps_the_image_range_onto_the_training_range_with_one_gain() -> None:
    offset, scale, used = match_training_range(np.array([20.0, 30.0, 10.0]), np.array([200.0, 250.0, 220.0]), 255.0)
    low, high = training_range()
    assert used == (10.0, 250.0)
    assert len(set(offset.tolist())) == 1 and len(set(scale.tolist())) == 1  # colours keep their balance
    assert np.allclose((np.array(used) - offset[0]) * scale[0], [low, high])


def test_match_undoes_uniform_haze_on_real_imagery(tmp_path) -> None:
    clean = str(KAMPALA / "image_2.tif")
    hazy = hazy_copy(KAMPALA / "image_2.tif", tmp_path / "hazy.tif", 0.5, (235.0, 235.0, 235.0))
    raw_clean, valid = normalised_8bit(clean, "none")
    raw_hazy, _ = normalised_8bit(hazy, "none")
    matched_clean, _ = normalised_8bit(clean, "match")
    matched_hazy, _ = normalised_8bit(hazy, "match")
    assert np.abs(raw_hazy - raw_clean)[:, valid].mean() > 40  # the haze the model would see
    # Matched, the hazy image is the matched clean one but for rounding (half the grey levels were lost).
    assert np.abs(matched_hazy - matched_clean)[:, valid].mean() < 1.5
    low, high = training_range()
    values = matched_clean[:, valid]
    assert min(np.percentile(band, 2) for band in values) == pytest.approx(low, abs=0.5)
    assert max(np.percentile(band, 98) for band in values) == pytest.approx(high, abs=0.5)


def test_match_finds_the_buildings_again_on_hazy_real_imagery(tmp_path) -> None:
    """The shipped model on a hazy Kampala image (never seen in training): normalised, its buildings overlap the
    OpenStreetMap footprints far better than without."""
    from shapely import wkb
    from shapely.geometry import box
    from shapely.ops import unary_union

    from building_extractor.core.evaluate.metrics import read_polygon_set, reproject
    from building_extractor.core.extract.pipeline import ExtractionOptions, extract_buildings

    hazy = hazy_copy(KAMPALA / "image_2.tif", tmp_path / "hazy.tif", 0.5, (225.0, 230.0, 240.0))
    raster = gdal.Open(hazy)
    crs, t = raster.GetProjection(), raster.GetGeoTransform()
    extent = box(t[0], t[3] + t[5] * raster.RasterYSize, t[0] + t[1] * raster.RasterXSize, t[3])
    reference = read_polygon_set(str(KAMPALA / "buildings.geojson"))
    footprints = unary_union(reproject(reference.geometries, reference.crs_wkt, crs)).intersection(extent)
    overlap = {}
    for normalize in ("none", "match"):
        found = unary_union([wkb.loads(b.wkb) for b in extract_buildings(
            hazy, ExtractionOptions(shipped_model_path(), normalize=normalize))])
        overlap[normalize] = found.intersection(footprints).area / found.union(footprints).area
    assert overlap["match"] > overlap["none"] + 0.03, overlap  # measured: 0.697 -> 0.739


def test_unknown_mode_is_refused_before_reading(tmp_path) -> None:
    from building_extractor.core.extract.pipeline import ExtractionOptions, extract_buildings

    with pytest.raises(BuildingExtractorError, match="NORMALIZE .*none, match"):
        next(extract_buildings(str(tmp_path / "missing.tif"), ExtractionOptions(shipped_model_path(),
                                                                                normalize="dehaze")))
