"""Read any QgsRasterLayer (XYZ, WMS/WMTS, WCS, ...) window by window through its QGIS data provider.

:class:`LayerInput` is the pipeline's ``RasterInput`` for layers GDAL cannot open by path. Its reader
(:class:`ProviderReader`) has the interface of :class:`~building_extractor.core.io.raster_source.RasterSource`:
the processing grid is metric (a UTM zone when the layer is geographic or Web Mercator) at the processing
resolution, over the chosen extent. Pixels are requested from the provider in the layer's own CRS, one
window of ``BLOCK_SIZE`` grid pixels at a time, at the coarsest native resolution of the provider (the zoom
level of tiled layers) that is not coarser than the processing resolution, and warped onto the grid with GDAL
(bilinear, or average when downsampling), like file rasters. Colour layers (XYZ, WMS: ARGB32 blocks) are
decoded to RGB with alpha as validity; other providers are read band by band with their nodata values.

Network layers are slow and flaky: every request QGIS makes for a window is watched; a window with failed
requests is fetched again after a backoff, then reported as a warning naming the window (its missing pixels
are nodata), and the run fails with a clear error when too much of the area could not be read. Cancel is
checked between windows and retries and interrupts downloads under way.

File layers (GDAL provider) keep the file reader; with an EXTENT they are clipped through a GDAL VRT.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections import OrderedDict
from typing import Any

import numpy as np
from affine import Affine
from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsNetworkAccessManager,
    QgsRaster,
    QgsRasterBlockFeedback,
    QgsRasterDataProvider,
    QgsRectangle,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtNetwork import QNetworkReply, QNetworkRequest

from ..core.errors import Cancelled, InputRasterError
from ..core.gdal_scope import gdal_exceptions
from ..core.io.raster_source import (
    MAX_UPSAMPLING,
    ProcessingGrid,
    select_bands,
    spatial_reference,
    suggested_grid,
    transform_bounds,
    transform_points,
    utm_epsg,
)
from .compat import provider_tile_retries_off

MAX_AREA_KM2 = 25.0  # default limit on the area of a web layer processed in one run
BLOCK_SIZE = 1024  # processing-grid pixels per side of one read window
RETRY_DELAYS_S = (0.5, 1.0, 2.0)  # waits before the 2nd, 3rd and 4th attempt of a window with failed requests
MAX_FAILED_FRACTION = 0.2  # the run fails once more than this share of the area could not be read
NO_TILE_HTTP = (204, 404)  # how tile servers say "no tile here": empty, not a failure
NOT_IMAGE_TYPES = ("xml", "html", "json")  # content types of error documents answered in place of pixels
EARTH_RADIUS_KM = 6371.0088
WEB_MERCATOR = ("EPSG:3857", "EPSG:900913", "EPSG:3785", "ESRI:102100", "EPSG:102100")
COLOUR_TYPES = (Qgis.ARGB32, Qgis.ARGB32_Premultiplied)
NUMPY_TYPES = {Qgis.Byte: np.uint8, Qgis.UInt16: np.uint16, Qgis.Int16: np.int16, Qgis.UInt32: np.uint32,
               Qgis.Int32: np.int32, Qgis.Float32: np.float32, Qgis.Float64: np.float64}
INTERPRETATION_NAMES = {QgsRaster.GrayIndex: "gray", QgsRaster.PaletteIndex: "palette", QgsRaster.RedBand: "red",
                        QgsRaster.GreenBand: "green", QgsRaster.BlueBand: "blue", QgsRaster.AlphaBand: "alpha"}


def is_file_layer(layer: Any) -> bool:
    """True for layers the GDAL provider reads (files, and URLs or VRTs GDAL opens by name)."""
    return layer.providerType() == "gdal"


def is_xyz_layer(layer: Any) -> bool:
    """True for XYZ tile layers, which report the whole world as their extent."""
    return layer.providerType() == "wms" and "type=xyz" in layer.source()


def layer_srs(crs: QgsCoordinateReferenceSystem, layer_name: str) -> Any:
    """The GDAL spatial reference of a QGIS CRS (by EPSG code when it has one)."""
    if not crs.isValid():
        raise InputRasterError(f"Layer '{layer_name}' has no valid CRS. Set its CRS (Layer Properties ▸ Source) "
                               "and run again.")
    if crs.authid().upper().startswith("EPSG:"):
        return spatial_reference(crs.authid())
    return spatial_reference(crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL))


@gdal_exceptions()
def area_km2(bounds: tuple[float, float, float, float], crs: Any) -> float:
    """Area of a box given in ``crs`` on the sphere (km²); infinite when it cannot be transformed."""
    try:
        west, south, east, north = transform_bounds(crs, spatial_reference("EPSG:4326"), bounds)
    except Exception:  # noqa: BLE001 - PROJ errors for boxes beyond the CRS's area of use
        return math.inf
    values = (west, south, east, north)
    if not all(map(math.isfinite, values)):
        return math.inf
    south, north = max(-90.0, south), min(90.0, north)
    return (EARTH_RADIUS_KM ** 2 * math.radians(max(0.0, east - west))
            * max(0.0, math.sin(math.radians(north)) - math.sin(math.radians(south))))


@gdal_exceptions()
def metric_crs(crs: Any, authid: str, bounds: tuple[float, float, float, float]) -> Any:
    """The layer's CRS when it is projected in metres (not Web Mercator), else the UTM zone of the extent."""
    units = (crs.GetLinearUnitsName() or "").lower() if not crs.IsGeographic() else ""
    if authid.upper() not in WEB_MERCATOR and units in ("metre", "meter", "m"):
        return crs
    west, south, east, north = transform_bounds(crs, spatial_reference("EPSG:4326"), bounds)
    return spatial_reference(f"EPSG:{utm_epsg((west + east) / 2, (south + north) / 2)}")


