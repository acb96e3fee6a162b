"""Mask R-CNN pipeline: every building once across tiles, touching buildings apart, masks respected."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from shapely import wkb
from shapely.geometry import box

from building_extractor.core.errors import Cancelled
from building_extractor.core.extract.instances import (
    Candidate,
    InstanceOptions,
    extract_instances,
    merge_fragments,
    suppress,
)
from building_extractor.core.extract.pipeline import ExtractionRun
from building_extractor.core.progress import SilentProgress
from building_extractor.core.vector.spatial_index import SpatialIndex
from building_extractor.core.vector.vectorize import PostProcessOptions
from tests.synthetic import scene_with_roofs, use_bright_roof_detector, write_raster

UTM = "EPSG:32636"
ORIGIN = Affine(0.3, 0, 500000, 0, -0.3, 100000)


def run(path, model: str, progress=None, **kwargs):
    options = InstanceOptions(model, gsd_m=0, post=PostProcessOptions(min_area_m2=1.0, simplify_m=0.0), **kwargs)
    info = ExtractionRun(None)
    return list(extract_instances(str(path), options, progress or SilentProgress(), info)), info


def pixel_box(row: int, col: int, h: int, w: int):
    """A roof (row, col, h, w) in map coordinates of ORIGIN."""
    return box(500000 + 0.3 * col, 100000 - 0.3 * (row + h), 500000 + 0.3 * (col + w), 100000 - 0.3 * row)


def best_iou(polygons, truth) -> float:
    return max(p.intersection(truth).area / p.union(truth).area for p in polygons)


def test_touching_buildings_stay_two_polygons(tmp_path, monkeypatch) -> None:
    model = use_bright_roof_detector(monkeypatch, tmp_path)
    data = scene_with_roofs(100, 100, [(20, 20, 30, 25)])
    data[:, 20:50, 45:70] = 180  # a second roof sharing a wall with the first
    buildings, _ = run(write_raster(tmp_path / "touching.tif", data, UTM, ORIGIN), model)
    polygons = [wkb.loads(b.wkb) for b in buildings]
    assert len(polygons) == 2
    assert best_iou(polygons, pixel_box(20, 20, 30, 25)) > 0.95
    assert best_iou(polygons, pixel_box(20, 45, 30, 25)) > 0.95


@pytest.mark.parametrize("roof", [(35, 30, 30, 40), (10, 20, 110, 120)], ids=["straddling", "larger-than-overlap"])
def test_building_on_tile_borders_comes_out_once_and_whole(tmp_path, monkeypatch, roof) -> None:
    model = use_bright_roof_detector(monkeypatch, tmp_path, tile=64, overlap=16)
    # Tiles start every 48 px: both roofs cross row and column borders; the second spans several tiles.
    data = scene_with_roofs(150, 170, [roof])
    buildings, info = run(write_raster(tmp_path / "border.tif", data, UTM, ORIGIN), model)
    assert len(buildings) == 1
    polygon = wkb.loads(buildings[0].wkb)
    assert polygon.intersection(pixel_box(*roof)).area / polygon.union(pixel_box(*roof)).area > 0.97
    assert buildings[0].area_m2 == pytest.approx(roof[2] * roof[3] * 0.09, rel=0.03)
    assert info.building_count == 1


def test_many_buildings_across_tiles_each_once(tmp_path, monkeypatch) -> None:
    model = use_bright_roof_detector(monkeypatch, tmp_path, tile=64, overlap=16)
    roofs = [(r, c, 12, 14) for r in range(5, 190, 22) for c in range(3, 190, 23)]
    data = scene_with_roofs(200, 200, roofs)
    buildings, _ = run(write_raster(tmp_path / "grid.tif", data, UTM, ORIGIN), model)
    polygons = [wkb.loads(b.wkb) for b in buildings]
    assert len(polygons) == len(roofs)
    assert min(best_iou(polygons, pixel_box(*roof)) for roof in roofs) > 0.9


def test_masked_area_yields_nothing(tmp_path, monkeypatch) -> None:
    model = use_bright_roof_detector(monkeypatch, tmp_path)
    data = scene_with_roofs(120, 120, [(10, 10, 20, 20), (70, 70, 30, 30)])
    mask = np.ones((120, 120), bool)
    mask[60:, 60:] = False
    buildings, _ = run(write_raster(tmp_path / "masked.tif", data, UTM, ORIGIN, mask=mask), model)
    assert len(buildings) == 1
    assert wkb.loads(buildings[0].wkb).within(pixel_box(0, 0, 60, 60).buffer(0.5))


def test_geographic_input_gets_true_metres(tmp_path, monkeypatch) -> None:
    model = use_bright_roof_detector(monkeypatch, tmp_path)
    degree = 0.3 / 111320  # ~0.3 m at the equator
    data = scene_with_roofs(100, 100, [(30, 30, 30, 30)])
    path = write_raster(tmp_path / "wgs84.tif", data, "EPSG:4326", Affine(degree, 0, 33.0, 0, -degree, 0.5))
    buildings, _ = run(path, model)
    assert len(buildings) == 1
    assert buildings[0].area_m2 == pytest.approx(81, rel=0.05)


def test_cancel_stops_and_raises(tmp_path, monkeypatch) -> None:
    model = use_bright_roof_detector(monkeypatch, tmp_path, tile=64, overlap=16)
    data = scene_with_roofs(300, 300, [(r, 10, 10, 10) for r in range(0, 290, 20)])

    class CancelAfterFirstBatch(SilentProgress):
        calls = 0

        def is_canceled(self) -> bool:
            self.calls += 1
            return self.calls > 1

    progress = CancelAfterFirstBatch()
    with pytest.raises(Cancelled):
        run(write_raster(tmp_path / "cancel.tif", data, UTM, ORIGIN), model, progress=progress, batch_size=1)
    assert progress.calls == 2  # stopped at the next batch


def test_fragment_merges_and_duplicates_are_suppressed() -> None:
    # Tile A spans x 0-10, tile B x 6-30: the building at x 0-10 is whole in A and cut at x=6 in B.
    whole = Candidate(box(0, 0, 10, 10), 0.9, 0.8, cut=False, window=(0, 0, 10, 40))
    fragment = Candidate(box(6, 0, 10, 10), 0.7, 0.6, cut=True, window=(6, 0, 30, 40))
    neighbour = Candidate(box(10, 0, 20, 10), 0.8, 0.9, cut=False, window=(6, 0, 30, 40))  # touches only
    duplicate = Candidate(box(0.5, 0, 10, 10), 0.6, 0.9, cut=False, window=(0, 0, 10, 40))
    merged = suppress(merge_fragments([whole, fragment, neighbour, duplicate]), 0.5)
    assert sorted(round(c.polygon.area) for c in merged) == [100, 100]
    assert max(c.score for c in merged) == 0.9


def run_dense_town(tmp_path, monkeypatch, bleed: int = 0) -> tuple[list, list[int]]:
    """A 400 × 200 px town of 10 px houses wall to wall; returns the buildings and the resolver's pending
    count after each flush."""
    from building_extractor.core.extract import instances

    model = use_bright_roof_detector(monkeypatch, tmp_path, tile=64, overlap=16, bleed=bleed)
    data = scene_with_roofs(400, 200, [])
    for row in range(0, 400, 10):
        for col in range(0, 200, 10):
            data[:, row:row + 10, col:col + 10] = 180 if (row + col) // 10 % 2 else 220
    pending: list[int] = []
    flush = instances.InstanceResolver.flush

    def counting_flush(self, limit=float("inf")):
        done = flush(self, limit)
        pending.append(len(self.pending))
        return done

    monkeypatch.setattr(instances.InstanceResolver, "flush", counting_flush)
    buildings, _ = run(write_raster(tmp_path / f"town_{bleed}.tif", data, UTM, ORIGIN), model)
    return buildings, pending


def test_rows_of_attached_houses_are_resolved_row_by_row(tmp_path, monkeypatch) -> None:
    """Touching buildings do not chain into one pending group: memory stays about two rows of tiles."""
    buildings, pending = run_dense_town(tmp_path, monkeypatch)
    assert len(buildings) == 40 * 20
    assert max(pending) <= 200, pending  # a row of tiles holds ~100 houses; chaining would keep all 800


def test_neighbours_masks_overlapping_by_a_few_pixels_do_not_chain(tmp_path, monkeypatch) -> None:
    """A dense town whose masks spill 2 px onto the neighbours (as the shipped model's coarse masks do):
    slivers of overlap do not link houses into ever-growing pending groups; each house comes out once, and
    the outputs do not overlap, also across rows of tiles."""
    buildings, pending = run_dense_town(tmp_path, monkeypatch, bleed=2)
    polygons = [wkb.loads(b.wkb) for b in buildings]
    assert max(pending) <= 120, pending  # a row of tiles holds ~100 houses; chaining kept 1,248
    centres = [pixel_box(row, col, 10, 10).centroid for row in range(0, 400, 10) for col in range(0, 200, 10)]
    assert sorted(sum(p.contains(c) for p in polygons) for c in centres) == [1] * 800
    assert len(polygons) == 800
    tree = SpatialIndex(polygons)
    assert max(polygons[j].intersection(p).area for i, p in enumerate(polygons) for j in tree.query(p) if j != i) < 1e-6
