"""Property test: any small raster either gives valid polygons inside its extent or a BuildingExtractorError.

Random sizes (1-300 px), band counts (1-5), data types, nodata patterns (none, a nodata value, NaN, a mask,
all nodata), CRSs (none, UTM, EPSG:4326, EPSG:3857) and geotransforms (north-up, rotated, flipped) run
through the core pipeline with the 'bright roof' stand-in model. Anything else escaping (a GDAL, numpy or
shapely error) fails the test. Rasters with fewer than 3 bands are the only refusals expected.
"""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np
import pytest
from affine import Affine
from shapely import wkb
from shapely.geometry import Polygon

from building_extractor.core.errors import BuildingExtractorError
from building_extractor.core.extract.pipeline import ExtractionOptions, extract_buildings
from building_extractor.core.progress import SilentProgress
from building_extractor.core.vector.vectorize import PostProcessOptions
from tests.synthetic import use_bright_roof_model, write_raster

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
torch = pytest.importorskip("torch")

# CRS -> (origin x, origin y, pixel size): about 0.3 m pixels in every case.
CRSS = {None: (1000.0, 2000.0, 0.3), "EPSG:32636": (500000.0, 100000.0, 0.3),
        "EPSG:4326": (85.52, 27.63, 3e-6), "EPSG:3857": (9520000.0, 3200000.0, 0.34)}
DTYPES = {"uint8": (1, 0), "uint16": (40, 100), "int16": (30, -3000), "float32": (1 / 255, 0)}
NODATA = ("none", "value", "nan", "mask", "all")


@st.composite
def rasters(draw):
    height, width = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    return {
        "height": height, "width": width, "bands": draw(st.sampled_from([1, 2, 3, 3, 3, 4, 5])),
        "dtype": draw(st.sampled_from(sorted(DTYPES))), "nodata": draw(st.sampled_from(NODATA)),
        "crs": draw(st.sampled_from(list(CRSS))), "roofs": draw(st.integers(1, 6)),
        "orientation": draw(st.sampled_from(["north-up", "north-up", "rotated", "flipped"])),
        "seed": draw(st.integers(0, 2**16)),
    }


def make_raster(folder: str, spec: dict) -> tuple[str, Polygon]:
    """Write the raster ``spec`` describes; returns its path and footprint."""
    rng = np.random.default_rng(spec["seed"])
    h, w, n = spec["height"], spec["width"], spec["bands"]
    values = rng.normal(40, 10, (n, h, w))
    for _ in range(spec["roofs"]):
        r, c = rng.integers(0, h), rng.integers(0, w)
        values[:, r:r + rng.integers(3, 60), c:c + rng.integers(3, 60)] = rng.normal(220, 10)
    scale, offset = DTYPES[spec["dtype"]]
    data = np.clip(values, 0, 255) * scale + offset
    nodata, mask, kind = None, None, spec["nodata"]
    region = np.zeros((h, w), bool)
    region[: max(1, h // 3)] = True
    if kind == "all":
        region[:] = True
    if kind == "nan" and spec["dtype"] != "float32":
        kind = "value"
    if kind in ("value", "all"):
        nodata = 0 if spec["dtype"] != "int16" else -32768
        data[:, region] = nodata
    elif kind == "nan":
        data[:, region] = np.nan
    elif kind == "mask":
        mask = ~region
    x0, y0, size = CRSS[spec["crs"]]
    transform = Affine(size, 0, x0, 0, -size, y0)
    if spec["orientation"] == "rotated":
        transform = transform * Affine.rotation(spec["seed"] % 90 + 1)
    elif spec["orientation"] == "flipped":
        transform = Affine(size, 0, x0, 0, size, y0)
    path = os.path.join(folder, "fuzz.tif")
    write_raster(path, data.astype(spec["dtype"]), spec["crs"], transform, nodata=nodata, mask=mask)
    return path, Polygon([transform * corner for corner in ((0, 0), (w, 0), (w, h), (0, h))])


@hypothesis.settings(max_examples=40, deadline=None, derandomize=True,
                     suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture,
                                            hypothesis.HealthCheck.too_slow])
@hypothesis.given(spec=rasters())
def test_any_small_raster_gives_valid_polygons_or_our_error(monkeypatch, tmp_path, spec) -> None:
    torch.set_num_threads(1)
    model = use_bright_roof_model(monkeypatch, tmp_path, tile=64, overlap=16)
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        path, footprint = make_raster(folder, spec)
        workdir = os.path.join(folder, "work")
        os.mkdir(workdir)
        options = ExtractionOptions(model, workdir=workdir,
                                    post=PostProcessOptions(min_area_m2=0.5, simplify_m=0.1, fill_holes_m2=0.5))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                buildings = list(extract_buildings(path, options, SilentProgress()))
        except BuildingExtractorError as exc:
            assert str(exc)
            assert spec["bands"] < 3, f"unexpected refusal: {exc}"  # only too few bands is a refusal here
            hypothesis.event(f"refused: {type(exc).__name__}")
            buildings = []
        assert os.listdir(workdir) == []
    hypothesis.event(f"{len(buildings)} building(s)" if buildings else "no buildings")
    pixel = CRSS[spec["crs"]][2]
    extent = footprint.buffer(pixel * 0.01)
    ids = [b.id for b in buildings]
    assert ids == list(range(1, len(buildings) + 1))
    for building in buildings:
        geometry = wkb.loads(building.wkb)
        assert geometry.is_valid and not geometry.is_empty and geometry.geom_type in ("Polygon", "MultiPolygon")
        assert extent.contains(geometry), (geometry.bounds, footprint.bounds)
        assert 0 <= building.confidence <= building.max_probability <= 1
        assert building.area_m2 >= 0.5 and building.perimeter_m > 0
    if spec["nodata"] == "all":
        assert buildings == []


def test_sliver_clipped_at_the_raster_edge(monkeypatch, tmp_path) -> None:
    """Regression (found by the property test): a blob clipped at the raster edge to a sliver narrower than
    half a pixel must not produce an empty read window."""
    spec = {"height": 73, "width": 4, "bands": 3, "dtype": "int16", "nodata": "none", "crs": "EPSG:4326",
            "roofs": 1, "orientation": "north-up", "seed": 1}
    model = use_bright_roof_model(monkeypatch, tmp_path, tile=64, overlap=16)
    path, _ = make_raster(str(tmp_path), spec)
    options = ExtractionOptions(model, post=PostProcessOptions(min_area_m2=0.5, simplify_m=0.1, fill_holes_m2=0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        buildings = list(extract_buildings(path, options, SilentProgress()))
    assert all(0 <= b.confidence <= b.max_probability <= 1 for b in buildings)
