"""A spatial index that answers with list indices on shapely 1.8 (Debian 12) and shapely 2.x alike, and connected
groups of related geometries over it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def connected_groups(geometries: Sequence[Any], related: Callable[[int, int], bool]) -> list[list[int]]:
    """Indices of ``geometries`` in connected groups: ``i`` and ``j`` join when their bounding boxes meet and
    ``related(i, j)`` (asked for ``i < j``, only while they are in different groups). Groups come in the order of
    their first member, each ascending.

    Union-find (path halving) over the pairs an STRtree finds: chains of related geometries become one group
    however far they reach, in about linear time.
    """
    parent = list(range(len(geometries)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    index = SpatialIndex(geometries)
    for i, geometry in enumerate(geometries):
        for j in index.query(geometry):
            if j > i and root(i) != root(j) and related(i, j):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(geometries)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())
