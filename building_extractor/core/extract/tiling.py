"""Tile grids that cover a raster fully, and the smooth weight window used to blend overlapping tiles."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import BuildingExtractorError


@dataclass(frozen=True)
class Tile:
    """One tile: its top-left pixel on the processing grid and its position in the tile grid."""

    row: int
    col: int
    grid_row: int
    grid_col: int


def tile_origins(length: int, tile: int, stride: int, pad: int = 0) -> list[int]:
    """Tile starts along one axis: every ``stride`` px from ``-pad``, plus one more so pixel ``length + pad - 1``
    is covered.

    The last tile may run past the raster (it is padded); rasters shorter than a tile get one tile. ``pad`` px
    beyond each end of the axis are covered too (the reader mirrors the raster there), so edge pixels get as
    much context as inner ones.
    """
    span = length + 2 * pad
    if span <= tile:
        return [-pad]
    starts = list(range(0, span - tile + 1, stride))
    if starts[-1] + tile < span:
        starts.append(span - tile)
    return [start - pad for start in starts]


def resolve_overlap(overlap: float, tile_size: int) -> int:
    """Overlap in pixels; values below 1 are a fraction of the tile size."""
    pixels = int(round(overlap * tile_size)) if 0 < overlap < 1 else int(round(overlap))
    if pixels < 0 or pixels >= tile_size:
        raise BuildingExtractorError(
            f"OVERLAP must be at least 0 and smaller than TILE_SIZE ({tile_size} px); got {overlap}."
        )
    return pixels


TileShape = tuple[int, int]  # (rows, columns) of every tile of a run

#: Tiles of a raster longer than one tile shrink by at most this much (fitted_tile_shape): the model uses more
#: context than the blend window's margin, so much smaller tiles change the buildings (Banepa predict.tif at
#: 640 px instead of 1024: mask IoU 0.959 against the 1024 px result, 276 vs 269 buildings).
MIN_TILE_FRACTION = 0.9


def tile_shape(tile: int | TileShape) -> TileShape:
    """(rows, columns) of a square tile size or of a shape."""
    return (tile, tile) if isinstance(tile, int) else (int(tile[0]), int(tile[1]))


def fitted_tile_shape(tile: int, width: int, height: int, overlap: int, stride: int) -> TileShape:
    """The tile shape for a raster: along each axis the smallest multiple of the model's ``stride`` (at most
    ``tile``) that needs no more tiles than ``tile`` does, and on axes longer than one tile at least
    ``MIN_TILE_FRACTION`` of ``tile``.

    An axis that fits in one tile with ``overlap`` px of context beyond each end gets one smaller tile: a raster
    smaller than a tile would otherwise be computed inside a full tile of mirrored padding (a 256 px chip in a
    1024 px tile is 16 times the work). The edge pixels still see as much mirrored context as in the tiles of a
    large raster (the border pad alone changed building counts by 3.1 % between TILE_SIZE 256 and 1024 on
    Kampala image_1; with the overlap, 2.3 %). A longer axis keeps its number of tiles, each shrunk so that the
    last one runs less far past the raster (an 8,000 px axis: ten tiles of 992 px instead of 1,024; 915 px: two
    of 928). Against the OSM labels of Banepa and Zanzibar the masks score the same (±0.0006 pixel IoU).
    """
    pad = border_pad(overlap)

    def fit(length: int) -> int:
        single = math.ceil((length + 2 * overlap) / stride) * stride
        if single <= tile:
            return single

        def tiles_needed(size: int) -> int:
            return len(tile_origins(length, size, size - overlap, pad))

        count = tiles_needed(tile)
        if count == 1:  # fits in one tile with the border pad, not with the full overlap: keep the tile
            return tile
        smallest = max(overlap + stride, math.ceil(tile * MIN_TILE_FRACTION / stride) * stride)
        size = tile
        while size - stride >= smallest and tiles_needed(size - stride) == count:
            size -= stride
        return size

    return fit(height), fit(width)


@dataclass(frozen=True)
class TileFrame:
    """The raster is a window, at (``row``, ``col``), of a larger grid of ``full_width`` × ``full_height`` px with
    affine ``transform`` (coefficients a, b, c, d, e, f).

    Tiles are then laid as on the larger grid (same shape, origins and border padding) and only those lying inside
    the window are computed (past it only where the window meets the larger grid's edge), so every pixel they
    alone cover gets exactly the value that a run on the whole grid gives it; outlines get the larger grid's
    coordinates (``vectorize.pixels_to_crs``). Dask partitions use this (``building_extractor.scale.partitions``
    aligns their windows to the tiles).
    """

    full_width: int
    full_height: int
    row: int
    col: int
    transform: tuple[float, ...]


def frame_size(width: int, height: int, frame: TileFrame | None) -> tuple[int, int]:
    """(width, height) of the grid whose tile layout a run uses: the raster's, or its frame's."""
    return (width, height) if frame is None else (frame.full_width, frame.full_height)


def window_tiles(starts: list[int], tile: int, offset: int, length: int, full_length: int) -> list[tuple[int, int]]:
    """(index, start relative to the window) of the tiles of one axis of a larger grid that lie inside the window
    [offset, offset + length) (or reach past it where the window meets the grid's edge)."""
    at_start, at_end = offset <= 0, offset + length >= full_length
    return [(i, start - offset) for i, start in enumerate(starts)
            if (start >= offset or at_start) and (start + tile <= offset + length or at_end)]


def segmentation_tiling(tile: int, overlap: int, stride: int, width: int, height: int) -> tuple[TileShape, int]:
    """(tile shape, border pad) of the segmentation pipeline (U-Net, land cover) on a width × height grid."""
    return fitted_tile_shape(tile, width, height, overlap, stride), border_pad(overlap)


def make_tiles(width: int, height: int, tile: int | TileShape, overlap: int, pad: int = 0,
               frame: TileFrame | None = None) -> list[list[Tile]]:
    """Tiles in rows (top to bottom), each row left to right, covering the whole raster and ``pad`` px around it
    (tile origins may then be negative). ``tile``: a square size or (rows, columns). With a ``frame``, the tiles of
    the larger grid that lie in this window (positions relative to the window, indices the larger grid's)."""
    tile_rows, tile_cols = tile_shape(tile)
    full_width, full_height = frame_size(width, height, frame)
    rows = tile_origins(full_height, tile_rows, tile_rows - overlap, pad)
    cols = tile_origins(full_width, tile_cols, tile_cols - overlap, pad)
    if frame is None:
        return [[Tile(r, c, i, j) for j, c in enumerate(cols)] for i, r in enumerate(rows)]
    kept_rows = window_tiles(rows, tile_rows, frame.row, height, full_height)
    kept_cols = window_tiles(cols, tile_cols, frame.col, width, full_width)
    return [[Tile(r, c, i, j) for j, c in kept_cols] for i, r in kept_rows if kept_cols]


#: A run whose tiles make the model compute more than this many times the raster's pixels, and more than
#: MAX_EXCESS_MP megapixels in all, is refused: a large OVERLAP (e.g. 0.99 of the tile) would run for hours.
#: The defaults cost ×1.3-×2.5, a raster smaller than one tile up to ×4 (tests/core/test_tiling.py).
MAX_TILE_COST = 16.0
MAX_EXCESS_MP = 64.0


def check_tile_cost(width: int, height: int, tile: int | TileShape, overlap: int, pad: int = 0) -> None:
    """Refuse tile settings whose cost is absurd, with the estimate; counts tiles without making them."""
    rows, columns = tile_shape(tile)
    count = (len(tile_origins(height, rows, rows - overlap, pad))
             * len(tile_origins(width, columns, columns - overlap, pad)))
    model_mp, raster_mp = count * rows * columns / 1e6, width * height / 1e6
    ratio = model_mp / max(raster_mp, 1e-9)
    if ratio > MAX_TILE_COST and model_mp > MAX_EXCESS_MP:
        raise BuildingExtractorError(
            f"OVERLAP {overlap} px on tiles of {columns}×{rows} px moves each tile by only "
            f"{min(rows, columns) - overlap} px: {count:,} tiles, and the model would compute {model_mp:,.0f} MP for "
            f"{raster_mp:,.2f} MP of raster (×{ratio:,.0f}; at most ×{MAX_TILE_COST:g} is allowed). Lower OVERLAP, "
            f"e.g. to {min(rows, columns) // 8} px (an eighth of the tile), or leave it empty for the model's."
        )


def tile_cost_message(tile_count: int, tile: int | TileShape, width: int, height: int) -> str:
    """A log line on what the tiles cost: megapixels the model computes against the raster's own (the excess is
    overlap and the context around the raster's edges). ``bench/run.py`` reads it."""
    rows, columns = tile_shape(tile)
    model_mp, raster_mp = tile_count * rows * columns / 1e6, width * height / 1e6
    return (f"{tile_count} tile(s) of {columns}×{rows} px: the model computes {model_mp:.2f} MP for "
            f"{raster_mp:.2f} MP of raster (×{model_mp / max(raster_mp, 1e-9):.2f}: overlaps and edges).")


#: Weight of a tile's pixels that lie in its context margin: tiny but positive, so a pixel that no other tile
#: covers better (along the raster's own edges) still takes this tile's value.
MARGIN_WEIGHT = 1e-3


def context_margin(overlap: int) -> int:
    """Pixels along a tile edge that are context only: half the overlap, less half a smooth ramp of up to 32 px."""
    return max(0, overlap // 2 - min(16, overlap // 4))


def border_pad(overlap: int) -> int:
    """How far tiles reach past the raster (over a mirrored copy): its edge pixels then sit where an inner
    pixel's weight reaches 1, i.e. they get the same context as the inner pixels that count most."""
    return overlap - context_margin(overlap)


@lru_cache(maxsize=8)
def blend_window(tile: int | TileShape, overlap: int) -> np.ndarray:
    """2-D separable weights of one tile (a square size or (rows, columns)): context margin ≈ 0, then a sin² ramp
    up to 1 over the rest of the overlap.

    A model sees less context near a tile's edge, so its predictions there differ from what a bigger tile would
    give (measured on real imagery: 14 % mean probability error within 4 px of the edge, under 1 % beyond 64 px).
    The margin and ramp are placed so that in every overlap one tile's ramp falls where its neighbour's rises
    (the two weights sum to 1) and every pixel takes its value from tiles in which it lies at least
    ``context_margin(overlap)`` px from the edge; a plain Hann window over the whole tile would instead mix in
    edge predictions everywhere.
    """
    margin = context_margin(overlap)
    ramp_length = max(1, overlap - 2 * margin)

    def ramp(size: int) -> np.ndarray:
        distance = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float64)
        phase = np.clip((distance - margin + 0.5) / ramp_length, 0.0, 1.0)
        return np.maximum(np.sin(0.5 * np.pi * phase) ** 2, MARGIN_WEIGHT).astype(np.float32)

    rows, columns = tile_shape(tile)
    window = np.outer(ramp(rows), ramp(columns))
    window.setflags(write=False)
    return window
