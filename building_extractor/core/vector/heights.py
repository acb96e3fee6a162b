"""Building heights (LOD1) from a height model: per-footprint statistics, extruded blocks, CityJSON.

Heights come from a normalized height model (nDSM/DHM) or from a DSM minus a DTM (the DTM is resampled onto
the DSM grid on the fly when grids differ). The raster is streamed: one window read per building bounding
box, pixels whose centre lies inside the footprint counted (``rasterio.features.geometry_mask``). Nodata and
pixels outside the raster are ignored; a building without valid pixels gets no statistics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputRasterError
from ..progress import Progress, SilentProgress, check_canceled

STATISTICS = ("height_min", "height_max", "height_mean", "height_median", "height_p90")


@dataclass
class HeightStats:
    """Height statistics of one building (None values when no valid pixel lies inside it)."""

    height_min: float | None = None
    height_max: float | None = None
    height_mean: float | None = None
    height_median: float | None = None
    height_p90: float | None = None
    pixel_count: int = 0
    ground: float | None = None  # median DTM under the footprint (DSM-DTM input only)

    def value(self, name: str) -> float | None:
        return getattr(self, name)


def stats_of(values: np.ndarray, ground: np.ndarray | None = None) -> HeightStats:
    """Statistics of a 1-D array of valid heights."""
    if values.size == 0:
        return HeightStats()
    values = values.astype("float64")
    return HeightStats(
        float(values.min()), float(values.max()), float(values.mean()), float(np.median(values)),
        float(np.percentile(values, 90)), int(values.size),
        float(np.median(ground)) if ground is not None and ground.size else None)


def _open(path: str) -> Any:
    import rasterio

    try:
        return rasterio.open(path)
    except Exception as exc:
        raise InputRasterError(f"Cannot open the height raster {path}: {exc}. Give a GDAL-readable raster.") \
            from exc


def _masked_window(dataset: Any, band: int, window: Any) -> np.ndarray:
    """Band values of ``window`` as float64 with NaN where nodata, masked or not finite."""
    data = dataset.read(band, window=window, masked=True).astype("float64")
    values = data.filled(np.nan)
    values[~np.isfinite(values)] = np.nan
    return values


def _pixel_window(dataset: Any, bounds: tuple[float, float, float, float]) -> Any:
    """The raster window covering ``bounds``, clipped to the raster; None when they do not meet."""
    from rasterio.windows import Window, from_bounds

    window = from_bounds(*bounds, transform=dataset.transform)
    col0, row0 = max(0, math.floor(window.col_off)), max(0, math.floor(window.row_off))
    col1 = min(dataset.width, math.ceil(window.col_off + window.width))
    row1 = min(dataset.height, math.ceil(window.row_off + window.height))
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def building_heights(geometries: Sequence[Any], height_path: str, dtm_path: str | None = None,
                     band: int = 1, inner: Sequence[Any] | None = None,
                     progress: Progress | None = None) -> list[HeightStats]:
    """Height statistics per building; geometries are shapely polygons in the height raster's CRS.

    ``height_path`` is an nDSM, or a DSM when ``dtm_path`` is given (height = DSM - DTM). ``inner`` are
    optional shrunken footprints (same order) used instead when they still contain pixels.
    """
    from rasterio.features import geometry_mask
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import Resampling
    from rasterio.windows import transform as window_transform

    progress = progress or SilentProgress()
    with ExitStack() as stack:
        source = stack.enter_context(_open(height_path))
        if not 1 <= band <= source.count:
            raise InputRasterError(f"The height raster has {source.count} band(s); choose a band from 1 to "
                                   f"{source.count}.")
        if source.crs is None:
            raise InputRasterError(f"The height raster {height_path} has no CRS; assign one (e.g. with "
                                   "Assign projection) and run again.")
        dtm = None
        if dtm_path:
            raw = stack.enter_context(_open(dtm_path))
            if raw.crs is None:
                raise InputRasterError(f"The DTM {dtm_path} has no CRS; assign one and run again.")
            same = (raw.crs == source.crs and raw.transform == source.transform
                    and raw.shape == source.shape)
            dtm = raw if same else stack.enter_context(WarpedVRT(
                raw, crs=source.crs, transform=source.transform, width=source.width, height=source.height,
                resampling=Resampling.bilinear))
        _refuse_images(source, band, height_path)
        results = []
        for index, geometry in enumerate(geometries):
            if index % 100 == 0:
                check_canceled(progress)
                progress.set_fraction(index / max(1, len(geometries)))
            stats = HeightStats()
            shapes = [g for g in ((inner[index] if inner is not None else None), geometry)
                      if g is not None and not g.is_empty]
            for shape in shapes:
                window = _pixel_window(source, shape.bounds)
                if window is None:
                    continue
                heights = _masked_window(source, band, window)
                ground = _masked_window(dtm, 1, window) if dtm is not None else None
                if ground is not None:
                    heights = heights - ground
                inside = geometry_mask([shape], out_shape=heights.shape,
                                       transform=window_transform(window, source.transform), invert=True)
                valid = inside & np.isfinite(heights)
                stats = stats_of(heights[valid], ground[valid] if ground is not None else None)
                if stats.pixel_count:
                    break
            results.append(stats)
        _check_coverage(results, geometries, source, dtm, band, height_path, dtm_path)
        _check_plausible(results, geometries, source, dtm, band, progress)
    progress.set_fraction(1.0)
    return results


#: An nDSM has ground near 0 around buildings; a DSM holds elevations. Ground above this (median around the
#: buildings) means the heights are elevations: refused. Above GROUND_WARNING_M it is warned about.
GROUND_REFUSAL_M = 50.0
GROUND_WARNING_M = 3.0
#: Median roof heights above this are no buildings' (the tallest tower is 830 m).
TALLEST_BUILDING_M = 850.0
IMAGE_BANDS = ("red", "green", "blue", "alpha", "palette")


def _refuse_images(source: Any, band: int, path: str) -> None:
    """Refuse a colour image given as height raster: its heights would be the red band's brightness."""
    interpretation = source.colorinterp[band - 1].name.lower()
    if interpretation in IMAGE_BANDS or (source.count >= 3 and source.dtypes[band - 1] == "uint8"):
        raise InputRasterError(
            f"The height raster {path} looks like an image, not a height model: band {band} is "
            f"{interpretation if interpretation in IMAGE_BANDS else 'one of ' + str(source.count) + ' 8-bit bands'}. "
            "Give an nDSM (heights above ground), or a DSM as height raster together with a DTM."
        )


