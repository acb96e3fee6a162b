"""Partition windows end on the single-process run's tiles: the pixels a partition must get right are covered
by its own tiles only, so it computes them as one process does (checked on real runs in test_cluster.py)."""

from __future__ import annotations

import pytest

from building_extractor.core.extract.tiling import TileFrame, make_tiles, tile_origins
from building_extractor.scale.partitions import TileAxis


@pytest.mark.parametrize("length,tile,overlap,pad", [(458, 1024, 160, 96), (915, 256, 64, 48), (915, 256, 64, 0),
                                                     (3000, 512, 128, 0), (2049, 192, 160, 120), (700, 128, 32, 24)])
@pytest.mark.parametrize("size,halo", [(160, 139), (320, 40), (1000, 0)])
def test_windows_hold_every_tile_that_covers_the_core_and_halo(length: int, tile: int, overlap: int, pad: int,
                                                               size: int, halo: int) -> None:
    starts = tile_origins(length, tile, tile - overlap, pad)
    axis = TileAxis(tuple(starts), tile, length)
    for low in range(0, length, size):
        high = min(low + size, length)
        start, end = axis.window(low, high, halo)
        assert 0 <= start <= max(0, low - halo) and min(length, high + halo) <= end <= length
        frame = TileFrame(length, length, start, start, (1.0, 0.0, 0.0, 0.0, -1.0, 0.0))  # a square grid
        kept = {(row[0].grid_row, row[0].row + start)
                for row in make_tiles(end - start, end - start, tile, overlap, pad, frame)}
        needed = {(i, s) for i, s in enumerate(starts)
                  if s < min(length, high + halo) and s + tile > max(0, low - halo)}
        assert needed <= kept  # every tile over the core and halo is computed, at the full grid's position
        assert all((start <= s or start == 0) and (s + tile <= end or end == length) for _, s in kept)
