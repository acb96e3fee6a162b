"""Tiles cover every pixel; the blend window is smooth and positive; overlap is validated."""

import numpy as np
import pytest

from building_extractor.core.errors import BuildingExtractorError
from building_extractor.core.extract.tiling import (
    MARGIN_WEIGHT,
    blend_window,
    border_pad,
    context_margin,
    fitted_tile_shape,
    make_tiles,
    resolve_overlap,
    tile_cost_message,
    tile_origins,
)


@pytest.mark.parametrize("length", [1, 31, 64, 65, 100, 447, 448, 449, 1000])
@pytest.mark.parametrize("tile,stride,pad", [(64, 48, 0), (64, 64, 0), (256, 192, 0), (256, 96, 96), (64, 32, 24)])
def test_tiles_cover_every_pixel_and_the_mirrored_border_without_gaps(length: int, tile: int, stride: int,
                                                                      pad: int) -> None:
    starts = tile_origins(length, tile, stride, pad)
    covered = np.zeros(length + 2 * pad, bool)
    for start in starts:
        covered[start + pad:start + pad + tile] = True
    assert covered.all()
    assert starts[0] == -pad
    assert starts == sorted(set(starts))
    assert all(b - a <= stride for a, b in zip(starts, starts[1:]))


def test_raster_smaller_than_tile_gets_one_tile() -> None:
    rows = make_tiles(10, 7, 64, 16)
    assert [(t.row, t.col) for row in rows for t in row] == [(0, 0)]


@pytest.mark.parametrize("tile,overlap", [(64, 16), (256, 160), (1024, 160), (512, 64)])
def test_blend_weights_of_neighbours_sum_to_one_and_ignore_the_context_margin(tile: int, overlap: int) -> None:
    window = blend_window(tile, overlap)
    assert window.min() > 0
    assert np.allclose(window, window.T) and np.allclose(window, window[::-1, ::-1])
    ramp = window[tile // 2]
    margin = context_margin(overlap)
    assert 0 < margin < overlap / 2
    assert np.all(ramp[:margin] == pytest.approx(MARGIN_WEIGHT))  # context only
    assert np.all(ramp[overlap - margin:tile - overlap + margin] == 1)  # pixels no neighbour sees better
    # Where two neighbours overlap, one's weight falls as the other's rises: they sum to 1 (no bumps, no seams).
    stride = tile - overlap
    both = ramp[stride:] + ramp[:overlap]
    assert np.allclose(both[margin:overlap - margin], 1, atol=2 * MARGIN_WEIGHT)


def test_overlap_in_pixels_or_fraction_and_out_of_range() -> None:
    assert resolve_overlap(0.25, 512) == 128
    assert resolve_overlap(64, 512) == 64
    with pytest.raises(BuildingExtractorError, match="OVERLAP"):
        resolve_overlap(512, 512)
    with pytest.raises(BuildingExtractorError, match="OVERLAP"):
        resolve_overlap(-1, 512)


def test_tile_cost_message_counts_the_pixels_the_model_computes() -> None:
    """The log line bench/run.py reads: the tiles' megapixels against the raster's (an 8,000 px square raster at
    the default 1024 px / 160 px takes 10 × 10 tiles fitted to 992 px)."""
    shape = fitted_tile_shape(1024, 8000, 8000, 160, 32)
    tiles = [t for row in make_tiles(8000, 8000, shape, 160, border_pad(160)) for t in row]
    message = tile_cost_message(len(tiles), shape, 8000, 8000)
    assert message.startswith("100 tile(s) of 992×992 px")
    assert "computes 98.41 MP for 64.00 MP of raster (×1.54" in message
