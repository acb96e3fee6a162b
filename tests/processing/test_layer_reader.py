"""Extraction from layers that are not files: a real QGIS XYZ layer served from localhost (tests/tile_server.py)
with tiles cut from Kampala imagery, compared with the file-based run; failing tiles, cancel, EXTENT checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer, QgsRectangle, QgsVectorLayer

from building_extractor.core.errors import Cancelled, InputRasterError
from building_extractor.core.io.raster_source import RasterSource
from building_extractor.core.models.model_file import read_config, shipped_model_path
from building_extractor.processing.layer_reader import LayerInput, raster_for_layer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tile_server import TileServer  # noqa: E402

ALG = "building_extractor:extract_buildings_unet"
ZOOM = 20  # Kampala image_1 is 0.1493 m Web Mercator pixels on the zoom-20 grid: tiles hold its own pixels
FAILING = {(ZOOM, 619226, 523265), (ZOOM, 619227, 523266)}  # two interior tiles of the 35


class RecordingFeedback(QgsProcessingFeedback):
    """Keeps what the run reported."""

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[str] = []
        self.errors: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802 - QGIS API name
        self.infos.append(info)
        super().pushInfo(info)

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802, N803 - QGIS API names
        self.errors.append(error)
        super().reportError(error, fatalError)

    def pushWarning(self, warning: str) -> None:  # noqa: N802 - QGIS API name
        self.errors.append(warning)
        super().pushWarning(warning)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def kampala(shared_data) -> Path:
    return shared_data / "kampala" / "image_1.tif"


@pytest.fixture(scope="session")
def xyz_tiles(kampala, tmp_path_factory) -> Path:
    """XYZ PNG tiles (zoom 20) cut from the image with gdal2tiles, once per session."""
    folder = tmp_path_factory.mktemp("xyz") / "tiles"
    subprocess.run([sys.executable, "-m", "osgeo_utils.gdal2tiles", "--xyz", "-z", str(ZOOM), "-w", "none",
                    "--processes=1", "-q", str(kampala), str(folder)], check=True, capture_output=True)
    for tile in FAILING:
        assert (folder / f"{tile[0]}/{tile[1]}/{tile[2]}.png").exists()
    return folder


@pytest.fixture(scope="session")
def image_extent(kampala) -> str:
    with rasterio.open(kampala) as src:
        left, bottom, right, top = src.bounds
    return f"{left!r},{right!r},{bottom!r},{top!r} [EPSG:3857]"


def xyz_layer(server: TileServer) -> QgsRasterLayer:
    layer = QgsRasterLayer(server.xyz_uri(ZOOM, ZOOM), "kampala xyz", "wms")
    assert layer.isValid()
    return layer


def building_mask(prob_path: Path, grid_of: Path, threshold: float) -> np.ndarray:
    """Probability thresholded, resampled (nearest) onto the grid of ``grid_of`` when the grids differ."""
    from rasterio.warp import Resampling, reproject

    with rasterio.open(prob_path) as src, rasterio.open(grid_of) as ref:
        prob = src.read(1)
        if (src.transform, src.shape, src.crs) != (ref.transform, ref.shape, ref.crs):
            out = np.zeros(ref.shape, prob.dtype)
            reproject(prob, out, src_transform=src.transform, src_crs=src.crs, dst_transform=ref.transform,
                      dst_crs=ref.crs, resampling=Resampling.nearest)
            prob = out
    return prob >= threshold * 255


def test_xyz_layer_matches_file_run(provider, kampala, xyz_tiles, image_extent, tmp_path) -> None:
    """Same area, same resolution: the building masks agree (IoU >= 0.95), the outputs look alike."""
    import processing

    common = {"RESOLUTION": 0.3, "OUTPUT_PROBABILITY": None}
    file_run = processing.run(ALG, {**common, "INPUT": str(kampala), "OUTPUT": str(tmp_path / "file.gpkg"),
                                    "OUTPUT_PROBABILITY": str(tmp_path / "file_prob.tif")})
    feedback = RecordingFeedback()
    with TileServer(xyz_tiles) as server:
        web_run = processing.run(ALG, {**common, "INPUT": xyz_layer(server), "EXTENT": image_extent,
                                       "OUTPUT": str(tmp_path / "xyz.gpkg"),
                                       "OUTPUT_PROBABILITY": str(tmp_path / "xyz_prob.tif")}, feedback=feedback)
        assert server.requests  # the pixels really came over HTTP
    threshold = read_config(shipped_model_path()).threshold
    ref = building_mask(tmp_path / "file_prob.tif", tmp_path / "file_prob.tif", threshold)
    got = building_mask(tmp_path / "xyz_prob.tif", tmp_path / "file_prob.tif", threshold)
    assert ref.sum() > 1000  # buildings were found, so the comparison means something
    iou = (ref & got).sum() / (ref | got).sum()
    assert iou >= 0.95, iou
    layers = [QgsVectorLayer(run["OUTPUT"], name, "ogr") for run, name in ((file_run, "f"), (web_run, "x"))]
    assert [layer.crs().authid() for layer in layers] == ["EPSG:3857", "EPSG:3857"]
    assert [f.name() for f in layers[0].fields()] == [f.name() for f in layers[1].fields()]
    counts = [layer.featureCount() for layer in layers]
    assert abs(counts[0] - counts[1]) <= 0.1 * counts[0], counts
    assert any("Reading layer 'kampala xyz'" in line for line in feedback.infos)
    assert not feedback.errors, feedback.errors


def test_failing_tiles_are_retried_then_reported(provider, xyz_tiles, image_extent, tmp_path) -> None:
    """Tiles answering HTTP 500 are asked for again (3 retries), then the window is named in a warning."""
    import processing
    from qgis.core import QgsSettings

    feedback = RecordingFeedback()
    QgsSettings().setValue("qgis/defaultTileMaxRetry", 5)  # the user's own setting (QGIS 3.40 honours it)
    with TileServer(xyz_tiles, failing=FAILING) as server:
        result = processing.run(ALG, {"INPUT": xyz_layer(server), "EXTENT": image_extent, "RESOLUTION": 0.3,
                                      "OUTPUT": str(tmp_path / "b.gpkg")}, feedback=feedback)
        # our 4 attempts only: the provider's own repeats are off while the plugin reads, then the setting is back
        assert all(server.requests[tile] == 4 for tile in FAILING), server.requests
    assert int(QgsSettings().value("qgis/defaultTileMaxRetry")) == 5
    QgsSettings().remove("qgis/defaultTileMaxRetry")
    warnings = [e for e in feedback.errors if "could not be read completely" in e]
    assert len(warnings) == 1, feedback.errors
    assert "window 1 of 1" in warnings[0] and "HTTP 500" in warnings[0]
    assert QgsVectorLayer(result["OUTPUT"], "b", "ogr").featureCount() > 0  # the rest of the area was processed


def test_failing_service_is_a_clear_error(provider, xyz_tiles, image_extent, tmp_path) -> None:
    import processing

    with TileServer(xyz_tiles, failing="all") as server:
        with pytest.raises(QgsProcessingException, match=r"could not be read: 100% of the area is missing.*HTTP 500"):
            processing.run(ALG, {"INPUT": xyz_layer(server), "EXTENT": image_extent, "RESOLUTION": 0.3,
                                 "OUTPUT": str(tmp_path / "b.gpkg")})
    assert not (tmp_path / "b.gpkg").exists()


def test_error_document_instead_of_an_image_is_a_failure(provider, xyz_tiles, image_extent) -> None:
    """A WMS-style service exception answered with HTTP 200 counts as a failed request, not as an empty tile."""
    left, right, bottom, top = (float(v) for v in image_extent.split(" ")[0].split(","))
    warnings: list[str] = []
    with TileServer(xyz_tiles, failing=FAILING, failure="xml") as server:
        reader = LayerInput(xyz_layer(server), QgsRectangle(left, bottom, right, top)).open(0.3, None, 3, warnings)
        _, valid = reader.read(0, 0, reader.grid.height, reader.grid.width)
        assert all(server.requests[tile] >= 1 for tile in FAILING)  # retries may come from QGIS's HTTP cache
    assert len(warnings) == 1 and "answered application/vnd.ogc.se_xml instead of an image" in warnings[0]
    assert 0.8 < valid.mean() < 0.97  # the two missing tiles are nodata, the rest was read


def test_cancel_stops_retries_and_downloads(provider, xyz_tiles, image_extent) -> None:
    """Cancel is honoured between retries (no further requests) and while a download is under way."""
    left, right, bottom, top = (float(v) for v in image_extent.split(" ")[0].split(","))
    extent = QgsRectangle(left, bottom, right, top)
    bad = next(iter(FAILING))
    with TileServer(xyz_tiles, failing=FAILING) as server:

        class CancelAfterFailure(QgsProcessingFeedback):
            def isCanceled(self) -> bool:  # noqa: N802 - QGIS API name
                return server.requests[bad] >= 1

        reader = LayerInput(xyz_layer(server), extent, CancelAfterFailure()).open(0.3, None, 3, [])
        with pytest.raises(Cancelled):
            reader.read(0, 0, 64, 64)
        assert server.requests[bad] == 1

    feedback = QgsProcessingFeedback()
    with TileServer(xyz_tiles, on_request=lambda key: feedback.cancel()) as server:
        reader = LayerInput(xyz_layer(server), extent, feedback).open(0.3, None, 3, [])
        with pytest.raises(Cancelled):
            reader.read(0, 0, 64, 64)
        assert server.requests


def test_xyz_layer_needs_extent(provider, tmp_path) -> None:
    import processing

    layer = QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/{z}/{x}/{y}.png&zmin=0&zmax=19", "world", "wms")
    with pytest.raises(QgsProcessingException, match="XYZ tile layer, which covers the whole world: set EXTENT"):
        processing.run(ALG, {"INPUT": layer, "OUTPUT": str(tmp_path / "x.gpkg")})


def test_extent_over_area_limit_or_off_the_layer_is_refused(provider, kampala, tmp_path) -> None:
    import processing

    layer = QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/{z}/{x}/{y}.png&zmin=0&zmax=19", "world", "wms")
    ten_km = "3620000,3630000,30000,40000 [EPSG:3857]"
    too_large = r"EXTENT covers (99|100)\.\d km², more than MAX_AREA_KM2 \(25 km²\)"
    with pytest.raises(QgsProcessingException, match=too_large):
        processing.run(ALG, {"INPUT": layer, "EXTENT": ten_km, "OUTPUT": str(tmp_path / "x.gpkg")})
    with pytest.raises(InputRasterError, match="does not overlap"):
        LayerInput(QgsRasterLayer(str(kampala), "kampala"), QgsRectangle(0, 0, 1, 1))


def test_provider_reader_matches_file_reader_on_a_band_layer(provider, kampala) -> None:
    """A GDAL layer read band by band through its provider gives the file reader's grid and pixels."""
    layer = QgsRasterLayer(str(kampala), "kampala")
    with RasterSource(str(kampala), 0.3) as expected, LayerInput(layer, None).open(0.3, None, 3, []) as reader:
        assert reader.grid == expected.grid and reader.bands == [1, 2, 3] and reader.dtype == np.uint8
        data, valid = reader.read(100, 200, 300, 400)
        want, want_valid = expected.read(100, 200, 300, 400)
    assert data.shape == want.shape == (3, 300, 400)
    assert (valid == want_valid).all()
    assert np.abs(data - want).mean() < 1.0


def test_file_layer_with_extent_is_clipped(provider, kampala, tmp_path) -> None:
    layer = QgsRasterLayer(str(kampala), "kampala")
    full = layer.extent()
    half = QgsRectangle(full.xMinimum(), full.yMinimum(), full.center().x(), full.yMaximum() + 100)
    path = raster_for_layer(layer, half, None, temp_dir=str(tmp_path))
    assert path.endswith(".vrt")
    with rasterio.open(path) as clipped:
        left, bottom, right, top = clipped.bounds
        pixel = clipped.res[0]
    assert abs(left - full.xMinimum()) < pixel and abs(right - full.center().x()) < pixel
    assert abs(top - full.yMaximum()) < pixel and abs(bottom - full.yMinimum()) < pixel  # cut to the raster
    assert raster_for_layer(layer, None, None) == str(kampala)
