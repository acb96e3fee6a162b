"""Turn the stitched building mask into clean polygons with confidence, area and perimeter.

GDAL's Polygonize streams over the mask raster row by row and writes to a temporary GeoPackage, so
neither the mask nor the polygons are ever held whole in memory. Each polygon is then post-processed
with GEOS (fill small holes, drop small buildings, topology-preserving simplify, make valid) and scored
from a window of the probability raster.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import Cancelled
from ..gdal_scope import gdal_exceptions
from ..progress import Progress
from .split import SplitSettings, split_blob

Stats = tuple[float, float]  # mean and max probability (0-1) of a building's pixels


@dataclass
class Building:
    """One output building: geometry (WKB, output CRS) and its attributes."""

    id: int
    wkb: bytes
    confidence: float
    max_probability: float
    area_m2: float
    perimeter_m: float


@dataclass
class PostProcessOptions:
    min_area_m2: float = 4.0
    simplify_m: float = 0.25
    fill_holes_m2: float = 4.0
    regularize: str = ""  # "" = off, else a building_extractor.core.vector.regularize mode (e.g. "right_angles")
    regularize_tolerance_m: float = 0.75
    seed_threshold: float = 0.0  # U-Net: split blobs holding several cores above this probability (0: never)
    seed_min_area_m2: float = 2.0  # smaller cores are not seeds


@gdal_exceptions()
def polygonize_mask(mask_path: str, gpkg_path: str, progress: Progress | None = None) -> int:
    """Polygonize mask == 1 (4-connected) into ``gpkg_path``; returns the number of polygons.

    Reports progress and stops (raising :class:`Cancelled`) when ``progress`` asks to cancel.
    """
    from osgeo import gdal, ogr

    dataset = gdal.Open(mask_path)
    band = dataset.GetRasterBand(1)
    driver = ogr.GetDriverByName("GPKG")
    out = driver.CreateDataSource(gpkg_path)
    # Blobs are read back by fid only: no spatial index to build (GeoPackage makes one by default).
    layer = out.CreateLayer("blobs", srs=dataset.GetSpatialRef(), geom_type=ogr.wkbPolygon,
                            options=["SPATIAL_INDEX=NO"])
    layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
    canceled = []

    def report(complete: float, _message: Any, _data: Any) -> int:
        if progress is None:
            return 1
        progress.set_fraction(complete)
        if progress.is_canceled():
            canceled.append(True)
            return 0  # GDAL stops polygonizing
        return 1

    layer.StartTransaction()
    try:
        gdal.Polygonize(band, band, layer, 0, [], callback=report)
    except RuntimeError:
        if not canceled:
            raise
    if canceled:
        out = dataset = None
        raise Cancelled()
    layer.CommitTransaction()
    count = layer.GetFeatureCount()
    out = None
    dataset = None
    return count


def fill_small_holes(polygon: Any, max_hole_m2: float) -> Any:
    from shapely.geometry import Polygon

    if max_hole_m2 <= 0 or not polygon.interiors:
        return polygon
    keep = [ring for ring in polygon.interiors if Polygon(ring).area >= max_hole_m2]
    return Polygon(polygon.exterior, keep)


def clean_polygon(polygon: Any, options: PostProcessOptions) -> Any | None:
    """Fill holes, simplify and make valid; None when the building is smaller than ``min_area_m2``."""
    from shapely.geometry import MultiPolygon
    from shapely.validation import make_valid

    if polygon.area < options.min_area_m2:  # holes only make it smaller: a cheap early exit for specks
        polygon = fill_small_holes(polygon, options.fill_holes_m2)
        if polygon.area < options.min_area_m2:
            return None
    polygon = fill_small_holes(polygon, options.fill_holes_m2)
    if options.simplify_m > 0:
        polygon = polygon.simplify(options.simplify_m, preserve_topology=True)
    if not polygon.is_valid:
        polygon = make_valid(polygon)
    parts = [g for g in getattr(polygon, "geoms", [polygon]) if g.geom_type == "Polygon" and not g.is_empty]
    parts = [fill_small_holes(p, options.fill_holes_m2) for p in parts if p.area >= options.min_area_m2]
    if not parts:
        return None
    polygon = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    return regularized(polygon, options) if options.regularize else polygon


def regularized(polygon: Any, options: PostProcessOptions) -> Any:
    """Straight walls and right angles (LOD0), kept only where they stay close to the mask (IoU guard).

    Buildings from one mask never touch (4-connected blobs), so each is regularized on its own here; the
    regularize_buildings algorithm also prevents overlaps between arbitrary input polygons.
    """
    from .regularize import RegularizeOptions, regularize_geometry

    settings = RegularizeOptions(mode=options.regularize, tolerance=options.regularize_tolerance_m,
                                 min_hole_area=options.fill_holes_m2, prevent_overlaps=False)
    result = regularize_geometry(polygon, settings)
    return result.geometry if result.geometry is not None and not result.geometry.is_empty else polygon


class ProbabilityRaster:
    """The stitched 0-255 probability raster opened for windowed reads (GDAL)."""

    def __init__(self, path: str) -> None:
        from affine import Affine
        from osgeo import gdal

        with gdal_exceptions():
            self.dataset = gdal.Open(path)
        self.band = self.dataset.GetRasterBand(1)
        self.transform = Affine.from_gdal(*self.dataset.GetGeoTransform())
        self.width, self.height = self.dataset.RasterXSize, self.dataset.RasterYSize
        self.pixel_size = math.hypot(self.transform.a, self.transform.d)

    def read(self, col: int, row: int, width: int, height: int) -> np.ndarray:
        from osgeo import gdal

        values = self.band.ReadAsArray(col, row, width, height)  # raises, or gives None, by GDAL's setting
        if values is None:
            raise RuntimeError(gdal.GetLastErrorMsg() or "GDAL could not read the probability raster")
        return values

    def close(self) -> None:
        self.band = self.dataset = None

    def __enter__(self) -> ProbabilityRaster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@gdal_exceptions()
def rasterized_mask(polygon: Any, transform: Any, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre lies inside ``polygon`` (GDAL's rasterizer, the same that rasterio's geometry_mask
    runs) on a grid of ``shape`` with geotransform ``transform``."""
    from osgeo import gdal, ogr

    target = gdal.GetDriverByName("MEM").Create("", shape[1], shape[0], 1, gdal.GDT_Byte)
    target.SetGeoTransform(transform.to_gdal())
    store = ogr.GetDriverByName("Memory").CreateDataSource("")
    layer = store.CreateLayer("polygon", geom_type=ogr.wkbUnknown)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkb(polygon.wkb))
    layer.CreateFeature(feature)
    gdal.PushErrorHandler("CPLQuietErrorHandler")  # "no spatial reference on layer": none is needed, same grid
    try:
        gdal.RasterizeLayer(target, [1], layer, burn_values=[1])
    finally:
        gdal.PopErrorHandler()
    return target.ReadAsArray().astype(bool)


