"""The Mask R-CNN extraction pipeline: one polygon per building, each reported once across tiles.

Tiles overlap. Each tile keeps the detections it owns (centre in its central region, with a small margin)
plus those a neighbouring tile sees cut by its edge; detections cut by this tile's own inner edges are kept
as fragments. Rows of candidates are resolved as soon as no later tile can touch them: fragments are merged
with the detections they overlap (so buildings larger than the overlap are merged, not cut), then a
non-maximum suppression on polygon IoU drops duplicates. Candidates are linked only where merging or
duplicate removal can act on them, so the few pixels by which neighbouring houses' masks overlap do not chain
them into groups that never resolve: what is pending stays within about a row of tiles. Those slivers are
removed when writing: each building is written without what better-scored ones, or buildings written just
before, already cover.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BuildingExtractorError
from ..io.area import ProcessingArea, keep_touching
from ..models.config import ModelConfig
from ..models.maskrcnn import detect, paste_mask
from ..progress import Progress, SilentProgress
from ..vector.vectorize import PostProcessOptions, clean_polygon, output_transformer, pixels_to_crs, polygonize_array
from .inference import Predictor
from .normalize import check_normalization
from .pipeline import RunOptions
from .tiling import (
    Tile,
    TileFrame,
    check_tile_cost,
    frame_size,
    make_tiles,
    resolve_overlap,
    tile_cost_message,
    tile_origins,
)

SAME_IN_OVERLAP = 0.5  # a cut fragment and a candidate are one building when, inside the part of the raster
# both their tiles saw, their shapes have at least this IoU (touching neighbours have about 0 there)
OVERLAP_DUPLICATE = 0.5  # a detection with this share of its area inside better-scored ones is a duplicate
STAGES = ("read, detect, merge and write",)  # one stage: buildings are written as rows of tiles finish


@dataclass
class InstanceOptions(RunOptions):
    """User choices for one Mask R-CNN run: :class:`RunOptions` and the detector's own."""

    batch_size: int = 2
    score_threshold: float | None = None
    mask_threshold: float | None = None
    nms_iou: float | None = None


@dataclass
class Instance:
    """One output building: geometry (WKB, output CRS) and its attributes."""

    id: int
    wkb: bytes
    confidence: float  # detection score
    mask_confidence: float  # mean mask probability inside the polygon
    area_m2: float
    perimeter_m: float


@dataclass
class Candidate:
    """A detection on the processing grid (pixel coordinates: x = column, y = row)."""

    polygon: Any
    score: float
    mask_confidence: float
    cut: bool  # touches an inner edge of its tile: only part of the building was seen
    window: tuple[float, float, float, float] = (-math.inf, -math.inf, math.inf, math.inf)  # the tile, x0 y0 x1 y1

    @property
    def bottom(self) -> float:
        return self.polygon.bounds[3]


class AxisLayout:
    """Tile starts along one axis, with each tile's owned interval and the neighbours' cut lines."""

    def __init__(self, starts: list[int], tile: int, margin: float) -> None:
        self.starts, self.tile, self.margin = starts, tile, margin
        bounds = [(starts[i - 1] + tile + starts[i]) / 2 for i in range(1, len(starts))]
        self.owned = list(zip([-math.inf, *bounds], [*bounds, math.inf]))

    def owns(self, index: int, value: float) -> bool:
        low, high = self.owned[index]
        return low - self.margin <= value < high + self.margin

    def crosses_neighbour_edge(self, index: int, low: float, high: float) -> bool:
        """True when [low, high] spans a line where a neighbouring tile ends (that tile sees it cut)."""
        lines = []
        if index + 1 < len(self.starts):
            lines.append(self.starts[index + 1])
        if index > 0:
            lines.append(self.starts[index - 1] + self.tile)
        return any(low < line < high for line in lines)

    def inner_edges(self, index: int, length: int) -> tuple[bool, bool]:
        """(start, end) of tile ``index`` lie inside the raster (an object touching them may be cut)."""
        return index > 0, self.starts[index] + self.tile < length


