"""Reconcile buildings that several partitions report: one version of each building, fragments merged.

Pieces (see :mod:`.partitions`) wait until every partition that may report another version of them is done.
Pieces of different partitions are one building when their shapes agree where both partitions looked (IoU in
the part of the grid both windows cover, as tiles are matched in ``core.extract.instances``), or when most of the
smaller lies inside the other (one partition split touching buildings that the other kept as one). A group of
such pieces is resolved once: if any partition saw the building whole, one partition's whole versions are kept
(a partition whose core holds the centroid of its version, else the lowest-numbered one); else the fragments
are merged into one polygon. The choice does not depend on the order in which partitions finish, so reruns
give the same buildings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from .partitions import Piece

#: Two partitions' pieces show one building when their IoU, inside the area both partitions read, is this high,
SAME_BUILDING_IOU = 0.5
#: ... or when this share of the smaller one lies inside the other (one partition split a blob the other did not).
INSIDE_SHARE = 0.5


class PieceMerger:
    """Holds pieces until their partitions are done; returns each building once (output CRS, core types)."""

    def __init__(self, grid_crs_wkt: str, output_crs_wkt: str) -> None:
        from ..core.vector.vectorize import output_transformer

        self.pending: list[tuple[Piece, Any]] = []  # (piece, grid polygon)
        self.done: set[int] = set()
        self.to_output = output_transformer(grid_crs_wkt, output_crs_wkt)

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, pieces: Iterable[Piece]) -> None:
        from shapely import wkb

        self.pending += [(piece, wkb.loads(piece.grid_wkb)) for piece in pieces]

    def finish(self, partitions: Iterable[int]) -> list[Any]:
        """Mark ``partitions`` done; the buildings whose every possible version has now arrived."""
        self.done.update(partitions)
        if not self.pending:
            return []
        resolved, keep = [], []
        for group in self._groups():
            members = [self.pending[i] for i in group]
            if all(piece.waits <= self.done for piece, _ in members):
                resolved += self._resolve(members)
            else:
                keep += members
        self.pending = keep
        return resolved

    def _groups(self) -> list[list[int]]:
        """Connected groups of pending pieces that show the same building."""
        from ..core.vector.spatial_index import connected_groups

        def same(i: int, j: int) -> bool:
            (a, a_polygon), (b, b_polygon) = self.pending[i], self.pending[j]
            return a.partition != b.partition and same_building(a, a_polygon, b, b_polygon)

        return connected_groups([polygon for _, polygon in self.pending], same)

    def _resolve(self, members: list[tuple[Piece, Any]]) -> list[Any]:
        whole = [piece for piece, _ in members if piece.whole]
        if whole:
            chosen = min(whole, key=lambda p: (not p.owned, p.partition)).partition
            return [piece.building for piece in whole if piece.partition == chosen]
        return [self._merged([(piece, polygon) for piece, polygon in members])]

    def _merged(self, members: list[tuple[Piece, Any]]) -> Any:
        """One building from the fragments of a building wider than the halo (attributes area-weighted)."""
        from shapely.ops import unary_union

        union = unary_union([polygon for _, polygon in members]).buffer(0)
        parts = [g for g in getattr(union, "geoms", [union]) if g.geom_type == "Polygon"]
        polygon = max(parts, key=lambda g: g.area)
        areas = [max(p.area, 1e-9) for _, p in members]
        first = members[0][0].building

        def weighted(name: str) -> float:
            total = sum(getattr(piece.building, name) * area for (piece, _), area in zip(members, areas))
            return round(total / sum(areas), 4)

        def top(name: str) -> float:
            return max(getattr(piece.building, name) for piece, _ in members)

        if hasattr(first, "mask_confidence"):  # Mask R-CNN: the best detection score, the mean mask probability
            values = {"confidence": top("confidence"), "mask_confidence": weighted("mask_confidence")}
        else:
            values = {"confidence": weighted("confidence"), "max_probability": top("max_probability")}
        geometry = self.to_output(polygon) if self.to_output else polygon
        return replace(first, wkb=geometry.wkb, area_m2=round(polygon.area, 2), perimeter_m=round(polygon.length, 2),
                       **values)


def same_building(a: Piece, a_polygon: Any, b: Piece, b_polygon: Any) -> bool:
    """True when two partitions' pieces agree on one building where both partitions read the raster."""
    from shapely.geometry import box

    x0, y0 = max(a.window[0], b.window[0]), max(a.window[1], b.window[1])
    x1, y1 = min(a.window[2], b.window[2]), min(a.window[3], b.window[3])
    if x1 <= x0 or y1 <= y0 or not a_polygon.intersects(b_polygon):
        return False
    shared = box(x0, y0, x1, y1)
    seen_a, seen_b = a_polygon.intersection(shared), b_polygon.intersection(shared)
    inter = seen_a.intersection(seen_b).area
    union = seen_a.area + seen_b.area - inter
    smaller = min(seen_a.area, seen_b.area)
    return union > 0 and (inter / union >= SAME_BUILDING_IOU or inter >= INSIDE_SHARE * smaller > 0)
