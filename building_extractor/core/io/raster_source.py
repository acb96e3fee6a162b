"""Read a raster window by window on a metric processing grid at the model's GSD.

The processing grid is the input's own grid when it is already metric, north-up and at the wanted
resolution; else a GDAL warped VRT resamples on read, into a UTM zone when the input is geographic or Web
Mercator (whose "metres" are not ground metres), and to a north-up grid when the geotransform is rotated or
flipped. Nothing but the requested window is ever read.

Validity of a pixel combines nodata values, internal masks, alpha bands (used as a mask, never as data),
non-finite float values and the area outside the source footprint after warping.

Only GDAL's own bindings (``osgeo``, which every QGIS ships) are used, no rasterio: extraction must run in a
QGIS with nothing added but the model runtime (issue 19). The grids and pixels are those rasterio gave
(``tests/core/test_raster_source.py`` compares them on the real imagery).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from osgeo import gdal, gdal_array, osr

from ..errors import InputRasterError
from ..gdal_scope import gdal_exceptions

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
WEB_MERCATOR_EPSG = (3857, 900913, 3785, 102100)


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


def spatial_reference(definition: str) -> osr.SpatialReference:
    """A spatial reference from WKT or ``EPSG:n``, with x = easting or longitude (GIS axis order)."""
    srs = osr.SpatialReference()
    srs.SetFromUserInput(definition)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def epsg_code(srs: osr.SpatialReference) -> int | None:
    """The EPSG code of ``srs``: its own authority code, else the best match of 70 % confidence or more
    (as rasterio's ``CRS.to_epsg``)."""
    if (srs.GetAuthorityName(None) or "").upper() == "EPSG" and srs.GetAuthorityCode(None):
        return int(srs.GetAuthorityCode(None))
    for match, confidence in srs.FindMatches() or []:
        if confidence >= 70 and (match.GetAuthorityName(None) or "").upper() == "EPSG":
            return int(match.GetAuthorityCode(None))
    return None


def _is_web_mercator(srs: osr.SpatialReference) -> bool:
    return epsg_code(srs) in WEB_MERCATOR_EPSG


def transform_bounds(src: osr.SpatialReference, dst: osr.SpatialReference, bounds: tuple[float, float, float, float],
                     densify: int = 21) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of ``bounds`` reprojected, edges densified (GDAL's OCTTransformBounds)."""
    return tuple(osr.CoordinateTransformation(src, dst).TransformBounds(*bounds, densify))


def transform_points(src: osr.SpatialReference, dst: osr.SpatialReference, xs: Any, ys: Any) -> tuple[list, list]:
    """Points reprojected from ``src`` to ``dst`` (two coordinate lists)."""
    points = osr.CoordinateTransformation(src, dst).TransformPoints([(float(x), float(y)) for x, y in zip(xs, ys)])
    return [p[0] for p in points], [p[1] for p in points]


def utm_epsg(lon: float, lat: float) -> int:
    """The EPSG code of the WGS 84 / UTM zone that contains (lon, lat)."""
    zone = min(60, max(1, int(math.floor((lon + 180.0) / 6.0)) + 1))
    return (32600 if lat >= 0 else 32700) + zone


def utm_crs_for(lon: float, lat: float) -> Any:
    """The rasterio CRS of the UTM zone that contains (lon, lat) (evaluation and training code use rasterio)."""
    from rasterio.crs import CRS

    return CRS.from_epsg(utm_epsg(lon, lat))


def corner_bounds(transform: Affine, width: int, height: int) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) around the four corners of a raster, whatever its geotransform."""
    corners = [transform * (0, 0), transform * (width, 0), transform * (0, height), transform * (width, height)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return min(xs), min(ys), max(xs), max(ys)


def is_north_up(transform: Any) -> bool:
    """True for the usual geotransform: no rotation, x growing right, y growing up (negative pixel height)."""
    return transform.b == 0 and transform.d == 0 and transform.a > 0 and transform.e < 0


def _native_gsd_m(srs: osr.SpatialReference | None, transform: Affine, width: int, height: int, name: str) -> float:
    """Approximate ground size of one input pixel in metres (in raster units when there is no CRS)."""
    res = math.hypot(transform.a, transform.d)  # length of one pixel step along a row, rotated or not
    if srs is None:
        return res
    left, bottom, right, top = corner_bounds(transform, width, height)
    if srs.IsGeographic():
        if not (-90.0 <= bottom <= top <= 90.0):
            raise InputRasterError(
                f"Raster {name} is in the geographic CRS {_crs_name(srs)}, but its coordinates "
                f"(y {bottom:g} to {top:g}) are not latitudes. The raster's CRS is wrong: assign the right one "
                "(Layer Properties ▸ Source, or gdal_edit.py -a_srs) and run again."
            )
        _check_geographic_extent(name, left, right, bottom, top)
        lat = math.radians((top + bottom) / 2)
        return res * 111_320.0 * max(math.cos(lat), 1e-6)
    if _is_web_mercator(srs):
        wgs84 = spatial_reference("EPSG:4326")
        _, ys = transform_points(srs, wgs84, [left], [(top + bottom) / 2])
        _, lats = transform_points(srs, wgs84, [0.0, 0.0], [bottom, top])
        degrees = 180.0 / WEB_MERCATOR_HALF_WIDTH
        _check_geographic_extent(name, left * degrees, right * degrees, min(lats), max(lats))
        return res * math.cos(math.radians(ys[0]))
    return res * (srs.GetLinearUnits() or 1.0)


def _check_geographic_extent(name: str, left: float, right: float, bottom: float, top: float) -> None:
    """Refuse geographic rasters the metric (UTM) processing grid cannot hold: across the antimeridian (GDAL
    would wrap the part beyond ±180° away and lose it) or reaching the polar caps (UTM is undefined there)."""
    if left < -180.0 or right > 180.0:
        zone = 60 if right > 180.0 else 1
        raise InputRasterError(
            f"Raster {name} crosses the antimeridian (longitudes {left:.7g} to {right:.7g}): the part beyond "
            "±180° would be lost on the way to the metric processing grid. Reproject it to a projected CRS first, e.g. "
            f"EPSG:{32600 + zone if top > 0 else 32700 + zone} (UTM zone {zone}), with Raster ▸ Projections ▸ "
            "Warp or gdalwarp, and run on the result."
        )
    if max(abs(bottom), abs(top)) > UTM_LATITUDE_LIMIT:
        raise InputRasterError(
            f"Raster {name} reaches latitude {max(abs(bottom), abs(top)):g}°, beyond the "
            f"±{UTM_LATITUDE_LIMIT:g}° where UTM (the metric grid rasters in degrees are processed on) is defined. "
            "Reproject it to a polar stereographic CRS first (EPSG:3413 north, EPSG:3031 south) with Raster ▸ "
            "Projections ▸ Warp or gdalwarp, and run on the result."
        )


def _crs_name(srs: osr.SpatialReference) -> str:
    code = epsg_code(srs)
    return f"EPSG:{code}" if code else (srs.GetName() or "(unnamed)")


def suggested_grid(src: osr.SpatialReference, dst: osr.SpatialReference, width: int, height: int,
                   bounds: tuple[float, float, float, float], resolution: float) -> tuple[Affine, int, int]:
    """The grid in ``dst`` at ``resolution`` covering a north-up raster of ``bounds`` in ``src``.

    GDAL's suggested warp output for a stand-in dataset (a VRT: no pixels are allocated), then, as rasterio's
    ``calculate_default_transform`` does, the resolution set with the upper-left corner kept and the size
    scaled and rounded up.
    """
    left, bottom, right, top = bounds
    stand_in = gdal.GetDriverByName("VRT").Create("", width, height, 1)
    stand_in.SetGeoTransform((left, (right - left) / width, 0.0, top, 0.0, (bottom - top) / height))
    stand_in.SetSpatialRef(src)
    suggested = gdal.Warp("", stand_in, format="VRT", dstSRS=dst.ExportToWkt())
    t = Affine.from_gdal(*suggested.GetGeoTransform())
    columns, rows = suggested.RasterXSize, suggested.RasterYSize
    suggested = stand_in = None
    return (Affine(resolution, t.b, t.c, t.d, -resolution, t.f), math.ceil(columns * t.a / resolution),
            math.ceil(rows * t.e / -resolution))


def warped_vrt(dataset: Any, src: osr.SpatialReference, dst: osr.SpatialReference, transform: Affine, width: int,
               height: int, resampling: str, add_alpha: bool) -> Any:
    """A GDAL warped VRT of ``dataset`` on a north-up grid (pixels are computed when read).

    The grid is given as bounds and resolution so that GDAL keeps the transform exactly (from bounds alone it
    would divide their span by the size).
    """
    xres, yres = transform.a, -transform.e
    left, top = transform.c, transform.f
    # The first band's nodata value marks invalid source pixels of every band, which resampling leaves out, as
    # in rasterio's WarpedVRT; the output's validity is its alpha band, so it has no nodata value itself.
    nodata = dataset.GetRasterBand(1).GetNoDataValue()
    return gdal.Warp("", dataset, format="VRT", srcSRS=src.ExportToWkt(), dstSRS=dst.ExportToWkt(),
                     outputBounds=(left, top - height * yres, left + width * xres, top), xRes=xres, yRes=yres,
                     resampleAlg=resampling, dstAlpha=add_alpha, errorThreshold=0.125,
                     srcNodata=None if nodata is None else repr(nodata), dstNodata="None")


def band_dtype(band: Any) -> np.dtype:
    """The numpy type of a band's values; int8 for the Byte bands GDAL 3.6 marks PIXELTYPE=SIGNEDBYTE (as
    rasterio reads them). GDAL 3.7+ has GDT_Int8 instead and warns when PIXELTYPE is asked for."""
    if (band.DataType == gdal.GDT_Byte and int(gdal.VersionInfo()) < 3070000
            and band.GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE") == "SIGNEDBYTE"):
        return np.dtype(np.int8)
    return np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(band.DataType))


def _describe_bands(interp: list[str]) -> str:
    return ", ".join(interp) or "none"


def select_bands(interp: list[str], bands: list[int] | None, count: int, names: list[str] | None = None,
                 warnings: list[str] | None = None) -> list[int]:
    """1-based band indexes to read from a raster whose bands have the (lower-case) colour interpretations
    ``interp``.

    The given ``bands`` when set; else the bands whose colour interpretation matches the model's band
    ``names`` (red, green, blue by default); else the first ``count`` bands that are not alpha (a note is
    added to ``warnings`` when that leaves bands unused). Alpha bands are masks, never data.
    """
    if bands:
        bad = [b for b in bands if b < 1 or b > len(interp)]
        if bad:
            raise InputRasterError(
                f"BANDS asks for band(s) {bad}, but the raster has {len(interp)} band(s). Pick bands 1-{len(interp)}."
            )
        if len(bands) != count:
            raise InputRasterError(f"The model expects {count} bands; BANDS lists {len(bands)}. List {count} bands.")
        return list(bands)
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
            f"(colour interpretation: {_describe_bands(interp)}). {hint}"
        )
    chosen = data_bands[:count]
    if len(data_bands) > count and warnings is not None:
        warnings.append(
            f"The raster has {len(data_bands)} data bands ({_describe_bands(interp)}) and none is labelled as "
            f"{', '.join(names) or 'the model expects'}; bands {', '.join(map(str, chosen))} are used. Set BANDS "
            "to choose others."
        )
    return chosen


def _reason(exc: BaseException) -> str:
    """An exception's text without trailing full stops, to embed in a sentence."""
    return str(exc).strip().rstrip(".") or type(exc).__name__


