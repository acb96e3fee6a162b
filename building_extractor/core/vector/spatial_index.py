"""A spatial index that answers with list indices on shapely 1.8 (Debian 12) and shapely 2.x alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SpatialIndex:
    """STRtree over geometries that answers with list indices on shapely 1.8 and 2.x."""

    def __init__(self, geometries: Sequence[Any]) -> None:
        import warnings

        from shapely.strtree import STRtree

        self.geometries = list(geometries)
        self.tree = None
        if self.geometries:
            try:  # shapely 1.8: query returns geometries, query_items returns the stored items
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # ShapelyDeprecationWarning about ``items``
                    self.tree = STRtree(self.geometries, items=list(range(len(self.geometries))))
            except TypeError:  # shapely 2: query returns indices
                self.tree = STRtree(self.geometries)

    def query(self, geom: Any) -> list[int]:
        """Indices of geometries whose bounding box meets ``geom``'s."""
        if self.tree is None:
            return []
        if hasattr(self.tree, "query_items"):
            return sorted(int(i) for i in self.tree.query_items(geom))
        return sorted(int(i) for i in self.tree.query(geom))
