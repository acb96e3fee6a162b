"""Building footprints for training and evaluation: read from any OGR file, reprojected to a grid CRS."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BuildingExtractorError

#: Label value of pixels that are no class (unknown, nodata): training and scoring skip them.
IGNORE = 255


def read_polygons(path: str, dst_crs_wkt: str, bounds: tuple[float, float, float, float] | None = None,
                  layer: str | int | None = None, skipped: list[str] | None = None) -> list[Any]:
    """Polygons of a vector file in ``dst_crs_wkt``, optionally only those meeting ``bounds`` (dst CRS).

    The geometry types of features that are not polygons are appended to ``skipped`` (when given)."""
    import fiona
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds, transform_geom
    from shapely.geometry import box, shape

    try:
        collection = fiona.open(path, layer=layer) if layer is not None else fiona.open(path)
    except Exception as exc:
        raise BuildingExtractorError(f"Cannot read footprints from {path}: {exc}") from exc
    with collection:
        src_crs = CRS.from_wkt(collection.crs_wkt) if collection.crs_wkt else CRS.from_epsg(4326)
        dst_crs = CRS.from_wkt(dst_crs_wkt) if dst_crs_wkt else src_crs
        query = None
        if bounds is not None:
            query = transform_bounds(dst_crs, src_crs, *bounds, densify_pts=21)
        features = collection.filter(bbox=query) if query else iter(collection)
        clip = box(*bounds) if bounds is not None else None
        polygons = []
        for feature in features:
            if feature["geometry"] is None:
                continue
            geometry = dict(feature["geometry"])
            if src_crs != dst_crs:
                geometry = transform_geom(src_crs, dst_crs, geometry)
            geom = shape(geometry)
            if not geom.is_valid:
                geom = geom.buffer(0)
            if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
                if skipped is not None and not geom.is_empty:
                    skipped.append(geom.geom_type)
                continue
            if clip is not None and not geom.intersects(clip):
                continue
            polygons.append(geom)
    return polygons


def rasterize_window(polygons: list[Any], transform: Any, shape: tuple[int, int]) -> np.ndarray:
    """Burn polygons into a uint8 0/1 mask of ``shape`` on ``transform``."""
    from rasterio.features import rasterize

    if not polygons:
        return np.zeros(shape, np.uint8)
    return rasterize(((p, 1) for p in polygons), out_shape=shape, transform=transform, fill=0, dtype="uint8")


def rasterize_ids(polygons: list[Any], transform: Any, shape: tuple[int, int]) -> np.ndarray:
    """Burn polygon k (from 1) as value k into an int32 raster of ``shape``; 0 is background."""
    from rasterio.features import rasterize

    if not polygons:
        return np.zeros(shape, np.int32)
    return rasterize(((p, i) for i, p in enumerate(polygons, 1)), out_shape=shape, transform=transform, fill=0,
                     dtype="int32")


def class_lookup(values: list[int]) -> np.ndarray:
    """256-entry table from a raster value to its class index (IGNORE for values that are no class)."""
    lookup = np.full(256, IGNORE, np.uint8)
    for index, value in enumerate(values):
        lookup[int(value)] = index
    return lookup
