"""Read a raster window by window on a metric processing grid at the model's GSD.

The processing grid is the input's own grid when it is already metric at the wanted resolution; else a
GDAL warped VRT (rasterio ``WarpedVRT``) resamples on read, into a UTM zone when the input is geographic or
Web Mercator (whose "metres" are not ground metres). Nothing but the requested window is ever read.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputRasterError

# Lower-case colour interpretations (GDAL ColorInterp names) that make up RGB.
RGB = ("red", "green", "blue")


@dataclass(frozen=True)
class ProcessingGrid:
    """Pixel grid the model runs on: CRS (WKT), affine transform, size and ground sample distance."""

    crs_wkt: str
    transform: Any  # affine.Affine
    width: int
    height: int
    gsd_m: float

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def _is_web_mercator(crs: Any) -> bool:
    epsg = crs.to_epsg()
    return epsg in (3857, 900913, 3785, 102100)


def utm_crs_for(lon: float, lat: float) -> Any:
    """The WGS 84 / UTM zone CRS that contains (lon, lat)."""
    from rasterio.crs import CRS

    zone = min(60, max(1, int(math.floor((lon + 180.0) / 6.0)) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _native_gsd_m(src: Any) -> float:
    """Approximate ground size of one input pixel in metres."""
    res = abs(src.transform.a)
    if src.crs is None:
        return res
    if src.crs.is_geographic:
        lat = math.radians((src.bounds.top + src.bounds.bottom) / 2)
        return res * 111_320.0 * max(math.cos(lat), 1e-6)
    if _is_web_mercator(src.crs):
        from rasterio.warp import transform as warp_transform

        _, ys = warp_transform(src.crs, "EPSG:4326", [src.bounds.left], [(src.bounds.top + src.bounds.bottom) / 2])
        return res * math.cos(math.radians(ys[0]))
    return res * (src.crs.linear_units_factor[1] if src.crs.linear_units_factor else 1.0)


def select_bands(src: Any, bands: list[int] | None, count: int) -> list[int]:
    """1-based band indexes to read: the given ones, else R, G, B by colour interpretation, else the first."""
    if bands:
        bad = [b for b in bands if b < 1 or b > src.count]
        if bad:
            raise InputRasterError(
                f"BANDS asks for band(s) {bad}, but the raster has {src.count} band(s). Pick bands 1-{src.count}."
            )
        if len(bands) != count:
            raise InputRasterError(f"The model expects {count} bands; BANDS lists {len(bands)}. List {count} bands.")
        return list(bands)
    interp = [ci.name.lower() for ci in src.colorinterp]
    if count == 3 and all(c in interp for c in RGB):
        return [interp.index(c) + 1 for c in RGB]
    data_bands = [i + 1 for i, c in enumerate(interp) if c != "alpha"]
    if len(data_bands) < count:
        raise InputRasterError(
            f"The model expects {count} bands but the raster has {len(data_bands)} data band(s). "
            "Use a raster with enough bands or a model trained for this band count."
        )
    return data_bands[:count]


class RasterSource:
    """A raster opened for windowed reading on a processing grid at ``gsd_m`` (None/0 = native)."""

    def __init__(self, path: str, gsd_m: float | None, bands: list[int] | None = None, band_count: int = 3,
                 warnings: list[str] | None = None) -> None:
        import rasterio

        self.path = path
        self.warnings = warnings if warnings is not None else []
        if not os.path.exists(path) and "://" not in path and not path.startswith("/vsi"):
            raise InputRasterError(f"Raster {path} does not exist. Choose an existing raster file.")
        try:
            self.src = rasterio.open(path)
        except Exception as exc:
            raise InputRasterError(f"GDAL cannot read raster {path}: {exc}. Check the file is a valid raster.") from exc
        try:
            self._setup(gsd_m, bands, band_count)
        except Exception:
            self.src.close()
            raise

    def _setup(self, gsd_m: float | None, bands: list[int] | None, band_count: int) -> None:
        from rasterio.vrt import WarpedVRT
        from rasterio.warp import Resampling, transform_bounds

        src = self.src
        t = src.transform
        if t.b != 0 or t.d != 0:
            self.warnings.append("The raster's geotransform is rotated; it is warped to a north-up grid on read.")
        self.bands = select_bands(src, bands, band_count)
        self.dtype = np.dtype(src.dtypes[self.bands[0] - 1])
        native = _native_gsd_m(src)
        target = gsd_m if gsd_m and gsd_m > 0 else native
        needs_metric = src.crs is not None and (src.crs.is_geographic or _is_web_mercator(src.crs))
        rotated = t.b != 0 or t.d != 0
        if src.crs is None:
            self.warnings.append(
                "The raster has no CRS: pixel units are used as metres, so RESOLUTION, areas and lengths may "
                "be wrong. Assign the right CRS to the raster for correct results."
            )
        if needs_metric:
            lon0, lat0, lon1, lat1 = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
            dst_crs = utm_crs_for((lon0 + lon1) / 2, (lat0 + lat1) / 2)
        else:
            dst_crs = src.crs
        if needs_metric or rotated or abs(target - native) > 1e-3 * native:
            resampling = Resampling.bilinear if target < native * 1.5 else Resampling.average
            kwargs = {"crs": dst_crs, "resampling": resampling}
            if needs_metric or rotated:
                from rasterio.warp import calculate_default_transform

                transform, width, height = calculate_default_transform(
                    src.crs, dst_crs, src.width, src.height, *src.bounds, resolution=target
                )
            else:
                scale = target / native
                transform = src.transform * src.transform.scale(scale, scale)
                width = max(1, int(round(src.width / scale)))
                height = max(1, int(round(src.height / scale)))
            kwargs.update(transform=transform, width=width, height=height)
            self.reader = WarpedVRT(src, **kwargs)
            crs = dst_crs
        else:
            self.reader = src
            transform, width, height, crs = src.transform, src.width, src.height, src.crs
        self.grid = ProcessingGrid(crs.to_wkt() if crs else "", transform, width, height, target)

    def footprint(self) -> Any:
        """The source raster's extent as a polygon in the grid CRS (outputs are clipped to it)."""
        from rasterio.warp import transform
        from shapely.geometry import Polygon, box

        left, bottom, right, top = self.src.bounds
        if self.reader is self.src or self.src.crs is None:
            return box(left, bottom, right, top)
        steps = np.linspace(0.0, 1.0, 50, endpoint=False)  # densified edges: they curve after reprojection
        xs = np.concatenate([left + (right - left) * steps, np.full(50, right),
                             right - (right - left) * steps, np.full(50, left)])
        ys = np.concatenate([np.full(50, top), top - (top - bottom) * steps,
                             np.full(50, bottom), bottom + (top - bottom) * steps])
        gx, gy = transform(self.src.crs, self.grid.crs_wkt, xs.tolist(), ys.tolist())
        return Polygon(zip(gx, gy)).buffer(0)

    @property
    def source_crs_wkt(self) -> str:
        return self.src.crs.to_wkt() if self.src.crs else ""

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Read a window of the processing grid: (bands, h, w) float32 data and (h, w) bool validity.

        The window is clipped to the grid; the caller pads. Validity combines nodata, internal masks,
        alpha bands and the area outside the source footprint.
        """
        from rasterio.windows import Window

        window = Window(col, row, width, height)
        data = self.reader.read(self.bands, window=window, out_dtype="float32")
        masks = self.reader.read_masks(self.bands, window=window)
        valid = np.all(masks > 0, axis=0)
        return data, valid

    def close(self) -> None:
        if self.reader is not self.src:
            self.reader.close()
        self.src.close()

    def __enter__(self) -> "RasterSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