def mask_polygon(mask: np.ndarray, row0: int, col0: int) -> Any | None:
    """The largest 4-connected polygon of a boolean mask, in pixel coordinates offset by (row0, col0)."""
    parts = [polygon for polygon, value in polygonize_array(mask, mask, (col0, 1.0, 0.0, row0, 0.0, 1.0)) if value == 1]
    return max(parts, key=lambda p: p.area) if parts else None


def tile_candidates(detections: dict[str, Any], tile: Tile, valid: np.ndarray, size: int, grid_shape: tuple[int, int],
                    layout: tuple[AxisLayout, AxisLayout], mask_threshold: float) -> list[Candidate]:
    """Candidates of one tile: owned detections, those a neighbour sees cut, and this tile's cut fragments."""
    height, width = grid_shape
    rows, cols = layout
    top_inner, bottom_inner = rows.inner_edges(tile.grid_row, height)
    left_inner, right_inner = cols.inner_edges(tile.grid_col, width)
    limit_h, limit_w = min(size, height - tile.row), min(size, width - tile.col)  # the padding is not raster
    kept = []
    for box, score, small_mask in zip(detections["boxes"], detections["scores"], detections["masks"]):
        prob, r0, c0 = paste_mask(small_mask, box, limit_h, limit_w)
        if prob.size == 0:
            continue
        mask = (prob >= mask_threshold) & valid[r0:r0 + prob.shape[0], c0:c0 + prob.shape[1]]
        if not mask.any():
            continue
        polygon = mask_polygon(mask, tile.row + r0, tile.col + c0)
        if polygon is None:
            continue
        mask_rows, mask_cols = np.nonzero(mask.any(axis=1))[0] + r0, np.nonzero(mask.any(axis=0))[0] + c0
        cut = ((top_inner and mask_rows[0] <= 1) or (bottom_inner and mask_rows[-1] >= size - 2)
               or (left_inner and mask_cols[0] <= 1) or (right_inner and mask_cols[-1] >= size - 2))
        x0, y0, x1, y1 = polygon.bounds
        centre = polygon.centroid
        owned = rows.owns(tile.grid_row, centre.y) and cols.owns(tile.grid_col, centre.x)
        seen_cut_elsewhere = (rows.crosses_neighbour_edge(tile.grid_row, y0, y1)
                              or cols.crosses_neighbour_edge(tile.grid_col, x0, x1))
        if cut or owned or seen_cut_elsewhere:
            kept.append(Candidate(polygon, float(score), float(prob[mask].mean()), bool(cut),
                                  (tile.col, tile.row, tile.col + limit_w, tile.row + limit_h)))
    return kept


class InstanceResolver:
    """Merges fragments and removes duplicates among candidates, row of tiles by row of tiles.

    Candidates are linked only where merging or duplicate removal can act on them (:func:`linked`): masks of
    neighbouring houses that overlap by a few pixels stay apart, so groups stay about one building big and
    what is pending stays within a row or two of tiles. Links are computed once, when a candidate arrives.
    """

    def __init__(self, nms_iou: float) -> None:
        self.nms_iou = nms_iou
        self.pending: dict[int, Candidate] = {}  # by arrival number
        self.links: dict[int, set[int]] = {}
        self.fresh: list[int] = []  # arrived since the last flush, links not computed yet
        self.arrived = 0
        self.reach = -math.inf  # the highest pixel row a candidate resolved later can reach

    def add(self, candidates: list[Candidate]) -> None:
        for candidate in candidates:
            key, self.arrived = self.arrived, self.arrived + 1
            self.pending[key], self.links[key] = candidate, set()
            self.fresh.append(key)

    def flush(self, limit: float = math.inf) -> list[Candidate]:
        """Resolve and return every group of linked candidates lying wholly above pixel row ``limit``."""
        self._link_fresh()
        done: list[Candidate] = []
        seen: set[int] = set()
        for start in list(self.pending):
            if start in seen:
                continue
            group = self._group(start, seen)
            members = [self.pending[key] for key in group]
            if max(c.bottom for c in members) < limit:
                done.extend(self._resolve(members))
                for key in group:
                    del self.pending[key], self.links[key]
        self.reach = min([limit, *(c.polygon.bounds[1] for c in self.pending.values())])
        return done

    def _link_fresh(self) -> None:
        """Link each new candidate with the pending ones it overlaps substantially (STRtree for the pairs)."""
        from ..vector.spatial_index import SpatialIndex

        keys = list(self.pending)
        index = SpatialIndex([self.pending[key].polygon for key in keys])
        fresh = set(self.fresh)
        for key in self.fresh:
            candidate = self.pending[key]
            for other in (keys[j] for j in index.query(candidate.polygon)):
                if (other != key and not (other in fresh and other < key)  # each pair once
                        and linked(candidate, self.pending[other], self.nms_iou)):
                    self.links[key].add(other)
                    self.links[other].add(key)
        self.fresh = []

    def _group(self, start: int, seen: set[int]) -> list[int]:
        """The connected component of ``start`` in the link graph (depth-first)."""
        group, stack = [], [start]
        seen.add(start)
        while stack:
            key = stack.pop()
            group.append(key)
            for other in self.links[key] - seen:
                seen.add(other)
                stack.append(other)
        return group

    def _resolve(self, members: list[Candidate]) -> list[Candidate]:
        return suppress(merge_fragments(members), self.nms_iou) if len(members) > 1 else members


