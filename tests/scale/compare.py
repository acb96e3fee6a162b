"""Compare two building layers written by building_extractor: mask IoU, counts, duplicates, splits."""

from __future__ import annotations

from typing import Any


def read_layer(path: str) -> list[Any]:
    """Shapely geometries of a GeoPackage's first layer."""
    import fiona
    from shapely.geometry import shape

    with fiona.open(path) as layer:
        return [shape(feature["geometry"]) for feature in layer]


def mask_iou(a: list[Any], b: list[Any], raster: str) -> float:
    """IoU of two polygon layers rasterized on ``raster``'s grid (both in its CRS)."""
    import numpy as np
    import rasterio
    from rasterio.features import rasterize

    with rasterio.open(raster) as src:
        shape, transform = (src.height, src.width), src.transform
    masks = [rasterize(g, out_shape=shape, transform=transform, fill=0, default_value=1).astype(bool) if g
             else np.zeros(shape, bool) for g in (a, b)]
    union = np.count_nonzero(masks[0] | masks[1])
    return float(np.count_nonzero(masks[0] & masks[1]) / union) if union else 1.0


def duplicates(buildings: list[Any], share: float = 0.2) -> int:
    """Pairs of buildings of one layer that overlap by more than ``share`` of the smaller one."""
    from building_extractor.core.vector.spatial_index import SpatialIndex

    index, found = SpatialIndex(buildings), 0
    for i, building in enumerate(buildings):
        for j in index.query(building):
            if j > i and building.intersects(buildings[j]):
                if building.intersection(buildings[j]).area > share * min(building.area, buildings[j].area):
                    found += 1
    return found


def splits(reference: list[Any], result: list[Any], share: float = 0.2) -> list[int]:
    """Indices of ``reference`` buildings covered by two or more ``result`` buildings (each > ``share`` of it)."""
    from building_extractor.core.vector.spatial_index import SpatialIndex

    index, found = SpatialIndex(result), []
    for i, building in enumerate(reference):
        parts = [j for j in index.query(building) if result[j].intersects(building)
                 and result[j].intersection(building).area > share * building.area]
        if len(parts) >= 2:
            found.append(i)
    return found