def raster_for_layer(layer: Any, extent: QgsRectangle | None, feedback: Any, max_area_km2: float = MAX_AREA_KM2,
                     temp_dir: str | None = None) -> str | LayerInput:
    """What the pipeline reads for ``layer``: its file path, the file clipped to ``extent`` (a VRT in
    ``temp_dir``), or a :class:`LayerInput` reading through the data provider. ``extent`` is in the layer's CRS.
    """
    if is_file_layer(layer):
        path = layer.source().split("|")[0]
        if extent is None:
            return path
        return clip_file(path, clipped_extent(layer, extent), temp_dir or os.path.dirname(path))
    return LayerInput(layer, extent, feedback, max_area_km2)


def clipped_extent(layer: Any, extent: QgsRectangle) -> QgsRectangle:
    """``extent`` intersected with the layer's; a clear error when they do not overlap."""
    if extent.isEmpty() or not extent.isFinite():
        raise InputRasterError(f"EXTENT {extent.toString(6)} is empty. Draw or type the area to process.")
    overlap = extent.intersect(layer.extent())
    if overlap.isEmpty() or overlap.width() <= 0 or overlap.height() <= 0:
        raise InputRasterError(
            f"EXTENT ({extent.toString(6)} in {layer.crs().authid() or 'the layer CRS'}) does not overlap layer "
            f"'{layer.name()}' ({layer.extent().toString(6)}). Choose an area the layer covers."
        )
    return overlap


@gdal_exceptions()
def clip_file(path: str, extent: QgsRectangle, temp_dir: str) -> str:
    """A GDAL VRT of ``path`` cut to ``extent`` (no pixels copied; rotated rasters are warped north-up)."""
    from osgeo import gdal

    os.makedirs(temp_dir, exist_ok=True)
    vrt = os.path.join(temp_dir, f"clip_{uuid.uuid4().hex[:8]}.vrt")
    try:
        source = gdal.Open(path)
        _, _, row_rotation, _, col_rotation, _ = source.GetGeoTransform()
        source = None
        if row_rotation or col_rotation:
            gdal.Warp(vrt, path, format="VRT", resampleAlg="bilinear",
                      outputBounds=(extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()))
        else:
            gdal.Translate(vrt, path, format="VRT",
                           projWin=[extent.xMinimum(), extent.yMaximum(), extent.xMaximum(), extent.yMinimum()])
    except RuntimeError as exc:
        raise InputRasterError(f"Cannot clip raster {path} to EXTENT: {exc}. Check the file opens in QGIS.") from exc
    return vrt