def _check_coverage(results: list[HeightStats], geometries: Sequence[Any], source: Any, dtm: Any, band: int,
                    height_path: str, dtm_path: str | None) -> None:
    """When no building got heights, say why: the height raster or the DTM does not cover the footprints."""
    if not geometries or any(r.pixel_count for r in results):
        return
    covered = [g for g in geometries if g is not None and not g.is_empty and _pixel_window(source, g.bounds)]
    if not covered:
        left, bottom, right, top = source.bounds
        raise InputRasterError(
            f"None of the {len(geometries)} buildings lies on the height raster {height_path} (its extent: "
            f"{left:.6g}, {bottom:.6g} to {right:.6g}, {top:.6g}). Give a height raster that covers the footprints.")
    if dtm is not None:
        window = _pixel_window(source, covered[0].bounds)
        if np.isfinite(_masked_window(source, band, window)).any() and \
                not np.isfinite(_masked_window(dtm, 1, window)).any():
            raise InputRasterError(
                f"The DTM {dtm_path} does not cover the buildings (no ground value under them), so no height can be "
                "computed. Give a DTM that covers the footprints, or an nDSM without a DTM.")


def _ground_around(geometry: Any, source: Any, dtm: Any, band: int) -> float | None:
    """The ground level just outside a footprint, in height units: the 5th percentile of a ring 1-6 pixels
    wide (trees and neighbouring buildings stand higher)."""
    from rasterio.features import geometry_mask
    from rasterio.windows import transform as window_transform

    pixel = abs(source.transform.a)
    ring = geometry.buffer(6 * pixel).difference(geometry.buffer(pixel))
    window = _pixel_window(source, ring.bounds) if not ring.is_empty else None
    if window is None:
        return None
    values = _masked_window(source, band, window)
    if dtm is not None:
        values = values - _masked_window(dtm, 1, window)
    inside = geometry_mask([ring], out_shape=values.shape, transform=window_transform(window, source.transform),
                           invert=True)
    values = values[inside & np.isfinite(values)]
    return float(np.percentile(values, 5)) if values.size else None