def _read_errors() -> tuple[type[BaseException], ...]:
    return RuntimeError, OSError  # GDAL raises RuntimeError once exceptions are on


class RasterSource:
    """A raster opened for windowed reading on a processing grid at ``gsd_m`` (None/0 = native).

    ``native_if_unreferenced``: a raster with no georeferencing at all (no CRS, identity geotransform) is
    processed at its native resolution, since its pixel size is unknown.
    """

    def __init__(self, path: str, gsd_m: float | None, bands: list[int] | None = None, band_count: int = 3,
                 warnings: list[str] | None = None, band_names: list[str] | None = None,
                 native_if_unreferenced: bool = False) -> None:
        self.path = path
        self.warnings = warnings if warnings is not None else []
        if not os.path.exists(path) and "://" not in path and not path.startswith("/vsi"):
            raise InputRasterError(f"Raster {path} does not exist. Choose an existing raster file.")
        self.dataset = self.reader = None
        try:
            with gdal_exceptions():
                self.dataset = gdal.OpenEx(path, gdal.OF_RASTER)
        except RuntimeError as exc:
            raise InputRasterError(
                f"GDAL cannot read raster {path}: {_reason(exc)}. Check the file is a complete, valid raster."
            ) from exc
        self.reader = self.dataset
        try:
            with gdal_exceptions():
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
        dataset = self.dataset
        if dataset.RasterCount == 0:
            raise InputRasterError(f"Raster {self.path} has no bands. Choose a raster with image bands.")
        srs = dataset.GetSpatialRef()
        if srs is not None:
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        self.srs = srs
        self.transform = Affine.from_gdal(*dataset.GetGeoTransform())
        width, height = dataset.RasterXSize, dataset.RasterYSize
        unreferenced = srs is None and self.transform.is_identity
        if unreferenced and dataset.GetGCPCount():
            raise InputRasterError(
                f"Raster {self.path} is georeferenced by ground control points only. Warp it to a georeferenced "
                "raster first (Raster ▸ Projections ▸ Warp, or gdalwarp) and run on the result."
            )
        interp = [gdal.GetColorInterpretationName(dataset.GetRasterBand(i).GetColorInterpretation()).lower()
                  for i in range(1, dataset.RasterCount + 1)]
        self.bands = select_bands(interp, bands, band_count, band_names, self.warnings)
        self.dtype = band_dtype(dataset.GetRasterBand(self.bands[0]))
        if self.dtype.kind == "c":
            raise InputRasterError(
                f"Raster {self.path} holds complex values ({self.dtype}), e.g. radar (SAR) data; the model needs "
                "real-valued imagery. Convert it to amplitude first (Raster ▸ Raster Calculator with abs(), or "
                "gdal_calc.py) and run on the result."
            )
        native = self.native_gsd_m = _native_gsd_m(srs, self.transform, width, height, self.path)
        explicit = bool(gsd_m and gsd_m > 0)
        target = gsd_m if explicit and not (unreferenced and native_if_unreferenced) else native
        if unreferenced:
            self.warnings.append(
                "The raster has no georeferencing (no CRS, no geotransform): it is processed "
                + ("at its native resolution" if target == native else f"at {target:g} pixel(s) per output pixel")
                + ", and buildings come out in pixel coordinates with areas and perimeters in pixels. "
                "Georeference the image (Raster ▸ Georeferencer) for metric results."
            )
        elif srs is None:
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
                f"{target / native:.0f}-fold per axis (a grid of about {max(1, round(width * native / target))}"
                f"×{max(1, round(height * native / target))} px): no building would remain. Set RESOLUTION "
                "near the model's ground resolution, or leave it empty."
            )
        north_up = is_north_up(self.transform)
        if not north_up and not unreferenced:
            self.warnings.append(
                "The raster's geotransform is rotated or flipped (not north-up); it is warped to a north-up grid "
                "on read."
            )
        needs_metric = srs is not None and (srs.IsGeographic() or _is_web_mercator(srs))
        if needs_metric:
            lon0, lat0, lon1, lat1 = transform_bounds(srs, spatial_reference("EPSG:4326"),
                                                      corner_bounds(self.transform, width, height))
            dst_srs = spatial_reference(f"EPSG:{utm_epsg((lon0 + lon1) / 2, (lat0 + lat1) / 2)}")
        else:
            dst_srs = srs
        if needs_metric or not north_up or abs(target - native) > 1e-3 * native:
            transform, width, height = self._warped_grid(dst_srs, native, target, needs_metric, north_up)
            # GDAL cannot warp without a CRS; a stand-in on both sides leaves the coordinates as they are.
            warp_srs = srs or spatial_reference(LOCAL_CRS_WKT)
            self.reader = warped_vrt(
                dataset, warp_srs, dst_srs or warp_srs, transform, width, height,
                "bilinear" if target < native * 1.5 else "average",
                # An alpha band marks the area outside the source footprint and carries internal masks along.
                add_alpha="alpha" not in interp,
            )
        else:
            transform = self.transform
        self.grid = ProcessingGrid(dst_srs.ExportToWkt() if dst_srs else "", transform, width, height, target)

    def _warped_grid(self, dst_srs: osr.SpatialReference | None, native: float, target: float, needs_metric: bool,
                     north_up: bool) -> tuple[Affine, int, int]:
        """North-up transform and size of the processing grid when the raster is warped on read."""
        t, width, height = self.transform, self.dataset.RasterXSize, self.dataset.RasterYSize
        left, bottom, right, top = corner_bounds(t, width, height)
        if needs_metric:
            return suggested_grid(self.srs, dst_srs, width, height, (left, bottom, right, top), target)
        if north_up:
            scale = target / native
            return (t * t.scale(scale, scale), max(1, int(round(width / scale))),
                    max(1, int(round(height / scale))))
        unit = target / (native / math.hypot(t.a, t.d))  # metres back to raster units
        columns = max(1, int(math.ceil((right - left) / unit - 1e-9)))
        rows = max(1, int(math.ceil((top - bottom) / unit - 1e-9)))
        return Affine(unit, 0.0, left, 0.0, -unit, top), columns, rows

    @gdal_exceptions()
    def footprint(self) -> Any:
        """The source raster's extent as a polygon in the grid CRS (outputs are clipped to it)."""
        from shapely.geometry import Polygon, box

        t, width, height = self.transform, self.dataset.RasterXSize, self.dataset.RasterYSize
        if self.reader is self.dataset:
            left, top = t * (0, 0)
            right, bottom = t * (width, height)
            return box(left, bottom, right, top)
        steps = np.linspace(0.0, 1.0, 50, endpoint=False)  # densified edges: they curve after reprojection
        cols = np.concatenate([steps, np.ones(50), 1 - steps, np.zeros(50)]) * width
        rows = np.concatenate([np.zeros(50), steps, np.ones(50), 1 - steps]) * height
        xs, ys = t * (cols, rows)
        if self.srs is not None and self.grid.crs_wkt:
            xs, ys = transform_points(self.srs, spatial_reference(self.grid.crs_wkt), xs, ys)
        return Polygon(zip(xs, ys)).buffer(0)

    @property
    def source_crs_wkt(self) -> str:
        return self.srs.ExportToWkt() if self.srs is not None else ""

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Read a window of the processing grid: (bands, h, w) float32 data and (h, w) bool validity.

        The window is clipped to the grid; the caller pads. Invalid pixels (see the module docstring) hold 0.
        """
        try:
            data, masks = self._read(col, row, width, height)
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

    def _read(self, col: int, row: int, width: int, height: int, out_shape: tuple[int, int] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(bands, h, w) float32 values and (bands, h, w) 0/255 masks of a window (decimated to ``out_shape``).

        Runs on the reader thread: GDAL's exception setting is process-wide in 3.6 and another thread may change
        it (:mod:`.gdal_scope`), so failures are caught in both forms, a RuntimeError or a None result.
        """
        reader = self.reader
        rows, columns = out_shape or (height, width)
        # Read in the raster's own type and convert here: GDAL 3.6 converts signed bytes (PIXELTYPE=SIGNEDBYTE)
        # to float as if unsigned.
        data = reader.ReadAsArray(col, row, width, height, buf_xsize=columns, buf_ysize=rows, band_list=self.bands)
        masks = [reader.GetRasterBand(b).GetMaskBand().ReadAsArray(col, row, width, height, columns, rows)
                 for b in self.bands]
        if data is None or any(mask is None for mask in masks):
            raise RuntimeError(gdal.GetLastErrorMsg() or "GDAL could not read the window")
        return data.reshape(len(self.bands), rows, columns).view(self.dtype).astype(np.float32), np.stack(masks)

    def sample(self, max_side: int = 1024) -> np.ma.MaskedArray:
        """The selected bands decimated to at most ``max_side`` px (overviews when present), invalid masked."""
        width, height = self.reader.RasterXSize, self.reader.RasterYSize
        factor = max(1, int(math.ceil(max(width, height) / max_side)))
        shape = (max(1, height // factor), max(1, width // factor))
        try:
            data, masks = self._read(0, 0, width, height, shape)
        except _read_errors() as exc:
            raise InputRasterError(
                f"Cannot read raster {self.path} to compute its value range: {_reason(exc)}. The file is damaged or "
                "incomplete; copy or export it again."
            ) from exc
        return np.ma.masked_invalid(np.ma.masked_array(data, mask=masks == 0))

    def close(self) -> None:
        # The warped VRT refers to the dataset: release it first.
        self.reader = None
        self.dataset = None

    def __enter__(self) -> RasterSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
