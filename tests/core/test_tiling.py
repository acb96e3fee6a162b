"""Tiles cover every pixel; the blend window is smooth and positive; overlap is validated."""

import numpy as np
import pytest

from building_extractor.core.errors import BuildingExtractorError
from building_extractor.core.tiling import blend_window, make_tiles, resolve_overlap, tile_origins


@pytest.mark.parametrize("length", [1, 31, 64, 65, 100, 447, 448, 449, 1000])
@pytest.mark.parametrize("tile,stride", [(64, 48), (64, 64), (256, 192)])
def test_tiles_cover_every_pixel_without_gaps(length: int, tile: int, stride: int) -> None:
    starts = tile_origins(length, tile, stride)
    covered = np.zeros(length, bool)
    for start in starts:
        covered[start:start + tile] = True
    assert covered.all()
    assert starts == sorted(set(starts))
    assert all(b - a <= stride for a, b in zip(starts, starts[1:]))


def test_raster_smaller_than_tile_gets_one_tile() -> None:
    rows = make_tiles(10, 7, 64, 16)
    assert [(t.row, t.col) for row in rows for t in row] == [(0, 0)]


def test_blend_window_is_positive_symmetric_and_peaks_in_the_centre() -> None:
    window = blend_window(64)
    assert window.min() > 0
    assert np.allclose(window, window.T) and np.allclose(window, window[::-1, ::-1])
    assert window[32, 32] == pytest.approx(window.max(), rel=1e-3)
    assert window[0, 0] < 0.01 * window.max()


def test_overlap_in_pixels_or_fraction_and_out_of_range() -> None:
    assert resolve_overlap(0.25, 512) == 128
    assert resolve_overlap(64, 512) == 64
    with pytest.raises(BuildingExtractorError, match="OVERLAP"):
        resolve_overlap(512, 512)
    with pytest.raises(BuildingExtractorError, match="OVERLAP"):
        resolve_overlap(-1, 512)
