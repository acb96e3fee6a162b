"""Building footprint regularization (LOD0): straight walls, right angles, diagonals or circles.

Works on shapely polygons in a metric CRS. Per building: Douglas-Peucker simplification at the tolerance,
dominant orientation from a length-weighted histogram of edge directions, each simplified edge snapped to an
allowed direction and refitted (least squares, fixed direction) to the original vertices it covers,
consecutive parallel edges merged (or joined by a perpendicular step), corners rebuilt as line intersections.
A shape is kept only when its IoU with the input reaches ``min_iou``; otherwise the simplified input is kept.
Buildings placed earlier (larger first) are subtracted from later ones, so outputs never overlap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BuildingExtractorError
from ..progress import Progress, SilentProgress, check_canceled
from .spatial_index import SpatialIndex

MODES = ("right_angles", "right_angles_diagonals", "any_angle", "circle")
NEAR_AXIS = math.radians(8.0)  # any_angle mode: edges this close to the main axes are snapped to them
FREE_PARALLEL = math.radians(10.0)  # any_angle mode: consecutive edges closer than this count as parallel


@dataclass
class RegularizeOptions:
    """Settings of :func:`regularize_buildings` (lengths in metres, areas in square metres)."""

    mode: str = "right_angles"
    tolerance: float = 0.75
    min_hole_area: float = 4.0
    min_iou: float = 0.8
    detect_circles: bool = True
    circle_min_iou: float = 0.9
    prevent_overlaps: bool = True

    def validate(self) -> None:
        if self.mode not in MODES:
            raise BuildingExtractorError(f"Unknown regularization mode '{self.mode}'; use one of {MODES}.")
        if not self.tolerance > 0:
            raise BuildingExtractorError("The regularization tolerance must be > 0 metres; try 0.5 to 1.")
        if not 0 <= self.min_iou <= 1:
            raise BuildingExtractorError("The minimum IoU must lie between 0 and 1 (default 0.8).")


@dataclass
class RegularizedBuilding:
    """One output footprint: its geometry, whether the regularized shape was kept, how, and its IoU."""

    geometry: Any
    regularized: bool
    method: str
    iou: float


# Geometry helpers --------------------------------------------------------------------------------------
def iou(a: Any, b: Any) -> float:
    """Intersection over union of two polygonal geometries (0 when either is empty)."""
    if a.is_empty or b.is_empty:
        return 0.0
    union = a.union(b).area
    return float(a.intersection(b).area / union) if union > 0 else 0.0


def polygonal(geometry: Any, min_area: float = 0.0) -> Any:
    """The valid polygonal part of ``geometry`` (Polygon/MultiPolygon, parts below ``min_area`` dropped)."""
    from shapely.geometry import MultiPolygon, Polygon
    from shapely.validation import make_valid

    if geometry is None or geometry.is_empty:
        return Polygon()
    if not geometry.is_valid:
        geometry = make_valid(geometry)
    parts = [g for g in _flatten(geometry) if isinstance(g, Polygon) and g.area > min_area]
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _flatten(geometry: Any) -> Iterable[Any]:
    if hasattr(geometry, "geoms"):
        for part in geometry.geoms:
            yield from _flatten(part)
    else:
        yield geometry


def _ring_array(ring: Any) -> np.ndarray:
    """Vertices of a ring without the closing duplicate and without repeated points."""
    pts = np.asarray(ring.coords, dtype=float)[:-1, :2]
    keep = np.ones(len(pts), bool)
    keep[1:] = np.any(np.abs(np.diff(pts, axis=0)) > 1e-12, axis=1)
    return pts[keep]


def _dp(points: np.ndarray, tol: float) -> list[int]:
    """Douglas-Peucker on an open polyline: indices of the kept vertices (endpoints included)."""
    keep = [0, len(points) - 1]
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        seg = points[b] - points[a]
        rel = points[a + 1:b] - points[a]
        norm = float(np.hypot(*seg))
        if norm < 1e-12:
            dist = np.hypot(rel[:, 0], rel[:, 1])
        else:
            dist = np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / norm
        k = int(np.argmax(dist))
        if dist[k] > tol:
            keep.append(a + 1 + k)
            stack += [(a, a + 1 + k), (a + 1 + k, b)]
    return sorted(set(keep))


def simplify_ring_indices(points: np.ndarray, tol: float) -> list[int]:
    """Douglas-Peucker on a closed ring, started from two mutually far vertices (stable corners)."""
    i0 = int(np.argmax(np.hypot(*(points - points.mean(axis=0)).T)))
    i1 = int(np.argmax(np.hypot(*(points - points[i0]).T)))
    rolled = np.roll(points, -i0, axis=0)
    j = (i1 - i0) % len(points)
    first = _dp(rolled[:j + 1], tol)
    second = [j + k for k in _dp(np.vstack([rolled[j:], rolled[:1]]), tol)]
    indices = sorted(set(first[:-1] + second[:-1]))
    return [(i + i0) % len(points) for i in indices]


def dominant_orientation(rings: Sequence[np.ndarray], period: float = math.pi / 2) -> float:
    """Main direction (radians, in [0, period)) from a length-weighted, smoothed edge-direction histogram."""
    angles, weights = [], []
    for ring in rings:
        edges = np.roll(ring, -1, axis=0) - ring
        angles.append(np.arctan2(edges[:, 1], edges[:, 0]) % period)
        weights.append(np.hypot(edges[:, 0], edges[:, 1]))
    angle, weight = np.concatenate(angles), np.concatenate(weights)
    if weight.sum() <= 0:
        return 0.0
    bins = 90
    centres = (np.arange(bins) + 0.5) * period / bins
    diff = np.abs(centres[:, None] - angle[None, :]) % period
    diff = np.minimum(diff, period - diff)
    sigma = period / 36
    hist = (weight[None, :] * np.exp(-0.5 * (diff / sigma) ** 2)).sum(axis=1)
    peak = centres[int(np.argmax(hist))]
    # refine: weighted circular mean of the edges near the peak (a robust, RANSAC-like consensus)
    d = (angle - peak + period / 2) % period - period / 2
    near = np.abs(d) < period / 9
    if near.any():
        peak += float(np.average(d[near], weights=weight[near]))
    return float(peak % period)


# Ring regularization ---------------------------------------------------------------------------------
@dataclass
class _Edge:
    u: np.ndarray  # unit direction
    c: float  # offset along the normal
    weight: float
    pts: np.ndarray  # original vertices covered (for refits)
    start: np.ndarray  # original vertex at the start
    end: np.ndarray  # original vertex at the end

    @property
    def n(self) -> np.ndarray:
        return np.array([-self.u[1], self.u[0]])


def _offset(u: np.ndarray, pts: np.ndarray) -> tuple[float, float]:
    """Least-squares offset of a line of direction ``u`` through a polyline, and the polyline's length."""
    n = np.array([-u[1], u[0]])
    seg = np.diff(pts, axis=0)
    length = np.hypot(seg[:, 0], seg[:, 1])
    mids = (pts[1:] + pts[:-1]) / 2
    if length.sum() <= 0:
        return float(pts[0] @ n), 0.0
    return float(np.average(mids @ n, weights=length)), float(length.sum())


