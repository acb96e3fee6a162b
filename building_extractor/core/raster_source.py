"""Read a raster window by window on a metric processing grid at the model's GSD.

The processing grid is the input's own grid when it is already metric, north-up and at the wanted
resolution; else a GDAL warped VRT (rasterio ``WarpedVRT``) resamples on read, into a UTM zone when the
input is geographic or Web Mercator (whose "metres" are not ground metres), and to a north-up grid when the
geotransform is rotated or flipped. Nothing but the requested window is ever read.

Validity of a pixel combines nodata values, internal masks, alpha bands (used as a mask, never as data),
non-finite float values and the area outside the source footprint after warping.
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
# Processing a raster on a grid more than this many times finer (per axis) than its pixels is refused:
# the model would see blur, and the grid (and the run time) grows with the square of the factor.
MAX_UPSAMPLING = 10.0
# Processing on a grid this many times coarser (per axis) than the raster's pixels is refused: buildings vanish
# (a RESOLUTION in kilometres, or a raster in the wrong unit), and the grid shrinks to a few pixels.
MAX_DOWNSAMPLING = 100.0
WEB_MERCATOR_HALF_WIDTH = 20037508.342789244  # metres from 0° to 180° of longitude
# UTM, the metric grid geographic rasters are processed in, is defined up to these latitudes.
UTM_LATITUDE_LIMIT = 84.0
# Stand-in CRS to let GDAL warp rasters that have a geotransform but no CRS (source and target are the same,
# so coordinates are not transformed).
LOCAL_CRS_WKT = 'LOCAL_CS["unknown",UNIT["metre",1]]'


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


def corner_bounds(src: Any) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) around the four corners of the raster, whatever its geotransform."""
    t = src.transform
    corners = [t * (0, 0), t * (src.width, 0), t * (0, src.height), t * (src.width, src.height)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return min(xs), min(ys), max(xs), max(ys)


def is_north_up(transform: Any) -> bool:
    """True for the usual geotransform: no rotation, x growing right, y growing up (negative pixel height)."""
    return transform.b == 0 and transform.d == 0 and transform.a > 0 and transform.e < 0


def _native_gsd_m(src: Any) -> float:
    """Approximate ground size of one input pixel in metres (in raster units when there is no CRS)."""
    t = src.transform
    res = math.hypot(t.a, t.d)  # length of one pixel step along a row, rotated or not
    if src.crs is None:
        return res
    left, bottom, right, top = corner_bounds(src)
    if src.crs.is_geographic:
        if not (-90.0 <= bottom <= top <= 90.0):
            raise InputRasterError(
                f"Raster {src.name} is in the geographic CRS {src.crs.to_string()}, but its coordinates "
                f"(y {bottom:g} to {top:g}) are not latitudes. The raster's CRS is wrong: assign the right one "
                "(Layer Properties ▸ Source, or gdal_edit.py -a_srs) and run again."
            )
        _check_geographic_extent(src, left, right, bottom, top)
        lat = math.radians((top + bottom) / 2)
        return res * 111_320.0 * max(math.cos(lat), 1e-6)
    if _is_web_mercator(src.crs):
        from rasterio.warp import transform as warp_transform

        _, ys = warp_transform(src.crs, "EPSG:4326", [left], [(top + bottom) / 2])
        _, lats = warp_transform(src.crs, "EPSG:4326", [0.0, 0.0], [bottom, top])
        degrees = 180.0 / WEB_MERCATOR_HALF_WIDTH
        _check_geographic_extent(src, left * degrees, right * degrees, min(lats), max(lats))
        return res * math.cos(math.radians(ys[0]))
    return res * (src.crs.linear_units_factor[1] if src.crs.linear_units_factor else 1.0)


def _check_geographic_extent(src: Any, left: float, right: float, bottom: float, top: float) -> None:
    """Refuse geographic rasters the metric (UTM) processing grid cannot hold: across the antimeridian (GDAL
    would wrap the part beyond ±180° away and lose it) or reaching the polar caps (UTM is undefined there)."""
    if left < -180.0 or right > 180.0:
        zone = 60 if right > 180.0 else 1
        raise InputRasterError(
            f"Raster {src.name} crosses the antimeridian (longitudes {left:.7g} to {right:.7g}): the part beyond "
            "±180° would be lost on the way to the metric processing grid. Reproject it to a projected CRS first, e.g. "
            f"EPSG:{32600 + zone if top > 0 else 32700 + zone} (UTM zone {zone}), with Raster ▸ Projections ▸ "
            "Warp or gdalwarp, and run on the result."
        )
    if max(abs(bottom), abs(top)) > UTM_LATITUDE_LIMIT:
        raise InputRasterError(
            f"Raster {src.name} reaches latitude {max(abs(bottom), abs(top)):g}°, beyond the "
            f"±{UTM_LATITUDE_LIMIT:g}° where UTM (the metric grid rasters in degrees are processed on) is defined. "
            "Reproject it to a polar stereographic CRS first (EPSG:3413 north, EPSG:3031 south) with Raster ▸ "
            "Projections ▸ Warp or gdalwarp, and run on the result."
        )


def _describe_bands(src: Any) -> str:
    return ", ".join(ci.name.lower() for ci in src.colorinterp) or "none"


def select_bands(src: Any, bands: list[int] | None, count: int, names: list[str] | None = None,
                 warnings: list[str] | None = None) -> list[int]:
    """1-based band indexes to read.

    The given ``bands`` when set; else the bands whose colour interpretation matches the model's band
    ``names`` (red, green, blue by default); else the first ``count`` bands that are not alpha (a note is
    added to ``warnings`` when that leaves bands unused). Alpha bands are masks, never data.
    """
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
    names = [n.lower() for n in (names or (RGB if count == 3 else []))]
    if len(names) == count and all(n in interp for n in names):
        return [interp.index(n) + 1 for n in names]
    data_bands = [i + 1 for i, c in enumerate(interp) if c != "alpha"]
    if len(data_bands) < count:
        model_bands = f" ({', '.join(names)})" if names else ""
        hint = "Use a raster with enough bands or a model trained for this band count."
        if len(data_bands) == 1 and count == 3:
            hint = ("For a greyscale image set BANDS to 1,1,1 to use its band as grey red, green and blue"
                    + ("; for a paletted image convert it to RGB first (Raster ▸ Conversion ▸ PCT to RGB)."
                       if "palette" in interp else "."))
        raise InputRasterError(
            f"The model expects {count} bands{model_bands} but the raster has {len(data_bands)} data band(s) "
            f"(colour interpretation: {_describe_bands(src)}). {hint}"
        )
    chosen = data_bands[:count]
    if len(data_bands) > count and warnings is not None:
        warnings.append(
            f"The raster has {len(data_bands)} data bands ({_describe_bands(src)}) and none is labelled as "
            f"{', '.join(names) or 'the model expects'}; bands {', '.join(map(str, chosen))} are used. Set BANDS "
            "to choose others."
        )
    return chosen


def _reason(exc: BaseException) -> str:
    """An exception's text without trailing full stops, to embed in a sentence."""
    return str(exc).strip().rstrip(".") or type(exc).__name__


def _read_errors() -> tuple[type[BaseException], ...]:
    from rasterio._err import CPLE_BaseError
    from rasterio.errors import RasterioError

    return RasterioError, CPLE_BaseError, OSError


class RasterSource:
    """A raster opened for windowed reading on a processing grid at ``gsd_m`` (None/0 = native).

    ``native_if_unreferenced``: a raster with no georeferencing at all (no CRS, identity geotransform) is
    processed at its native resolution, since its pixel size is unknown.
    """

    def __init__(self, path: str, gsd_m: float | None, bands: list[int] | None = None, band_count: int = 3,
                 warnings: list[str] | None = None, band_names: list[str] | None = None,
                 native_if_unreferenced: bool = False) -> None:
        import rasterio

        self.path = path
        self.warnings = warnings if warnings is not None else []
        if not os.path.exists(path) and "://" not in path and not path.startswith("/vsi"):
            raise InputRasterError(f"Raster {path} does not exist. Choose an existing raster file.")
        try:
            self.src = rasterio.open(path)
        except Exception as exc:
            raise InputRasterError(
                f"GDAL cannot read raster {path}: {_reason(exc)}. Check the file is a complete, valid raster."
            ) from exc
        self.reader = self.src
        try:
            self._setup(gsd_m, bands, band_count, band_names, native_if_unreferenced)
        except InputRasterError:
            self.close()
            raise
        except _read_errors() as exc:
            self.close()
            raise InputRasterError(
                f"Raster {path} cannot be prepared for processing: {_reason(exc)}. Check its georeferencing (CRS and "
                "geotransform) and that the file is complete."
            ) from exc
        except BaseException:
            self.close()
            raise

    def _setup(self, gsd_m: float | None, bands: list[int] | None, band_count: int, band_names: list[str] | None,
               native_if_unreferenced: bool) -> None:
        from rasterio.crs import CRS
        from rasterio.vrt import WarpedVRT
        from rasterio.warp import Resampling, transform_bounds

        src = self.src
        if src.count == 0:
            raise InputRasterError(f"Raster {self.path} has no bands. Choose a raster with image bands.")
        unreferenced = src.crs is None and src.transform.is_identity
        if unreferenced and src.gcps[0]:
            raise InputRasterError(
                f"Raster {self.path} is georeferenced by ground control points only. Warp it to a georeferenced "
                "raster first (Raster ▸ Projections ▸ Warp, or gdalwarp) and run on the result."
            )
        self.bands = select_bands(src, bands, band_count, band_names, self.warnings)
        self.dtype = np.dtype(src.dtypes[self.bands[0] - 1])
        if self.dtype.kind == "c":
            raise InputRasterError(
                f"Raster {self.path} holds complex values ({self.dtype}), e.g. radar (SAR) data; the model needs "
                "real-valued imagery. Convert it to amplitude first (Raster ▸ Raster Calculator with abs(), or "
                "gdal_calc.py) and run on the result."
            )
        native = _native_gsd_m(src)
        explicit = bool(gsd_m and gsd_m > 0)
        target = gsd_m if explicit and not (unreferenced and native_if_unreferenced) else native
        if unreferenced:
            self.warnings.append(
                "The raster has no georeferencing (no CRS, no geotransform): it is processed "
                + ("at its native resolution" if target == native else f"at {target:g} pixel(s) per output pixel")
                + ", and buildings come out in pixel coordinates with areas and perimeters in pixels. "
                "Georeference the image (Raster ▸ Georeferencer) for metric results."
            )
        elif src.crs is None:
            self.warnings.append(
                "The raster has no CRS: pixel units are used as metres, so RESOLUTION, areas and lengths may "
                "be wrong. Assign the right CRS to the raster for correct results."
            )
        if native / target > MAX_UPSAMPLING:
            raise InputRasterError(
                f"The raster's pixels are about {native:.3g} m, and processing at {target:.3g} m would upsample "
                f"them {native / target:.0f}-fold per axis: the model cannot see buildings in imagery this coarse, "
                "and the processing grid would be huge. Use finer imagery, or set RESOLUTION to 0 to process at "
                "the raster's own resolution."
            )
        if target / native > MAX_DOWNSAMPLING:
            raise InputRasterError(
                f"Processing at {target:.3g} m per pixel would shrink the raster's pixels of about {native:.3g} m "
                f"{target / native:.0f}-fold per axis (a grid of about {max(1, round(src.width * native / target))}"
                f"×{max(1, round(src.height * native / target))} px): no building would remain. Set RESOLUTION "
                "near the model's ground resolution, or leave it empty."
            )
        north_up = is_north_up(src.transform)
        if not north_up and not unreferenced:
            self.warnings.append(
                "The raster's geotransform is rotated or flipped (not north-up); it is warped to a north-up grid "
                "on read."
            )
        needs_metric = src.crs is not None and (src.crs.is_geographic or _is_web_mercator(src.crs))
        if needs_metric:
            lon0, lat0, lon1, lat1 = transform_bounds(src.crs, "EPSG:4326", *corner_bounds(src))
            dst_crs = utm_crs_for((lon0 + lon1) / 2, (lat0 + lat1) / 2)
        else:
            dst_crs = src.crs
        if needs_metric or not north_up or abs(target - native) > 1e-3 * native:
            transform, width, height = self._warped_grid(dst_crs, native, target, needs_metric, north_up)
            # GDAL cannot warp without a CRS; a stand-in on both sides leaves the coordinates as they are.
            warp_crs = src.crs or CRS.from_wkt(LOCAL_CRS_WKT)
            has_alpha = any(ci.name.lower() == "alpha" for ci in src.colorinterp)
            self.reader = WarpedVRT(
                src, src_crs=warp_crs, crs=dst_crs or warp_crs, transform=transform, width=width, height=height,
                resampling=Resampling.bilinear if target < native * 1.5 else Resampling.average,
                # An alpha band marks the area outside the source footprint and carries internal masks along.
                add_alpha=not has_alpha,
            )
        else:
            transform, width, height = src.transform, src.width, src.height
        self.grid = ProcessingGrid(dst_crs.to_wkt() if dst_crs else "", transform, width, height, target)

    def _warped_grid(self, dst_crs: Any, native: float, target: float, needs_metric: bool,
                     north_up: bool) -> tuple[Any, int, int]:
        """North-up transform and size of the processing grid when the raster is warped on read."""
        from affine import Affine

        src = self.src
        left, bottom, right, top = corner_bounds(src)
        if needs_metric:
            from rasterio.warp import calculate_default_transform

            return calculate_default_transform(src.crs, dst_crs, src.width, src.height, left, bottom, right, top,
                                               resolution=target)
        if north_up:
            scale = target / native
            width = max(1, int(round(src.width / scale)))
            height = max(1, int(round(src.height / scale)))
            return src.transform * src.transform.scale(scale, scale), width, height
        unit = target / (native / math.hypot(src.transform.a, src.transform.d))  # metres back to raster units
        width = max(1, int(math.ceil((right - left) / unit - 1e-9)))
        height = max(1, int(math.ceil((top - bottom) / unit - 1e-9)))
        return Affine(unit, 0.0, left, 0.0, -unit, top), width, height

    def footprint(self) -> Any:
        """The source raster's extent as a polygon in the grid CRS (outputs are clipped to it)."""
        from rasterio.warp import transform
        from shapely.geometry import Polygon, box

        if self.reader is self.src:
            return box(*self.src.bounds)
        src = self.src
        steps = np.linspace(0.0, 1.0, 50, endpoint=False)  # densified edges: they curve after reprojection
        cols = np.concatenate([steps, np.ones(50), 1 - steps, np.zeros(50)]) * src.width
        rows = np.concatenate([np.zeros(50), steps, np.ones(50), 1 - steps]) * src.height
        xs, ys = src.transform * (cols, rows)
        if src.crs is not None and self.grid.crs_wkt:
            xs, ys = transform(src.crs, self.grid.crs_wkt, list(xs), list(ys))
        return Polygon(zip(xs, ys)).buffer(0)

    @property
    def source_crs_wkt(self) -> str:
        return self.src.crs.to_wkt() if self.src.crs else ""

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Read a window of the processing grid: (bands, h, w) float32 data and (h, w) bool validity.

        The window is clipped to the grid; the caller pads. Invalid pixels (see the module docstring) hold 0.
        """
        from rasterio.windows import Window

        window = Window(col, row, width, height)
        try:
            # Read in the raster's own type and convert here: GDAL 3.6 converts signed bytes (PIXELTYPE=SIGNEDBYTE,
            # rasterio's int8) to float as if unsigned.
            data = self.reader.read(self.bands, window=window).astype(np.float32)
            masks = self.reader.read_masks(self.bands, window=window)
        except _read_errors() as exc:
            raise InputRasterError(
                f"Cannot read the pixels of raster {self.path} near row {row}, column {col} of the processing "
                f"grid: {_reason(exc)}. The file is damaged or incomplete; copy or export it again."
            ) from exc
        valid = np.all(masks > 0, axis=0)
        finite = np.isfinite(data)
        if not finite.all():
            valid &= finite.all(axis=0)
            data[~finite] = 0.0
        return data, valid

    def sample(self, max_side: int = 1024) -> np.ma.MaskedArray:
        """The selected bands decimated to at most ``max_side`` px (overviews when present), invalid masked."""
        reader = self.reader
        factor = max(1, int(math.ceil(max(reader.width, reader.height) / max_side)))
        shape = (len(self.bands), max(1, reader.height // factor), max(1, reader.width // factor))
        try:
            data = reader.read(self.bands, out_shape=shape, masked=True).astype(np.float32)  # see read()
        except _read_errors() as exc:
            raise InputRasterError(
                f"Cannot read raster {self.path} to compute its value range: {_reason(exc)}. The file is damaged or "
                "incomplete; copy or export it again."
            ) from exc
        return np.ma.masked_invalid(data)

    def close(self) -> None:
        if self.reader is not self.src:
            self.reader.close()
        self.src.close()

    def __enter__(self) -> RasterSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
