"""Tile grids that cover a raster fully, and the smooth weight window used to blend overlapping tiles."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .errors import BuildingExtractorError


@dataclass(frozen=True)
class Tile:
    """One tile: its top-left pixel on the processing grid and its position in the tile grid."""

    row: int
    col: int
    grid_row: int
    grid_col: int


def tile_origins(length: int, tile: int, stride: int) -> list[int]:
    """Tile starts along one axis: every ``stride`` px, plus one more so the last pixel is covered.

    The last tile may run past the raster (it is padded); rasters shorter than a tile get one tile.
    """
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def resolve_overlap(overlap: float, tile_size: int) -> int:
    """Overlap in pixels; values below 1 are a fraction of the tile size."""
    pixels = int(round(overlap * tile_size)) if 0 < overlap < 1 else int(round(overlap))
    if pixels < 0 or pixels >= tile_size:
        raise BuildingExtractorError(
            f"OVERLAP must be at least 0 and smaller than TILE_SIZE ({tile_size} px); got {overlap}."
        )
    return pixels


def make_tiles(width: int, height: int, tile: int, overlap: int) -> list[list[Tile]]:
    """Tiles in rows (top to bottom), each row left to right, covering the whole raster."""
    stride = tile - overlap
    rows = tile_origins(height, tile, stride)
    cols = tile_origins(width, tile, stride)
    return [[Tile(r, c, i, j) for j, c in enumerate(cols)] for i, r in enumerate(rows)]


@lru_cache(maxsize=8)
def blend_window(size: int) -> np.ndarray:
    """2-D separable Hann window, strictly positive so edge pixels of a lone tile still count."""
    ramp = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(size) + 0.5) / size)
    ramp = np.maximum(ramp, 1e-3).astype(np.float32)
    window = np.outer(ramp, ramp)
    window.setflags(write=False)
    return window