def linked(a: Candidate, b: Candidate, nms_iou: float) -> bool:
    """True when merging (:func:`same_building`) or duplicate removal (:func:`suppress`) can act on the pair.

    Only such pairs need resolving together; a sliver of overlap between neighbours' masks is left to the
    post-processor, which makes written buildings disjoint.
    """
    if not overlaps_inside(a.polygon, b.polygon):
        return False
    if (a.cut or b.cut) and same_building(a, b):
        return True
    inter = a.polygon.intersection(b.polygon).area
    smaller = min(a.polygon.area, b.polygon.area)
    return inter >= nms_iou * (a.polygon.area + b.polygon.area - inter) or inter >= OVERLAP_DUPLICATE * smaller


def same_building(a: Candidate, b: Candidate) -> bool:
    """True when ``a`` and ``b`` (one of them cut by its tile) show the same building where both tiles looked."""
    from shapely.geometry import box

    x0, y0 = max(a.window[0], b.window[0]), max(a.window[1], b.window[1])
    x1, y1 = min(a.window[2], b.window[2]), min(a.window[3], b.window[3])
    if x1 <= x0 or y1 <= y0:
        return False
    shared = box(x0, y0, x1, y1)
    seen_a, seen_b = a.polygon.intersection(shared), b.polygon.intersection(shared)
    inter = seen_a.intersection(seen_b).area
    union = seen_a.area + seen_b.area - inter
    return union > 0 and inter / union >= SAME_IN_OVERLAP


def overlaps_inside(a: Any, b: Any) -> bool:
    """True when the interiors of ``a`` and ``b`` meet (sharing only a boundary does not count)."""
    return a.intersects(b) and not a.touches(b)


def merge_fragments(candidates: list[Candidate]) -> list[Candidate]:
    """Union each cut fragment with the candidates showing the same building (connected groups of the pairs an
    STRtree finds)."""
    from shapely.ops import unary_union

    from ..vector.spatial_index import connected_groups

    def same(i: int, j: int) -> bool:
        a, b = candidates[i], candidates[j]
        return (a.cut or b.cut) and a.polygon.intersects(b.polygon) and same_building(a, b)

    groups = [[candidates[i] for i in group] for group in connected_groups([c.polygon for c in candidates], same)]
    merged = []
    for members in groups:
        if len(members) == 1:
            merged.append(members[0])
            continue
        union = largest_polygon(unary_union([m.polygon for m in members]).buffer(0))
        areas = np.array([m.polygon.area for m in members])
        windows = np.array([m.window for m in members])
        merged.append(Candidate(union, max(m.score for m in members),
                                float(np.average([m.mask_confidence for m in members], weights=areas)),
                                all(m.cut for m in members),
                                (*windows[:, :2].min(axis=0), *windows[:, 2:].max(axis=0))))
    return merged