def polygon_pixels(prob: ProbabilityRaster, polygon: Any) -> tuple[np.ndarray, np.ndarray, Any] | None:
    """The 0-255 probability window around ``polygon`` (grid CRS), its pixels inside the polygon and the
    window's transform; None when the polygon misses the raster."""
    from affine import Affine

    rings = polygon_rings(polygon)
    (left, bottom), (right, top) = rings[0].min(axis=0), rings[0].max(axis=0)  # the envelope: GEOS's bounds
    inverse = ~prob.transform
    xs, ys = zip(*(inverse * corner for corner in ((left, bottom), (right, top))))
    # Offsets rounded down and ends up, clamped to the raster: slivers still get a (small) window.
    col0, col1 = max(0, math.floor(min(xs))), min(prob.width, math.ceil(max(xs)))
    row0, row1 = max(0, math.floor(min(ys))), min(prob.height, math.ceil(max(ys)))
    if col1 <= col0 or row1 <= row0:
        return None
    values = prob.read(col0, row0, col1 - col0, row1 - row0)
    x, y = prob.transform * (col0, row0)  # the window's transform, computed as rasterio's window_transform
    transform = Affine.translation(x - prob.transform.c, y - prob.transform.f) * prob.transform
    inside = pixel_aligned_mask(rings, ~transform, values.shape)
    if inside is None:
        inside = rasterized_mask(polygon, transform, values.shape)
    return values, inside, transform