class LayerInput:
    """A QGIS raster layer as the pipeline's ``RasterInput``; the extent is checked here, before any download.

    ``extent`` (layer CRS) defaults to the layer's extent; XYZ layers, which cover the whole world, need one.
    Areas above ``max_area_km2`` are refused. ``feedback`` (a QgsProcessingFeedback or None) receives
    reading progress and warnings and is polled for cancel.
    """

    def __init__(self, layer: Any, extent: QgsRectangle | None, feedback: Any = None,
                 max_area_km2: float = MAX_AREA_KM2, block_size: int = BLOCK_SIZE) -> None:
        self.layer, self.feedback, self.block_size = layer, feedback, block_size
        self.name = layer.name()
        self.crs = layer_srs(layer.crs(), self.name)
        if extent is None and is_xyz_layer(layer):
            raise InputRasterError(
                f"Layer '{self.name}' is an XYZ tile layer, which covers the whole world: set EXTENT to the area to "
                f"process (at most {max_area_km2:g} km², see MAX_AREA_KM2), e.g. the map canvas extent."
            )
        rect = clipped_extent(layer, extent if extent is not None else layer.extent())
        self.bounds = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        area = area_km2(self.bounds, self.crs)
        if area > max_area_km2:
            what = "EXTENT" if extent is not None else f"The extent of layer '{self.name}' (EXTENT is empty)"
            shown = "beyond the CRS's valid area" if math.isinf(area) else f"{area:,.1f} km²"
            raise InputRasterError(
                f"{what} covers {shown}, more than MAX_AREA_KM2 ({max_area_km2:g} km²): downloading it would take "
                "very long. Set EXTENT to a smaller area (e.g. the map canvas extent), or raise MAX_AREA_KM2 if you "
                "do mean to process that much."
            )
        self.area_km2 = area
        self.processing_crs = metric_crs(self.crs, layer.crs().authid(), self.bounds)

    def open(self, gsd_m: float | None, bands: list[int] | None, band_count: int,
             warnings: list[str]) -> ProviderReader:
        return ProviderReader(self, gsd_m, bands, band_count, warnings)