def suppress(candidates: list[Candidate], nms_iou: float) -> list[Candidate]:
    """Non-maximum suppression on polygon IoU; a detection with over half its area inside a better-scored one
    is a duplicate too. (Outputs are made disjoint after cleaning, in ``_PostProcessor``.)"""
    from ..vector.spatial_index import SpatialIndex

    ordered = sorted(candidates, key=lambda c: -c.score)
    index = SpatialIndex([c.polygon for c in ordered])
    kept = [False] * len(ordered)
    for i, candidate in enumerate(ordered):
        polygon = candidate.polygon
        for j in index.query(polygon):
            other = ordered[j].polygon
            if j >= i or not kept[j] or not polygon.intersects(other):
                continue
            inter = polygon.intersection(other).area
            union = polygon.area + other.area - inter
            if inter >= nms_iou * union or inter >= OVERLAP_DUPLICATE * polygon.area:
                break
        else:
            kept[i] = True
    return [c for c, keep in zip(ordered, kept) if keep]


class Detector(Predictor):
    """A Mask R-CNN on a device: detections per tile, with the Predictor's halving on GPU out-of-memory."""

    CHANNELS_LAST = False

    def __init__(self, model: Any, device: Any, score_threshold: float, progress: Progress, tta: str = "none") -> None:
        super().__init__(model, device, progress, tta)
        self.score_threshold = score_threshold

    def _join(self, parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        return [detections for part in parts for detections in part]

    def _forward(self, images: np.ndarray) -> list[dict[str, Any]]:
        from .tta import augmented_detections

        with self.torch.inference_mode():
            return augmented_detections(lambda batch, threshold: detect(self.model, batch, threshold),
                                        self.torch.from_numpy(images).to(self.device), self.tta, self.score_threshold)


def check_instance_options(options: InstanceOptions, config: ModelConfig, tile: int) -> None:
    """Refuse out-of-range settings before any pixel is read; messages name the parameter to change."""
    if tile < 64 or tile % 32:
        raise BuildingExtractorError(f"TILE_SIZE must be a multiple of 32 and at least 64; got {tile}. "
                                     f"Use {max(64, (tile + 31) // 32 * 32)}.")
    for name, value in (("SCORE_THRESHOLD", options.score_threshold), ("MASK_THRESHOLD", options.mask_threshold),
                        ("NMS_IOU", options.nms_iou)):
        if value is not None and not 0 < value < 1:
            raise BuildingExtractorError(f"{name} must lie between 0 and 1; got {value}.")
    if options.batch_size < 1:
        raise BuildingExtractorError(f"BATCH_SIZE must be at least 1; got {options.batch_size}.")
    check_normalization(options.normalize)
    if options.gsd_m is not None and not options.gsd_m >= 0:
        raise BuildingExtractorError(f"RESOLUTION must be 0 (native) or a positive size in metres per pixel; "
                                     f"got {options.gsd_m}.")
    for name, value in (("MIN_AREA", options.post.min_area_m2), ("SIMPLIFY", options.post.simplify_m)):
        if not value >= 0:
            raise BuildingExtractorError(f"{name} must be 0 or more; got {value}.")


def tile_layout(grid: Any, tile: int, overlap: int, frame: TileFrame | None
                ) -> tuple[tuple[int, int], tuple[AxisLayout, AxisLayout]]:
    """(rows, columns) from the raster's origin to the far edges of the grid the tiles are laid on, and the
    :class:`AxisLayout` of each axis (every tile of that grid, relative to the raster's origin)."""
    width, height = frame_size(grid.width, grid.height, frame)
    row0, col0 = (frame.row, frame.col) if frame else (0, 0)
    margin = min(overlap / 4, 16)
    rows = [start - row0 for start in tile_origins(height, tile, tile - overlap)]
    cols = [start - col0 for start in tile_origins(width, tile, tile - overlap)]
    return (height - row0, width - col0), (AxisLayout(rows, tile, margin), AxisLayout(cols, tile, margin))


def extract_instances(raster: Any, options: InstanceOptions, progress: Progress | None = None,
                      run: Any = None) -> Iterator[Instance]:
    """Yield building instances found in a raster (a GDAL path or a pipeline ``RasterInput``).

    ``run`` (a :class:`building_extractor.core.extract.pipeline.ExtractionRun`) is filled with settings and timings.
    """
    from ..memory import release_free_memory
    from ..models.backends import open_model
    from .inference import TileReader
    from .pipeline import ExtractionRun, bounded_gdal_cache, open_raster

    progress = progress or SilentProgress()
    runner = open_model(options.model_path, "maskrcnn", options.backend, options.device, progress,
                        options.score_threshold, options.tta)
    config = runner.config
    run = run if run is not None else ExtractionRun(config)
    run.config = config
    tile = options.tile_size or config.tile_size
    check_instance_options(options, config, tile)
    overlap = resolve_overlap(config.overlap if options.overlap is None else options.overlap, tile)
    score_threshold = config.threshold if options.score_threshold is None else options.score_threshold
    mask_threshold = config.mask_threshold if options.mask_threshold is None else options.mask_threshold
    nms_iou = config.nms_iou if options.nms_iou is None else options.nms_iou
    gsd = config.gsd_m if options.gsd_m is None else options.gsd_m
    started = time.perf_counter()
    with bounded_gdal_cache(), open_raster(raster, gsd, options.bands, config.band_count, run.warnings, config.bands,
                                           native_if_unreferenced=options.gsd_m is None) as source:
        for message in run.warnings:
            progress.warning(message)
        grid = source.grid
        run.device, run.backend, run.gsd_m, run.tile_size = runner.device, runner.backend, grid.gsd_m, tile
        run.overlap, run.threshold, run.grid_size = overlap, score_threshold, (grid.width, grid.height)
        progress.info(f"Model {config.name} (maskrcnn/{config.encoder}) on {runner.description}.")
        progress.info(
            f"Processing grid {grid.width}×{grid.height} "
            f"px at {grid.gsd_m:.3g} m; tile {tile} px, overlap {overlap} px, score ≥ {score_threshold:.2f}, "
            f"mask ≥ {mask_threshold:.2f}, NMS IoU {nms_iou:.2f}."
        )
        check_tile_cost(grid.width, grid.height, tile, overlap)
        rows = make_tiles(grid.width, grid.height, tile, overlap, frame=options.tile_frame)
        extent, layout = tile_layout(grid, tile, overlap, options.tile_frame)
        tiles = [t for row in rows for t in row]
        progress.info(tile_cost_message(len(tiles), tile, grid.width, grid.height))
        area = ProcessingArea(options.area, grid) if options.area is not None else None
        if area is not None:  # rows keep their ends in row_end: a skipped end only delays that row's merge
            kept = [t for row in keep_touching(rows, area, (tile, tile)) for t in row]
            progress.info(f"AREA: {len(kept)} of {len(tiles)} tiles touch it; the others are neither read nor "
                          "computed.")
            tiles = kept
        row_end = {row[-1]: (rows[i + 1][0].row if i + 1 < len(rows) else math.inf) for i, row in enumerate(rows)}
        reader = TileReader(source, config, tile, options.batch_size, tiles, progress, area, options.normalize)
        resolver = InstanceResolver(nms_iou)
        post = _PostProcessor(options.post, grid, source.source_crs_wkt, source.footprint(), options.tile_frame)
        timings = {"read": 0.0, "detect": 0.0, "merge": 0.0, "postprocess_write": 0.0}
        progress.set_stage(0, STAGES[0])
        batches = reader.timed_stream(timings, progress)
        try:
            for batch in batches:
                t1 = time.perf_counter()
                detections = runner(batch.images)
                t2 = time.perf_counter()
                finished: list[Candidate] = []
                for tile_info, found, valid in zip(batch.tiles, detections, batch.valid):
                    resolver.add(tile_candidates(found, tile_info, valid, tile, extent, layout, mask_threshold))
                    if tile_info in row_end:
                        finished += resolver.flush(row_end[tile_info])
                t3 = time.perf_counter()
                for building in post(finished, resolver.reach):
                    yield building
                release_free_memory()  # else the heap keeps growing with the raster (see the function)
                timings["detect"] += t2 - t1
                timings["merge"] += t3 - t2
                timings["postprocess_write"] += time.perf_counter() - t3
            t3 = time.perf_counter()
            for building in post(resolver.flush()):
                yield building
            timings["postprocess_write"] += time.perf_counter() - t3  # the algorithm's writes included
        finally:
            batches.close()  # joins the reader thread before the raster is closed
        run.building_count = post.next_id - 1
        run.timings.update(timings)
        run.timings["total"] = time.perf_counter() - started
        if not reader.valid_pixels:
            progress.warning("The raster holds no valid pixels (all nodata or masked), so no buildings can be found; "
                             "the output is empty. Check the raster's nodata value and mask.")


class _PostProcessor:
    """Pixel polygons → cleaned polygons in the output CRS with their attributes, never overlapping."""

    def __init__(self, options: PostProcessOptions, grid: Any, output_crs_wkt: str, clip: Any,
                 frame: TileFrame | None = None) -> None:
        from affine import Affine

        t = grid.transform
        # Pixel outlines go to the CRS on the grid the tiles are laid on (a window's partition: the larger grid's).
        self.to_crs = (Affine(*frame.transform), (frame.row, frame.col)) if frame else (t, (0, 0))
        self.options, self.clip = options, clip
        self.to_output = output_transformer(grid.crs_wkt, output_crs_wkt)
        self.next_id = 1
        self.recent: list[tuple[float, Any]] = []  # (pixel bottom, polygon) of written buildings later ones may meet
        # Cleaning moves an outline by at most the simplify (and regularize) tolerance, in pixels here; a written
        # and a later building may both have moved towards each other.
        moved = options.simplify_m + (options.regularize_tolerance_m if options.regularize else 0.0)
        self.margin = 2 * (moved / math.sqrt(abs(t.a * t.e - t.b * t.d)) + 1)

    def __call__(self, candidates: list[Candidate], reach: float = -math.inf) -> Iterator[Instance]:
        """Clean resolved candidates and write them best score first, each without the parts already taken by
        better-scored ones or by buildings written before (neighbours' masks may overlap by a few pixels, and
        hole filling and simplifying can bring back small overlaps). ``reach`` is the highest pixel row that
        later candidates can reach: written buildings ending well above it are forgotten."""
        from shapely.ops import unary_union

        from ..vector.spatial_index import SpatialIndex

        cleaned = self._cleaned(candidates)
        written = [polygon for _, polygon in self.recent] + [None] * len(cleaned)
        bottoms = [bottom for bottom, _ in self.recent] + [candidate.bottom for candidate, _ in cleaned]
        index = SpatialIndex([polygon for _, polygon in self.recent] + [polygon for _, polygon in cleaned])
        for i, (candidate, polygon) in enumerate(cleaned, start=len(self.recent)):
            taken = [written[j] for j in index.query(polygon) if j < i and written[j] is not None
                     and written[j].intersects(polygon)]
            if taken:
                polygon = largest_polygon(polygon.difference(unary_union(taken)))
                if polygon is None or polygon.area < max(self.options.min_area_m2, 1e-9):
                    continue
            written[i] = polygon
            geometry = self.to_output(polygon) if self.to_output else polygon
            yield Instance(self.next_id, geometry.wkb, round(candidate.score, 4),
                           round(candidate.mask_confidence, 4), round(polygon.area, 2), round(polygon.length, 2))
            self.next_id += 1
        self.recent = [(bottom, polygon) for bottom, polygon in zip(bottoms, written)
                       if polygon is not None and bottom + self.margin >= reach]

    def _cleaned(self, candidates: list[Candidate]) -> list[tuple[Candidate, Any]]:
        """(candidate, cleaned polygon on the grid CRS), best score first, without those cleaned away."""
        cleaned = []
        for candidate in sorted(candidates, key=lambda c: -c.score):
            polygon = pixels_to_crs(candidate.polygon, *self.to_crs)
            if self.clip is not None and not self.clip.contains(polygon):
                polygon = largest_polygon(self.clip.intersection(polygon))
                if polygon is None:
                    continue
            polygon = clean_polygon(polygon, self.options)
            if polygon is not None:
                cleaned.append((candidate, polygon))
        return cleaned


def largest_polygon(geometry: Any) -> Any | None:
    """The largest polygon of any geometry (None when it has none)."""
    parts = [g for g in getattr(geometry, "geoms", [geometry]) if g.geom_type == "Polygon" and not g.is_empty]
    return max(parts, key=lambda g: g.area) if parts else None