def polygon_rings(polygon: Any) -> list[np.ndarray]:
    """The (n, 2) coordinates of a polygon's exterior and interior rings, read from its WKB.

    Why not ``ring.coords``: Shapely 1.8 (Debian's) copies coordinates one by one through ctypes, and ``bounds``
    walks the envelope the same way; one WKB export and numpy views cost a fraction (the same doubles).
    """
    data = polygon.wkb
    if data[0] != 1 or int.from_bytes(data[1:5], "little") != 3:  # not a little-endian 2D polygon
        return [np.asarray(ring.coords)[:, :2] for ring in (polygon.exterior, *polygon.interiors)]
    rings, offset = [], 9
    for _ in range(int.from_bytes(data[5:9], "little")):
        count = int.from_bytes(data[offset:offset + 4], "little")
        rings.append(np.frombuffer(data, "<f8", 2 * count, offset + 4).reshape(count, 2))
        offset += 4 + 16 * count
    return rings


def probability_stats(prob_dataset: ProbabilityRaster, polygon: Any) -> tuple[float, float]:
    """Mean and max probability (0-1) of the pixels inside ``polygon`` (grid CRS); (0, 0) when none are."""
    pixels = polygon_pixels(prob_dataset, polygon)
    if pixels is None or not pixels[1].any():
        return 0.0, 0.0
    return _stats(pixels[0][pixels[1]])


def split_touching(prob_dataset: ProbabilityRaster, blob: Any,
                   settings: SplitSettings) -> list[tuple[Any, Stats | None]]:
    """The buildings of one polygonized blob (grid CRS): the blob itself, or its parts around several seeds
    (:mod:`building_extractor.core.vector.split`) as polygons along pixel edges; each with its (mean, max)
    probability when the window was read here (None: not read)."""
    if not settings.enabled:
        return [(blob, None)]
    pixels = polygon_pixels(prob_dataset, blob)
    if pixels is None or not pixels[1].any():
        return [(blob, None)]
    values, inside, transform = pixels
    blob_values = values[inside]
    if blob_values.max() < settings.seed_byte:  # no core at all: nothing to split
        return [(blob, _stats(blob_values))]
    labels, count = split_blob(values, inside, settings)
    if count < 2:
        return [(blob, _stats(blob_values))]
    stats = part_stats(values, labels, count)
    return [(polygon, stats[value]) for polygon, value in polygonize_array(labels, labels > 0, transform.to_gdal())]