class ProviderReader:
    """Windowed reads of a layer's data provider on a metric processing grid (see the module docstring)."""

    thread_safe_reads = False  # QGIS providers are read on the thread that opened them

    def __init__(self, source: LayerInput, gsd_m: float | None, bands: list[int] | None, band_count: int,
                 warnings: list[str]) -> None:
        self.source, self.feedback, self.warnings = source, source.feedback, warnings
        layer = source.layer
        # Our own copy of the provider (QGIS's advice for use off the main thread); the GDAL provider's copy
        # reports itself invalid yet reads fine, so validity is the layer's.
        self.provider = layer.dataProvider().clone() if layer.isValid() and layer.dataProvider() else None
        if self.provider is None:
            raise InputRasterError(f"Layer '{source.name}' cannot be read (its data provider is not valid). Check "
                                   "that the layer shows in QGIS.")
        self.colour = self.provider.dataType(1) in COLOUR_TYPES
        self._setup_bands(bands, band_count)
        self.native = self._native_resolutions()
        self.grid = self._grid(gsd_m)
        size = source.block_size
        self.blocks_x = math.ceil(self.grid.width / size)
        self.blocks_y = math.ceil(self.grid.height / size)
        self.cache: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.cache_size = 3 * self.blocks_x + 2
        self.windows_read = 0
        self.requests: set[str] = set()
        self.failed_windows: list[str] = []
        self.failed_pixels = 0
        self.started = time.perf_counter()
        self._info(
            f"Reading layer '{source.name}' ({source.layer.providerType()} provider) through QGIS over "
            f"{source.area_km2:.3g} km²: {self.blocks_x * self.blocks_y} window(s) of up to {size} px, "
            f"{'RGB colour' if self.colour else 'bands ' + ', '.join(map(str, self.bands))}."
        )

    # Setup -------------------------------------------------------------------------------------------
    def _setup_bands(self, bands: list[int] | None, band_count: int) -> None:
        provider = self.provider
        if self.colour:
            chosen = list(bands) if bands else [1, 2, 3][:band_count]
            if len(chosen) != band_count or any(b not in (1, 2, 3) for b in chosen):
                raise InputRasterError(
                    f"Layer '{self.source.name}' gives RGB colour (bands 1-3 = red, green, blue) and the model "
                    f"expects {band_count} band(s); BANDS is {bands or 'empty'}. List {band_count} of bands 1-3, or "
                    "use a model for RGB imagery."
                )
            self.bands, self.dtype, self.alpha_band = chosen, np.dtype(np.uint8), None
            return
        count = provider.bandCount()
        names = [INTERPRETATION_NAMES.get(provider.colorInterpretation(b), "undefined") for b in range(1, count + 1)]
        self.bands = select_bands(names, bands, band_count, None, self.warnings)
        kinds = {provider.dataType(b) for b in self.bands}
        if len(kinds) != 1 or next(iter(kinds)) not in NUMPY_TYPES:
            raise InputRasterError(f"Layer '{self.source.name}' has bands of an unsupported data type (complex or "
                                   "mixed). Export the bands you need as a GeoTIFF and run on it.")
        self.dtype = np.dtype(NUMPY_TYPES[next(iter(kinds))])
        self.alpha_band = names.index("alpha") + 1 if "alpha" in names else None

    def _native_resolutions(self) -> list[float]:
        """Pixel sizes (layer units) the provider serves without resampling, finest first; [] if any size."""
        provider = self.provider
        resolutions = [r for r in provider.nativeResolutions() if r > 0]
        if not resolutions and provider.capabilities() & QgsRasterDataProvider.Size and provider.xSize() > 0:
            resolutions = [provider.extent().width() / provider.xSize()]
        return sorted(resolutions)

    @gdal_exceptions()
    def _metres_per_unit(self) -> float:
        """Ground metres per layer-CRS unit near the extent's centre."""
        left, bottom, right, top = self.source.bounds
        cx, cy = (left + right) / 2, (bottom + top) / 2
        step = max(right - left, top - bottom) / 100
        xs, ys = transform_points(self.source.crs, self.source.processing_crs, [cx, cx + step], [cy, cy])
        return math.hypot(xs[1] - xs[0], ys[1] - ys[0]) / step

    @gdal_exceptions()
    def _grid(self, gsd_m: float | None) -> ProcessingGrid:
        per_unit = self._metres_per_unit()
        native_m = self.native[0] * per_unit if self.native else None
        if gsd_m and gsd_m > 0:
            target = gsd_m
        elif native_m:
            target = native_m
        else:
            raise InputRasterError(f"Layer '{self.source.name}' has no native resolution, so RESOLUTION 0 (native) "
                                   "is undefined. Set RESOLUTION in metres per pixel (empty uses the model's).")
        if native_m and native_m / target > MAX_UPSAMPLING:
            raise InputRasterError(
                f"Layer '{self.source.name}' is served at {native_m:.3g} m per pixel at best, and processing at "
                f"{target:.3g} m would upsample it {native_m / target:.0f}-fold: the model cannot see buildings in "
                "imagery this coarse. Use a layer with finer imagery (a higher zoom level), or set RESOLUTION nearer "
                f"to {native_m:.2g}."
            )
        left, bottom, right, top = self.source.bounds
        unit = self.native[0] if self.native else target / per_unit
        width = max(1, int(round((right - left) / unit)))
        height = max(1, int(round((top - bottom) / unit)))
        transform, width, height = suggested_grid(self.source.crs, self.source.processing_crs, width, height,
                                                  (left, bottom, right, top), target)
        return ProcessingGrid(self.source.processing_crs.ExportToWkt(), transform, width, height, target)

    # The reader interface ------------------------------------------------------------------------------
    @property
    def source_crs_wkt(self) -> str:
        return self.source.crs.ExportToWkt()

    @gdal_exceptions()
    def footprint(self) -> Any:
        """The processed extent as a polygon in the grid CRS (outputs are clipped to it)."""
        from shapely.geometry import Polygon

        left, bottom, right, top = self.source.bounds
        steps = np.linspace(0.0, 1.0, 50, endpoint=False)
        xs = left + (right - left) * np.concatenate([steps, np.ones(50), 1 - steps, np.zeros(50)])
        ys = top - (top - bottom) * np.concatenate([np.zeros(50), steps, np.ones(50), 1 - steps])
        xs, ys = transform_points(self.source.crs, self.source.processing_crs, xs, ys)
        return Polygon(zip(xs, ys)).buffer(0)

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """A window of the processing grid: (bands, h, w) float32 data and (h, w) validity; the caller pads."""
        height = min(height, self.grid.height - row)
        width = min(width, self.grid.width - col)
        data = np.zeros((len(self.bands), height, width), np.float32)
        valid = np.zeros((height, width), bool)
        size = self.source.block_size
        for by in range(row // size, (row + height - 1) // size + 1):
            for bx in range(col // size, (col + width - 1) // size + 1):
                block, block_valid = self._block(by, bx)
                r0, r1 = max(row, by * size), min(row + height, by * size + block.shape[1])
                c0, c1 = max(col, bx * size), min(col + width, bx * size + block.shape[2])
                data[:, r0 - row:r1 - row, c0 - col:c1 - col] = block[:, r0 - by * size:r1 - by * size,
                                                                      c0 - bx * size:c1 - bx * size]
                valid[r0 - row:r1 - row, c0 - col:c1 - col] = block_valid[r0 - by * size:r1 - by * size,
                                                                          c0 - bx * size:c1 - bx * size]
        return data, valid

    def sample(self, max_side: int = 1024) -> np.ma.MaskedArray:
        """The whole extent decimated to at most ``max_side`` px, invalid masked (for value stretching)."""
        factor = max(1.0, max(self.grid.width, self.grid.height) / max_side)
        width = max(1, int(self.grid.width / factor))
        height = max(1, int(self.grid.height / factor))
        transform = self.grid.transform * Affine.scale(self.grid.width / width, self.grid.height / height)
        data, valid, failures = self._fetch_with_retries(transform, width, height)
        if failures:
            raise InputRasterError(f"Cannot read layer '{self.source.name}' to compute its value range: "
                                   f"{failures[0]}. Check that the layer shows in QGIS and try again.")
        return np.ma.masked_invalid(np.ma.masked_array(data.astype(np.float32),
                                                       np.broadcast_to(~valid, data.shape)))

    def close(self) -> None:
        if self.windows_read:
            failed = f", {len(self.failed_windows)} incomplete" if self.failed_windows else ""
            self._info(f"Read {self.windows_read} window(s) from layer '{self.source.name}' in "
                       f"{time.perf_counter() - self.started:.1f} s ({len(self.requests)} network request(s){failed}).")
        self.cache.clear()
        self.provider = None

    def __enter__(self) -> ProviderReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Windows ---------------------------------------------------------------------------------------------
    def _block(self, by: int, bx: int) -> tuple[np.ndarray, np.ndarray]:
        """Window (by, bx) of the grid, from the cache or read (with retries) and cached."""
        key = (by, bx)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        self._check_canceled()
        size = self.source.block_size
        row, col = by * size, bx * size
        height, width = min(size, self.grid.height - row), min(size, self.grid.width - col)
        number, total = by * self.blocks_x + bx + 1, self.blocks_x * self.blocks_y
        if self.feedback is not None:
            self.feedback.setProgressText(f"Reading window {number}/{total} of layer '{self.source.name}'…")
        transform = self.grid.transform * Affine.translation(col, row)
        data, valid, failures = self._fetch_with_retries(transform, width, height)
        self.windows_read += 1
        if failures:
            self._report_failed_window(number, total, row, col, height, width, valid, failures)
        if not self.colour:
            data = data.astype(np.float32)
        self.cache[key] = (data, valid)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return data, valid

    def _report_failed_window(self, number: int, total: int, row: int, col: int, height: int, width: int,
                              valid: np.ndarray, failures: list[str]) -> None:
        bounds = self._layer_bounds(self.grid.transform * Affine.translation(col, row), width, height)
        corners = ", ".join(f"{v:.{6 if self.source.crs.IsGeographic() else 1}f}" for v in bounds)
        where = (f"window {number} of {total} (grid rows {row}-{row + height - 1}, columns {col}-{col + width - 1}; "
                 f"{self._authid()} {corners})")
        message = (f"Layer '{self.source.name}': {where} could not be read completely after "
                   f"{len(RETRY_DELAYS_S) + 1} tries: {len(failures)} request(s) failed, e.g. {failures[0]}. Its "
                   "missing pixels count as nodata, so buildings there are missing; run that area again later "
                   "(EXTENT).")
        self.failed_windows.append(where)
        self.warnings.append(message)
        if self.feedback is not None:
            self.feedback.pushWarning(message)
        self.failed_pixels += int(np.count_nonzero(~valid))
        share = self.failed_pixels / (self.grid.width * self.grid.height)
        if share > MAX_FAILED_FRACTION:
            raise InputRasterError(
                f"Layer '{self.source.name}' could not be read: {share:.0%} of the area is missing after retries "
                f"({len(self.failed_windows)} window(s) failed; last error: {failures[0]}). The service is failing or "
                "unreachable: check that the layer shows in QGIS and your connection, then try again later or "
                "with a smaller EXTENT."
            )

    def _fetch_with_retries(self, transform: Any, width: int, height: int) -> tuple[np.ndarray, np.ndarray,
                                                                                      list[str]]:
        """Fetch a grid window; windows with failed requests are fetched again after RETRY_DELAYS_S."""
        data, valid, failures = self._fetch(transform, width, height)
        for delay in RETRY_DELAYS_S:
            if not failures:
                break
            self._sleep(delay)
            data, valid, failures = self._fetch(transform, width, height)
        return data, valid, failures

    def _fetch(self, transform: Any, width: int, height: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """One attempt: request the window's area from the provider and warp it onto the grid window."""
        left, bottom, right, top = self._layer_bounds(transform, width, height)
        target = min((right - left) / width, (top - bottom) / height)
        res = self._request_resolution(target)
        margin = 2 * res  # room for the resampling kernel at the window's edges
        ox, oy = self.provider.extent().xMinimum(), self.provider.extent().yMaximum()
        x0 = ox + math.floor((left - margin - ox) / res) * res
        x1 = ox + math.ceil((right + margin - ox) / res) * res
        y1 = oy - math.floor((oy - top - margin) / res) * res
        y0 = oy - math.ceil((oy - bottom + margin) / res) * res
        cols, rows = max(1, int(round((x1 - x0) / res))), max(1, int(round((y1 - y0) / res)))
        stack, failures = self._request(QgsRectangle(x0, y0, x1, y1), cols, rows)
        return (*self._warp(stack, Affine(res, 0.0, x0, 0.0, -res, y1), transform, width, height, target, res),
                failures)

    def _request_resolution(self, target: float) -> float:
        """Pixel size (layer units) to request: the coarsest native one not coarser than ``target``."""
        finer = [r for r in self.native if r <= target * 1.05]
        if finer and finer[-1] >= target / 2.5:
            return finer[-1]
        if not finer and self.native:
            return self.native[0]
        return target / 2 if self.native else target

    def _request(self, rect: QgsRectangle, cols: int, rows: int) -> tuple[np.ndarray, list[str]]:
        """(channels, rows, cols) pixels of ``rect`` from the provider, the last channel validity (0/255), and
        the failures: network replies with errors and provider block errors."""
        failures: list[str] = []
        block_feedback = QgsRasterBlockFeedback()
        manager = QgsNetworkAccessManager.instance()  # this thread's: it sees the provider's requests

        def on_finished(reply: Any) -> None:
            url = reply.request().url().toString()
            self.requests.add(url)
            status = reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
            if reply.error() == QNetworkReply.NetworkError.NoError:
                kind = bytes(reply.rawHeader(b"Content-Type")).decode("latin-1").lower()
                if any(word in kind for word in NOT_IMAGE_TYPES):  # e.g. a WMS ServiceException with HTTP 200
                    failures.append(f"{url}: the server answered {kind} instead of an image")
            elif status not in NO_TILE_HTTP:
                failures.append(f"{url}: {f'HTTP {status} ' if status else ''}{reply.errorString()}")

        manager.finished.connect(on_finished, Qt.ConnectionType.DirectConnection)
        if self.feedback is not None:
            self.feedback.canceled.connect(block_feedback.cancel, Qt.ConnectionType.DirectConnection)
        try:
            with provider_tile_retries_off():  # the reader retries windows itself (compat explains)
                if self.colour:
                    blocks = [self.provider.block(1, rect, cols, rows, block_feedback)]
                else:
                    wanted = self.bands + ([self.alpha_band] if self.alpha_band else [])
                    blocks = [self.provider.block(b, rect, cols, rows, block_feedback) for b in wanted]
        finally:
            manager.finished.disconnect(on_finished)
            if self.feedback is not None:
                self.feedback.canceled.disconnect(block_feedback.cancel)
        self._check_canceled()
        for block in blocks:
            if not block.isValid() or block.error().messageList():
                failures.append(f"the provider returned no data ({block.error().summary() or 'no reason given'})")
        failures += [f"{error}" for error in block_feedback.errors()]
        if any(not block.isValid() for block in blocks):  # nothing usable: the whole window is missing
            channels = len(self.bands) + 1
            return np.zeros((channels, rows, cols), np.uint8 if self.colour else np.float32), failures
        return (self._decode_colour(blocks[0], rows, cols) if self.colour
                else self._decode_bands(blocks, rows, cols)), failures

    @staticmethod
    def _decode_colour(block: Any, rows: int, cols: int) -> np.ndarray:
        """ARGB32 pixels as (4, rows, cols) uint8: red, green, blue, alpha (un-premultiplied)."""
        argb = np.frombuffer(bytes(block.data()), np.uint32)[:rows * cols].reshape(rows, cols)
        out = np.empty((4, rows, cols), np.uint8)
        for index, shift in enumerate((16, 8, 0, 24)):
            out[index] = (argb >> shift) & 0xFF
        if block.dataType() == Qgis.ARGB32_Premultiplied:
            alpha = out[3].astype(np.float32)
            scale = np.where(alpha > 0, 255.0 / np.maximum(alpha, 1.0), 0.0)
            out[:3] = np.clip(np.rint(out[:3] * scale), 0, 255).astype(np.uint8)
        return out

    def _decode_bands(self, blocks: list[Any], rows: int, cols: int) -> np.ndarray:
        """Band blocks as (bands + 1, rows, cols) float32, the last channel validity (0/255)."""
        count = len(self.bands)
        out = np.zeros((count + 1, rows, cols), np.float32)
        valid = np.ones((rows, cols), bool)
        for index, (band, block) in enumerate(zip(self.bands, blocks)):
            values = np.frombuffer(bytes(block.data()), self.dtype)[:rows * cols].reshape(rows, cols)
            values = values.astype(np.float32)
            if self.provider.sourceHasNoDataValue(band) and self.provider.useSourceNoDataValue(band):
                nodata = self.provider.sourceNoDataValue(band)
                valid &= ~(np.isnan(values) if math.isnan(nodata) else values == np.float32(nodata))
            valid &= np.isfinite(values)
            out[index] = np.where(np.isfinite(values), values, 0.0)
        if self.alpha_band:
            alpha_type = NUMPY_TYPES.get(self.provider.dataType(self.alpha_band), np.uint8)
            alpha = np.frombuffer(bytes(blocks[count].data()), alpha_type)[:rows * cols].reshape(rows, cols)
            valid &= alpha > 0
        out[count] = np.where(valid, 255.0, 0.0)
        return out

    def _warp(self, stack: np.ndarray, src_transform: Any, dst_transform: Any, width: int, height: int,
              target: float, res: float) -> tuple[np.ndarray, np.ndarray]:
        """Warp (channels, rows, cols) with validity last onto the grid window: (bands, h, w) data, (h, w) valid.

        GDAL's warper between in-memory datasets, the validity channel as source and target alpha.
        """
        from osgeo import gdal, gdal_array

        channels = stack.shape[0]
        with gdal_exceptions():
            source = gdal_array.OpenArray(np.ascontiguousarray(stack))
            source.SetGeoTransform(src_transform.to_gdal())
            source.SetSpatialRef(self.source.crs)
            kind = gdal_array.NumericTypeCodeToGDALTypeCode(stack.dtype)
            target_ds = gdal.GetDriverByName("MEM").Create("", width, height, channels, kind)
            target_ds.SetGeoTransform(dst_transform.to_gdal())
            target_ds.SetSpatialRef(self.source.processing_crs)
            gdal.Warp(target_ds, source, srcAlpha=True, dstAlpha=True,
                      resampleAlg="bilinear" if target < res * 1.5 else "average")
            out = target_ds.ReadAsArray().reshape(channels, height, width)
        valid = out[-1] > 0
        data = out[:-1]
        if self.colour:
            data = data[[b - 1 for b in self.bands]]
        data[:, ~valid] = 0
        return data, valid

    # Helpers ---------------------------------------------------------------------------------------------
    @gdal_exceptions()
    def _layer_bounds(self, transform: Any, width: int, height: int) -> tuple[float, float, float, float]:
        """Bounds in the layer CRS of a grid window (edges densified: they curve after reprojection)."""
        left, top = transform * (0, 0)
        right, bottom = transform * (width, height)
        return transform_bounds(self.source.processing_crs, self.source.crs, (left, bottom, right, top))

    def _authid(self) -> str:
        return self.source.layer.crs().authid() or "the layer CRS"

    def _check_canceled(self) -> None:
        if self.feedback is not None and self.feedback.isCanceled():
            raise Cancelled()

    def _sleep(self, seconds: float) -> None:
        """Wait before a retry, checking cancel every 0.1 s."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._check_canceled()
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))
        self._check_canceled()

    def _info(self, message: str) -> None:
        if self.feedback is not None:
            self.feedback.pushInfo(message)