def _check_plausible(results: list[HeightStats], geometries: Sequence[Any], source: Any, dtm: Any, band: int,
                     progress: Progress) -> None:
    """Refuse heights that are elevations (a DSM without its DTM) or no building's; warn when doubtful."""
    measured = [(g, r) for g, r in zip(geometries, results) if r.pixel_count and g is not None]
    if not measured:
        return
    step = max(1, len(measured) // 200)  # a sample is enough for a median
    grounds = [level for g, _ in measured[::step] if (level := _ground_around(g, source, dtm, band)) is not None]
    ground = float(np.median(grounds)) if grounds else 0.0
    roof = float(np.median([r.height_median for _, r in measured]))
    hint = ("The DTM and the height raster may use different vertical units or datums; check them."
            if dtm is not None else "If the height raster is a DSM (elevations), give the DTM too (DTM parameter); "
            "else give an nDSM (heights above ground).")
    if abs(ground) > GROUND_REFUSAL_M or abs(roof) > TALLEST_BUILDING_M:
        raise InputRasterError(
            f"The heights are not heights above ground: the ground around the buildings lies at a median {ground:.0f} "
            f"and the buildings' median height is {roof:.0f} (in the raster's units). {hint}")
    if abs(ground) > GROUND_WARNING_M:
        progress.warning(
            f"The ground around the buildings lies at a median {ground:.1f} m, not near 0 as in heights above "
            f"ground; building heights may be off by that much. {hint}")


# LOD1 blocks -------------------------------------------------------------------------------------------
def agreement(measured: Sequence[float | None], reference: Sequence[float | None]) -> dict[str, float | int]:
    """How well measured heights agree with reference heights, over the buildings that have both: the median
    absolute difference, the median signed difference (measured - reference) and Pearson's correlation."""
    pairs = np.array([(m, r) for m, r in zip(measured, reference)
                      if m is not None and r is not None and math.isfinite(m) and math.isfinite(r)], float)
    if len(pairs) < 2:
        return {"buildings": len(pairs), "median_abs_diff_m": float("nan"), "median_diff_m": float("nan"),
                "correlation": float("nan")}
    difference = pairs[:, 0] - pairs[:, 1]
    return {"buildings": len(pairs), "median_abs_diff_m": round(float(np.median(np.abs(difference))), 3),
            "median_diff_m": round(float(np.median(difference)), 3),
            "correlation": round(float(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1]), 4)}


def block_surfaces(polygon: Any, base: float, top: float) -> list[list[list[tuple[float, float, float]]]]:
    """Surfaces of an extruded block: each a list of rings (exterior first), outward-facing, not closed."""
    from shapely.geometry.polygon import orient

    surfaces = []
    for part in getattr(polygon, "geoms", [polygon]):
        part = orient(part, 1.0)  # exterior counter-clockwise, holes clockwise
        rings = [list(part.exterior.coords)[:-1]] + [list(r.coords)[:-1] for r in part.interiors]
        surfaces.append([[(x, y, top) for x, y, *_ in ring] for ring in rings])
        surfaces.append([[(x, y, base) for x, y, *_ in reversed(ring)] for ring in rings])
        for ring in rings:
            for k in range(len(ring)):
                (x0, y0, *_), (x1, y1, *_) = ring[k], ring[(k + 1) % len(ring)]
                surfaces.append([[(x0, y0, base), (x1, y1, base), (x1, y1, top), (x0, y0, top)]])
    return surfaces


def cityjson_lod1(buildings: Sequence[tuple[str, Any, float, float, dict]], epsg: int | None,
                  scale: float = 0.001) -> dict:
    """A CityJSON 1.1 document of LOD1 Solids.

    ``buildings`` holds (id, footprint polygon, base z, roof z, attributes) in a projected CRS (metres).
    """
    vertices: list[tuple[int, int, int]] = []
    index: dict[tuple[int, int, int], int] = {}
    objects = {}
    all_coords = [c for _, poly, base, top, _ in buildings
                  for part in getattr(poly, "geoms", [poly]) for c in part.exterior.coords] or [(0, 0)]
    zs = [b[2] for b in buildings] or [0.0]
    origin = (min(c[0] for c in all_coords), min(c[1] for c in all_coords), min(zs))

    def vertex(x: float, y: float, z: float) -> int:
        key = (round((x - origin[0]) / scale), round((y - origin[1]) / scale), round((z - origin[2]) / scale))
        if key not in index:
            index[key] = len(vertices)
            vertices.append(key)
        return index[key]

    for object_id, polygon, base, top, attributes in buildings:
        shell = [[[vertex(*p) for p in ring] for ring in surface]
                 for surface in block_surfaces(polygon, base, top)]
        objects[str(object_id)] = {
            "type": "Building",
            "attributes": {k: v for k, v in attributes.items() if v is not None},
            "geometry": [{"type": "Solid", "lod": "1", "boundaries": [shell]}],
        }
    document = {
        "type": "CityJSON",
        "version": "1.1",
        "transform": {"scale": [scale, scale, scale], "translate": list(origin)},
        "CityObjects": objects,
        "vertices": [list(v) for v in vertices],
        "metadata": {},
    }
    if epsg:
        document["metadata"]["referenceSystem"] = f"https://www.opengis.net/def/crs/EPSG/0/{epsg}"
    return document