@gdal_exceptions()
def polygonize_array(values: np.ndarray, mask: np.ndarray, geotransform: tuple[float, ...]) -> list[tuple[Any, int]]:
    """(shapely polygon, value) for each 4-connected region of equal integer ``values`` where ``mask`` is true.

    GDAL Polygonize on in-memory rasters, read back as WKB. Why not rasterio.features.shapes: it returns the same
    polygons (identical WKB) through GeoJSON-like dicts of Python coordinates, twice as slow per call.
    """
    from osgeo import gdal, gdal_array, ogr
    from shapely import wkb

    source = gdal_array.OpenArray(np.ascontiguousarray(values, dtype=np.int32))
    source.SetGeoTransform(geotransform)
    valid = gdal_array.OpenArray(np.ascontiguousarray(mask, dtype=np.uint8))
    store = ogr.GetDriverByName("Memory").CreateDataSource("")
    layer = store.CreateLayer("regions", geom_type=ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
    gdal.Polygonize(source.GetRasterBand(1), valid.GetRasterBand(1), layer, 0, [])
    return [(wkb.loads(bytes(feature.GetGeometryRef().ExportToWkb())), feature.GetField(0)) for feature in layer]


def _stats(values: np.ndarray) -> Stats:
    """Mean and max of 0-255 probabilities, as 0-1."""
    return float(values.mean() / 255.0), float(values.max() / 255.0)


def part_stats(values: np.ndarray, labels: np.ndarray, count: int) -> list[Stats]:
    """(mean, max) of the 0-255 ``values`` of each label 0..count, from one histogram per label.

    One pass over the window instead of one comparison of the whole window per part (scipy's labelled
    maximum sorts the window: slower still).
    """
    histogram = np.bincount(labels.ravel().astype(np.int64) * 256 + values.ravel(),
                            minlength=(count + 1) * 256).reshape(count + 1, 256)
    sizes = histogram.sum(axis=1)
    sums = histogram @ np.arange(256, dtype=np.int64)
    maxima = np.where(sizes > 0, 255 - np.argmax(histogram[:, ::-1] > 0, axis=1), 0)
    return [(float(total / max(size, 1) / 255.0), float(top / 255.0)) for total, size, top in zip(sums, sizes, maxima)]


def pixel_aligned_mask(rings: list[np.ndarray], to_pixels: Any, shape: tuple[int, int]) -> np.ndarray | None:
    """Pixels inside a polygon whose edges all run along pixel edges (what GDAL Polygonize makes), else None.

    Why not rasterio's geometry_mask: it sets up a GDAL dataset per call, 40 % of the post-processing time of a
    U-Net run in a py-spy profile; for such polygons an even-odd count of the vertical edges crossing each row
    gives the same pixels (same centre rule) in numpy.
    """
    width = shape[1] + 1  # columns of pixel edges
    ends = []  # flat indices of the top and bottom ends of every vertical edge
    a, b, c, d, e, f = to_pixels[:6]
    for ring in rings:
        xs, ys = ring.T
        cols, rows = a * xs + b * ys + c, d * xs + e * ys + f
        ints_c, ints_r = np.rint(cols), np.rint(rows)
        if np.abs(cols - ints_c).max() > 1e-6 or np.abs(rows - ints_r).max() > 1e-6:
            return None
        c0, c1, r0, r1 = ints_c[:-1], ints_c[1:], ints_r[:-1], ints_r[1:]
        if np.any((c0 != c1) & (r0 != r1)):  # a slanted edge
            return None
        vertical = r0 != r1
        # Edges outside the window are clamped onto its border (np.clip is slow on small arrays).
        col = np.minimum(np.maximum(c0[vertical], 0), shape[1]).astype(np.int64)
        top = np.minimum(np.maximum(np.minimum(r0, r1)[vertical], 0), shape[0]).astype(np.int64)
        bottom = np.minimum(np.maximum(np.maximum(r0, r1)[vertical], 0), shape[0]).astype(np.int64)
        ends += [top * width + col, bottom * width + col]
    # Only parities matter: an edge starting or ending at a node flips the parity of the vertical edges that
    # span the rows below it (cumulative sum down), and each spanning edge flips inside/outside (sum across).
    flips = np.bincount(np.concatenate(ends), minlength=(shape[0] + 1) * width).astype(np.int32)
    edges_per_row = np.cumsum(flips.reshape(shape[0] + 1, width), axis=0, dtype=np.int32)[:-1]
    return (np.cumsum(edges_per_row, axis=1, dtype=np.int32)[:, :-1] & 1).astype(bool)


def output_transformer(grid_crs_wkt: str, output_crs_wkt: str) -> Callable[[Any], Any] | None:
    """A function reprojecting shapely geometries from the grid CRS to the output CRS (None if equal).

    Uses OGR (GDAL's PROJ) rather than pyproj so that one PROJ installation serves QGIS and the plugin.
    """
    if not grid_crs_wkt or not output_crs_wkt:
        return None
    from osgeo import ogr, osr
    from shapely import wkb

    src, dst = osr.SpatialReference(), osr.SpatialReference()
    for srs, wkt in ((src, grid_crs_wkt), (dst, output_crs_wkt)):
        srs.ImportFromWkt(wkt)
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if src.IsSame(dst):
        return None
    transformation = osr.CoordinateTransformation(src, dst)

    def reproject(geom: Any) -> Any:
        ogr_geom = ogr.CreateGeometryFromWkb(geom.wkb)
        ogr_geom.Transform(transformation)
        return wkb.loads(bytes(ogr_geom.ExportToWkb()))

    return reproject


#: Blobs post-processed per job (one progress step each).
BLOBS_PER_JOB = 256
#: Fewer blobs than this are post-processed in this process: starting worker processes costs about a second.
MIN_BLOBS_FOR_WORKERS = 2000
#: Masks of this many pixels or more get their worker processes started before GDAL polygonizes them, so the
#: workers' start-up (about a second of CPU each) runs beside it instead of after it.
MIN_PIXELS_FOR_WORKERS = 4_000_000


def crs_to_pixels(polygon: Any, transform: Any) -> Any:
    """An outline along pixel edges (CRS of a raster with affine ``transform``) in pixel coordinates, every
    vertex rounded to its pixel corner."""
    from shapely.ops import transform as apply

    inverse = ~transform

    def to_pixels(xs: Any, ys: Any) -> tuple[Any, Any]:
        xs, ys = np.asarray(xs), np.asarray(ys)
        return (np.rint(inverse.a * xs + inverse.b * ys + inverse.c),
                np.rint(inverse.d * xs + inverse.e * ys + inverse.f))

    return apply(to_pixels, polygon)


def pixels_to_crs(polygon: Any, transform: Any, offset: tuple[int, int] = (0, 0)) -> Any:
    """A polygon in pixel coordinates (x = column, y = row) of a raster lying at ``offset`` (rows, columns) of a
    grid with affine ``transform``, in that grid's CRS.

    Computed as GDAL's Polygonize does (origin + a·column + b·row) on the grid's own pixel numbers: a window of a
    larger grid then gives its outlines the larger grid's coordinates to the last bit, so simplification (whose
    near-ties a last-bit difference flips) decides exactly as on the whole grid (Dask partitions).
    """
    from shapely.ops import transform as apply

    row0, col0 = offset
    t = transform

    def to_crs(xs: Any, ys: Any) -> tuple[Any, Any]:
        cols, rows = np.asarray(xs) + col0, np.asarray(ys) + row0
        return t.c + t.a * cols + t.b * rows, t.f + t.d * cols + t.e * rows

    return apply(to_crs, polygon)


@dataclass(frozen=True)
class PostJob:
    """What a worker needs to post-process a range of blobs (all picklable)."""

    gpkg_path: str
    prob_path: str
    options: PostProcessOptions
    grid_crs_wkt: str
    output_crs_wkt: str
    clip_wkb: bytes | None
    grid_transform: tuple[float, ...] | None = None  # outlines go on this grid's pixel corners (None: the raster's)
    offset: tuple[int, int] = (0, 0)  # the probability raster's position (rows, columns) in that grid


@contextmanager
def started_workers(mask_pixels: int) -> Iterator[tuple[Any, int]]:
    """(pool, processes) for :func:`iter_buildings`, started now for masks of ``MIN_PIXELS_FOR_WORKERS`` or more
    (they import what post-processing needs while GDAL polygonizes the mask); (None, 1) for smaller masks."""
    from ..workers import process_pool, worker_count

    workers = 1 if mask_pixels < MIN_PIXELS_FOR_WORKERS else worker_count(small_job=False)
    with process_pool(workers, initializer=import_post_processing, start=True) as pool:
        yield (pool, workers) if pool is not None else (None, 1)


def import_post_processing() -> None:
    """What :func:`post_process_blobs` imports on its first call, imported as a worker process starts."""
    import scipy.ndimage  # noqa: F401
    import shapely.validation  # noqa: F401
    from osgeo import gdal_array, ogr  # noqa: F401
    from shapely import wkb  # noqa: F401


def iter_buildings(gpkg_path: str, prob_path: str, options: PostProcessOptions, grid_crs_wkt: str,
                   output_crs_wkt: str, progress: Progress, total: int, clip: Any = None,
                   workers: tuple[Any, int] = (None, 1),
                   window: tuple[tuple[float, ...], tuple[int, int]] | None = None) -> Iterator[Building]:
    """Post-process polygonized blobs into :class:`Building` records, in blob order, numbered from 1.

    Jobs of ``BLOBS_PER_JOB`` blobs run in worker processes (:mod:`.workers`): in ``workers`` (from
    :func:`started_workers`) when there is more than one job, else in a pool of their own when there are many
    blobs, else here; the output is the same either way. ``clip`` (grid CRS) trims buildings to the source
    raster's extent after resampling. ``window``: the rasters are a window of a larger grid, given as (its affine
    coefficients, the window's (row, column) in it), whose coordinates the outlines get (:func:`pixels_to_crs`).
    """
    from ..workers import ordered_map, process_pool, worker_count

    grid_transform, offset = window or (None, (0, 0))
    job = PostJob(gpkg_path, prob_path, options, grid_crs_wkt, output_crs_wkt, clip.wkb if clip is not None else None,
                  grid_transform, offset)
    ranges = [(job, first, min(first + BLOBS_PER_JOB, total + 1)) for first in range(1, total + 1, BLOBS_PER_JOB)]
    started, workers = workers
    if started is None:
        workers = worker_count(small_job=total < MIN_BLOBS_FOR_WORKERS)
    next_id = 1
    with process_pool(workers) if started is None else nullcontext(started if len(ranges) > 1 else None) as pool:
        if pool is not None:
            progress.info(f"Post-processing {total} blobs in {workers} worker processes.")
        for done, buildings in enumerate(ordered_map(post_process_blobs, ranges, pool, 2 * workers, progress.warning)):
            if progress.is_canceled():
                raise Cancelled()
            for building in buildings:
                if progress.is_canceled():  # also while the caller writes: a job holds up to 256 blobs
                    raise Cancelled()
                building.id = next_id
                next_id += 1
                yield building
            progress.set_fraction(min(1.0, (done + 1) * BLOBS_PER_JOB / max(total, 1)))
    progress.set_fraction(1.0)


def post_process_blobs(job: PostJob, first_fid: int, end_fid: int) -> list[Building]:
    """The buildings (``id`` 0, numbered by the caller) of the blobs with ``first_fid <= fid < end_fid``."""
    from affine import Affine
    from osgeo import ogr
    from shapely import wkb

    options = job.options
    to_output = output_transformer(job.grid_crs_wkt, job.output_crs_wkt)
    clip = wkb.loads(job.clip_wkb) if job.clip_wkb is not None else None
    source = ogr.Open(job.gpkg_path)
    layer = source.GetLayer(0)
    layer.SetAttributeFilter(f"fid >= {int(first_fid)} AND fid < {int(end_fid)}")
    buildings = []
    with ProbabilityRaster(job.prob_path) as prob:
        split = SplitSettings.from_area(options.seed_threshold, options.seed_min_area_m2, prob.pixel_size)
        grid = Affine(*job.grid_transform) if job.grid_transform else prob.transform
        for feature in layer:
            ogr_geom = feature.GetGeometryRef()
            # Cheap C-side filter first: polygonized specks are most blobs and can never reach MIN_AREA.
            if ogr_geom.GetGeometryRef(0).GetArea() < options.min_area_m2:
                continue
            for blob, stats in split_touching(prob, wkb.loads(bytes(ogr_geom.ExportToWkb())), split):
                blob = pixels_to_crs(crs_to_pixels(blob, prob.transform), grid, job.offset)
                building = _building(blob, stats, prob, options, clip, to_output)
                if building is not None:
                    buildings.append(building)
    source = None
    return buildings


def _building(blob: Any, stats: Stats | None, prob: ProbabilityRaster, options: PostProcessOptions, clip: Any,
              to_output: Any) -> Building | None:
    """One blob (grid CRS) clipped, cleaned and measured; None when nothing of it is kept. ``stats``: the
    blob's (mean, max) probability if known. Its ``id`` is 0: iter_buildings numbers buildings in order."""
    if blob.area < options.min_area_m2:
        return None
    if clip is not None and not clip.contains(blob):
        stats = None  # measured on the part inside the raster
        blob = clip.intersection(blob)
        if blob.is_empty or blob.area < options.min_area_m2:
            return None
        if blob.geom_type != "Polygon":
            blob = max(getattr(blob, "geoms", [blob]), key=lambda g: g.area)
            if blob.geom_type != "Polygon":
                return None
    cleaned = clean_polygon(blob, options)
    if cleaned is None:
        return None
    confidence, max_prob = stats or probability_stats(prob, blob)
    geometry = to_output(cleaned) if to_output else cleaned
    return Building(0, geometry.wkb, round(confidence, 4), round(max_prob, 4), round(cleaned.area, 2),
                    round(cleaned.length, 2))


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks (1.0 when both are empty)."""
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0