def _fit_direction(pts: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Principal direction of a point run, oriented like ``fallback``."""
    if len(pts) < 3:
        return fallback
    centred = pts - pts.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    u = vt[0]
    return u if u @ fallback >= 0 else -u


def _snap_direction(u: np.ndarray, theta: float, mode: str) -> np.ndarray:
    alpha = math.atan2(u[1], u[0])
    step = math.pi / 4 if mode == "right_angles_diagonals" else math.pi / 2
    snapped = theta + round((alpha - theta) / step) * step
    if mode == "any_angle" and abs(snapped - alpha) > NEAR_AXIS:
        return u
    return np.array([math.cos(snapped), math.sin(snapped)])


def _parallel(a: _Edge, b: _Edge, mode: str) -> bool:
    cross = abs(a.u[0] * b.u[1] - a.u[1] * b.u[0])
    return cross < (math.sin(FREE_PARALLEL) if mode == "any_angle" else 1e-6)


def _make_edges(points: np.ndarray, indices: list[int], theta: float, mode: str) -> list[_Edge]:
    edges = []
    m = len(indices)
    for k in range(m):
        a, b = indices[k], indices[(k + 1) % m]
        span = points[a:b + 1] if b > a else np.vstack([points[a:], points[:b + 1]])
        chord = span[-1] - span[0]
        norm = float(np.hypot(*chord))
        if norm < 1e-9:
            continue
        u = chord / norm
        if mode == "any_angle":
            u = _fit_direction(span, u)
        u = _snap_direction(u, theta, mode)
        c, weight = _offset(u, span)
        edges.append(_Edge(u, c, weight, span, span[0], span[-1]))
    return edges


def _merge_parallel(edges: list[_Edge], tol: float, mode: str) -> list[_Edge]:
    """Merge consecutive parallel edges whose lines lie within ``tol`` of each other.

    One pass with a stack (each merged edge is compared again with the one before it), then around the ring's
    seam: linear in the number of edges (restarting a scan after every merge was quadratic, minutes for a ring
    of 10,000 vertices).
    """
    def mergeable(a: _Edge, b: _Edge) -> bool:
        return _parallel(a, b, mode) and abs(_offset(a.u, b.pts)[0] - a.c) < tol

    def merge(a: _Edge, b: _Edge) -> _Edge:
        pts = np.vstack([a.pts, b.pts[1:]])
        u = _fit_direction(pts, a.u) if mode == "any_angle" else a.u
        c, weight = _offset(u, pts)
        return _Edge(u, c, weight, pts, a.start, b.end)

    merged: list[_Edge] = []
    for edge in edges:
        merged.append(edge)
        while len(merged) >= 2 and mergeable(merged[-2], merged[-1]):
            last = merged.pop()
            merged[-1] = merge(merged[-1], last)
    while len(merged) > 2 and mergeable(merged[-1], merged[0]):  # across the seam
        merged[0] = merge(merged.pop(), merged[0])
        while len(merged) > 2 and mergeable(merged[0], merged[1]):
            merged[0] = merge(merged[0], merged.pop(1))
    return merged


def _intersect(n1: np.ndarray, c1: float, n2: np.ndarray, c2: float) -> np.ndarray | None:
    det = n1[0] * n2[1] - n1[1] * n2[0]
    if abs(det) < 1e-12:
        return None
    return np.array([(c1 * n2[1] - c2 * n1[1]) / det, (n1[0] * c2 - n2[0] * c1) / det])


def _corners(edges: list[_Edge], mode: str) -> list[np.ndarray]:
    corners = []
    for i, a in enumerate(edges):
        b = edges[(i + 1) % len(edges)]
        if _parallel(a, b, mode):  # a step: join by a perpendicular through the shared original vertex
            n_k = a.u  # the connector's normal is the edge direction
            c_k = float(a.end @ n_k)
            for p in (_intersect(a.n, a.c, n_k, c_k), _intersect(n_k, c_k, b.n, b.c)):
                if p is not None:
                    corners.append(p)
        else:
            p = _intersect(a.n, a.c, b.n, b.c)
            if p is not None:
                corners.append(p)
    return corners


def regularize_ring(points: np.ndarray, theta: float, mode: str, tol: float) -> Any:
    """Regularized polygon of one closed ring (vertices without closing point), or None when it fails."""
    from shapely.geometry import Polygon

    if len(points) < 3:
        return None
    indices = simplify_ring_indices(points, tol)
    if len(indices) < 3:
        return None
    edges = _merge_parallel(_make_edges(points, indices, theta, mode), tol, mode)
    if len(edges) < 3:
        return None
    corners = _corners(edges, mode)
    if len(corners) < 3:
        return None
    shape = polygonal(Polygon(corners).buffer(0) if not Polygon(corners).is_valid else Polygon(corners),
                      min_area=tol * tol)
    if shape.is_empty:
        return None
    return shape.simplify(0)


def circle_of(polygon: Any) -> Any:
    """The circle of equal area centred on the polygon's centroid."""
    radius = math.sqrt(polygon.area / math.pi)
    return polygon.centroid.buffer(radius, 16)


def orientation_candidates(exterior: np.ndarray, tol: float) -> list[float]:
    """Dominant orientations to try: edge-direction histogram peak and minimum rotated rectangle."""
    from shapely.geometry import Polygon

    simplified = exterior[simplify_ring_indices(exterior, tol)]
    candidates = [dominant_orientation([simplified if len(simplified) >= 3 else exterior])]
    # Shapely 1.8's minimum_rotated_rectangle is quadratic in the hull's vertices (a 3,000-vertex circle: 17 s):
    # take it of the hull simplified at the tolerance, which a rectangle's orientation cannot tell apart.
    hull = Polygon(exterior).convex_hull
    if hull.geom_type == "Polygon":
        hull = hull.simplify(tol, preserve_topology=False) if len(hull.exterior.coords) > 64 else hull
    rect = np.asarray(getattr(hull.minimum_rotated_rectangle, "exterior", hull).coords) \
        if not hull.is_empty else np.empty((0, 2))
    if len(rect) >= 3:
        edge = rect[1] - rect[0]
        theta = math.atan2(edge[1], edge[0]) % (math.pi / 2)
        d = abs(theta - candidates[0]) % (math.pi / 2)
        if min(d, math.pi / 2 - d) > math.radians(1.0):
            candidates.append(theta)
    return candidates


def _regularize_with(polygon: Any, exterior: np.ndarray, holes: list[np.ndarray], theta: float,
                     options: RegularizeOptions) -> Any:
    from shapely.geometry import Polygon

    tol = options.tolerance
    shape = regularize_ring(exterior, theta, options.mode, tol)
    if shape is None:
        return None
    for hole in holes:
        hole_shape = regularize_ring(hole, theta, options.mode, tol)
        if hole_shape is None:
            hole_shape = Polygon(hole).simplify(tol, preserve_topology=True)
        shape = shape.difference(hole_shape)
    shape = polygonal(shape, min_area=tol * tol)
    return None if shape.is_empty else shape


def _regularize_polygon(polygon: Any, options: RegularizeOptions) -> tuple[Any, str]:
    """Regularized shape of one Polygon (holes handled) and the method used, or (None, '')."""
    from shapely.geometry import Polygon

    if options.mode == "circle":
        return circle_of(polygon), "circle"
    exterior = _ring_array(polygon.exterior)
    if len(exterior) < 3:
        return None, ""
    holes = [_ring_array(r) for r in polygon.interiors if Polygon(r).area >= options.min_hole_area]
    best, best_iou = None, -1.0
    for theta in orientation_candidates(exterior, options.tolerance):
        shape = _regularize_with(polygon, exterior, holes, theta, options)
        score = iou(shape, polygon) if shape is not None else -1.0
        if score > best_iou:
            best, best_iou = shape, score
    if options.detect_circles:
        circle = circle_of(polygon)
        circle_iou = iou(circle, polygon)
        if circle_iou >= options.circle_min_iou and circle_iou > best_iou + 0.02:
            return circle, "circle"
    return (best, options.mode) if best is not None else (None, "")


def _simplified(geometry: Any, options: RegularizeOptions) -> Any:
    """The fallback: the input simplified at the tolerance, small holes removed."""
    from shapely.geometry import MultiPolygon, Polygon

    parts = []
    for part in _flatten(geometry):
        holes = [r for r in part.interiors if Polygon(r).area >= options.min_hole_area]
        parts.append(Polygon(part.exterior, holes).simplify(options.tolerance / 2, preserve_topology=True))
    shape = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    return polygonal(shape)


#: Footprints with more vertices than this (after dropping those within a quarter of the tolerance) are not
#: regularized but simplified: GEOS overlays (IoU, holes, neighbours) on rings of thousands of noisy vertices
#: cost minutes and gigabytes (a 100,000-vertex polygon: 12 GB, killed after 100 s), and no building has so
#: many corners at the tolerance's scale.
MAX_VERTICES = 2000


def vertex_count(geometry: Any) -> int:
    """Vertices of a Polygon or MultiPolygon, rings' closing points included."""
    return sum(len(part.exterior.coords) + sum(len(r.coords) for r in part.interiors)
               for part in _flatten(geometry) if hasattr(part, "exterior"))


def reduced(geometry: Any, options: RegularizeOptions) -> Any:
    """``geometry`` with the vertices that lie within a quarter of the tolerance of its outline dropped, when it
    has more than MAX_VERTICES (GEOS's topology-preserving simplification: O(n log n))."""
    if vertex_count(geometry) <= MAX_VERTICES:
        return geometry
    return polygonal(geometry.simplify(options.tolerance / 4, preserve_topology=True))


def _around(geometry: Any, distance: float, join_style: Any) -> Any:
    """``geometry`` buffered by ``distance``; for outlines of many vertices its convex hull's buffer (GEOS's buffer
    of a spiky ring grows about quadratically: 2,000 spikes take 5 s)."""
    base = geometry if vertex_count(geometry) <= 200 else geometry.convex_hull
    return base.buffer(distance, join_style=join_style)


def _expanded_box(geometry: Any, distance: float) -> Any:
    """The bounding box of ``geometry`` grown by ``distance`` on every side (the envelope of its buffer)."""
    from shapely.geometry import box

    left, bottom, right, top = geometry.bounds
    return box(left - distance, bottom - distance, right + distance, top + distance)


def regularize_geometry(geometry: Any, options: RegularizeOptions,
                        progress: Progress | None = None) -> RegularizedBuilding:
    """Regularize one building (Polygon or MultiPolygon) with the IoU guard, ignoring neighbours; cancel (via
    ``progress``) is checked between its stages."""
    from shapely.geometry import MultiPolygon
    from shapely.geometry.base import JOIN_STYLE

    progress = progress or SilentProgress()
    geometry = reduced(polygonal(geometry), options)
    check_canceled(progress)
    if geometry.is_empty:
        return RegularizedBuilding(geometry, False, "empty", 0.0)
    if vertex_count(geometry) > MAX_VERTICES:  # a pathological outline: simplified, never regularized
        fallback = _simplified(geometry, options)
        return RegularizedBuilding(fallback, False, "simplified", iou(fallback, geometry))
    shapes, methods = [], set()
    for part in _flatten(geometry):
        check_canceled(progress)
        shape, method = _regularize_polygon(part, options)
        if shape is None:
            shapes = []
            break
        shapes.extend(_flatten(shape))
        methods.add(method)
    if shapes:
        candidate = shapes[0] if len(shapes) == 1 else polygonal(MultiPolygon(shapes).buffer(0))
        # never wander further than a few tolerances from the input (guards against far-off corners)
        limit = _around(geometry, 3 * options.tolerance, JOIN_STYLE.mitre)
        candidate = polygonal(candidate.intersection(limit), min_area=options.tolerance ** 2)
        score = iou(candidate, geometry)
        if score >= options.min_iou and not candidate.is_empty:
            method = methods.pop() if len(methods) == 1 else options.mode
            return RegularizedBuilding(candidate, True, method, score)
    fallback = _simplified(geometry, options)
    return RegularizedBuilding(fallback, False, "simplified", iou(fallback, geometry))


def regularize_buildings(geometries: Sequence[Any], options: RegularizeOptions | None = None,
                         progress: Progress | None = None) -> list[RegularizedBuilding | None]:
    """Regularize every building; larger buildings are placed first and later ones never overlap them.

    ``geometries`` are shapely polygons in a metric CRS (None or empty entries give None). The result keeps
    the input order; an entry is None when nothing is left of a building (e.g. an exact duplicate).
    """
    options = options or RegularizeOptions()
    options.validate()
    progress = progress or SilentProgress()
    inputs = []
    for geometry in geometries:  # reducing a huge outline takes a moment: cancel is checked for each
        check_canceled(progress)
        inputs.append(reduced(polygonal(geometry), options) if geometry is not None else None)
    results: list[RegularizedBuilding | None] = [None] * len(inputs)
    valid = [i for i, g in enumerate(inputs) if g is not None and not g.is_empty]
    order = sorted(valid, key=lambda i: -inputs[i].area)
    reach = {i: _expanded_box(inputs[i], 4 * options.tolerance) for i in valid}
    keys = list(reach)
    tree = SpatialIndex([reach[i] for i in keys])
    for count, i in enumerate(order):
        check_canceled(progress)  # every building: one large footprint may take a second
        if count % 50 == 0:
            progress.set_fraction(count / max(1, len(order)))
        result = regularize_geometry(inputs[i], options, progress)
        if options.prevent_overlaps:
            neighbours = (keys[k] for k in tree.query(reach[i]))
            placed = [results[j].geometry for j in neighbours if j != i and results[j] is not None]
            result = _avoid(result, placed, inputs[i], options)
        results[i] = result if result is not None and not result.geometry.is_empty else None
    progress.set_fraction(1.0)
    return results


def _avoid(result: RegularizedBuilding, placed: list[Any], original: Any,
           options: RegularizeOptions) -> RegularizedBuilding | None:
    """Subtract already placed neighbours; if that spoils a regularized shape, try the simplified input."""
    from shapely.ops import unary_union

    placed = [p for p in placed if p.intersects(result.geometry)]
    if not placed:
        return result
    blocker = unary_union(placed)
    if result.geometry.intersection(blocker).area <= 1e-9:
        return result
    min_area = min(options.tolerance ** 2, original.area / 100)
    geometry = polygonal(result.geometry.difference(blocker), min_area=min_area)
    score = iou(geometry, original)
    if result.regularized and score < options.min_iou:
        fallback = polygonal(_simplified(original, options).difference(blocker), min_area=min_area)
        fallback_score = iou(fallback, original)
        if fallback_score > score:
            return RegularizedBuilding(fallback, False, "simplified", fallback_score)
    return RegularizedBuilding(geometry, result.regularized, result.method, score)
