"""Blending overlapping tiles reproduces a smooth field exactly, whatever the tile size: no seams."""

import numpy as np
import pytest
import rasterio
from affine import Affine

from building_extractor.core.extract.stitching import ProbabilityWriter, StripAccumulator
from building_extractor.core.extract.tiling import (
    MIN_TILE_FRACTION,
    border_pad,
    fitted_tile_shape,
    make_tiles,
    tile_origins,
    tile_shape,
)
from building_extractor.core.io.raster_source import ProcessingGrid


def stitch(field: np.ndarray, tile: int | tuple[int, int], overlap: int, tmp_path, noise: float = 0.0) -> np.ndarray:
    height, width = field.shape
    rows_per_tile, cols_per_tile = tile_shape(tile)
    grid = ProcessingGrid("", Affine(1, 0, 0, 0, -1, height), width, height, 1.0)
    prob_path, mask_path = str(tmp_path / f"p{rows_per_tile}x{cols_per_tile}.tif"), str(tmp_path / "mask.tif")
    writer = ProbabilityWriter(prob_path, mask_path, grid, 0.5)
    pad = border_pad(overlap)  # as the pipeline does: edge pixels get context too
    acc = StripAccumulator(width, height, tile, writer, overlap, pad)
    rows = make_tiles(width, height, tile, overlap, pad)
    rng = np.random.default_rng(0)
    padded = np.pad(field, ((pad, pad + rows_per_tile), (pad, pad + cols_per_tile)))
    for i, row in enumerate(rows):
        for t in row:
            prob = padded[t.row + pad:t.row + pad + rows_per_tile, t.col + pad:t.col + pad + cols_per_tile]
            prob = prob + rng.normal(0, noise, prob.shape)
            valid = np.zeros(prob.shape, bool)
            valid[max(0, -t.row):height - t.row, max(0, -t.col):width - t.col] = True
            acc.add(t.row, t.col, prob.astype(np.float32), valid)
        acc.flush_until(rows[i + 1][0].row if i + 1 < len(rows) else height)
    writer.close()
    with rasterio.open(prob_path) as src:
        return src.read(1) / 255.0


@pytest.mark.parametrize("tile,overlap", [(32, 8), (64, 16), (128, 0), (256, 64), (256, 160), ((64, 96), 16)])
def test_stitched_field_matches_the_source_field(tmp_path, tile: int, overlap: int) -> None:
    y, x = np.mgrid[0:150, 0:230]
    field = (0.5 + 0.4 * np.sin(x / 17.0) * np.cos(y / 23.0)).astype(np.float32)
    out = stitch(field, tile, overlap, tmp_path)
    assert out.shape == field.shape
    assert np.abs(out - field).max() <= 1 / 255 + 1e-6


def test_independent_tile_noise_is_averaged_not_seamed(tmp_path) -> None:
    field = np.full((120, 120), 0.5, np.float32)
    out = stitch(field, 64, 32, tmp_path, noise=0.05)
    # Tile edges (where weights change fastest) are no worse than tile centres.
    assert abs(out.mean() - 0.5) < 0.01
    assert np.abs(out - 0.5).max() < 0.3


def test_a_raster_smaller_than_a_tile_is_computed_in_a_fitted_tile(tmp_path) -> None:
    """A 150 x 230 field with 1024 px tiles and 160 px overlap: one 480 x 576 tile (the field and 160 px of
    context around it, rounded up to the stride) instead of 1024 x 1024, and the same stitched field."""
    overlap = 160
    shape = fitted_tile_shape(1024, 230, 150, overlap, 32)
    assert shape == (480, 576)
    assert fitted_tile_shape(1024, 5000, 150, overlap, 32) == (480, 1024)  # 6 tiles of 1024 px are needed
    y, x = np.mgrid[0:150, 0:230]
    field = (0.5 + 0.4 * np.sin(x / 17.0) * np.cos(y / 23.0)).astype(np.float32)
    assert [len(row) for row in make_tiles(230, 150, shape, overlap, border_pad(overlap))] == [1]
    out = stitch(field, shape, overlap, tmp_path)
    assert np.abs(out - field).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("length", [915, 4000, 8000, 20000])
def test_long_axes_keep_their_tile_count_with_smaller_tiles(tmp_path, length: int) -> None:
    """An 8,000 px axis needs ten 1024 px tiles, the last running ~700 px past the raster; ten 992 px tiles
    cover it too. The fitted size is the smallest multiple of 32 that needs no more tiles (and is at least
    90 % of the tile)."""
    overlap, pad = 160, border_pad(160)
    rows, cols = fitted_tile_shape(1024, length, length, overlap, 32)
    assert rows == cols and rows % 32 == 0 and overlap < rows <= 1024

    def count(size: int) -> int:
        return len(tile_origins(length, size, size - overlap, pad))

    assert count(rows) == count(1024)
    assert rows == 1024 or count(rows - 32) > count(1024) or rows - 32 < MIN_TILE_FRACTION * 1024
    assert rows == {915: 928, 8000: 992}.get(length, rows)


def test_a_fitted_long_raster_stitches_exactly(tmp_path) -> None:
    overlap = 16
    shape = fitted_tile_shape(128, 230, 150, overlap, 8)
    assert shape == (120, 120)  # as many tiles as 128 px ones, fewer padded pixels
    y, x = np.mgrid[0:150, 0:230]
    field = (0.5 + 0.4 * np.sin(x / 17.0) * np.cos(y / 23.0)).astype(np.float32)
    out = stitch(field, shape, overlap, tmp_path)
    assert np.abs(out - field).max() <= 1 / 255 + 1e-6
