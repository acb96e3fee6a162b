"""Splitting touching buildings: seeds, watershed inside the blob, tuning on validation chips, real files."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from building_extractor.core.vector.split import (
    SplitSettings,
    label_buildings,
    match_counts,
    split_blob,
    tune_split,
)
from building_extractor.core.vector.vectorize import polygonize_mask, probability_stats, split_touching

SEED = SplitSettings(0.9, 4)


def two_roofs(valley: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Two 12 x 10 roofs side by side, certain in the middle (250) and less so along their shared wall."""
    prob = np.zeros((20, 30), np.uint8)
    ids = np.zeros((20, 30), np.int32)
    prob[4:16, 3:27] = 200
    prob[6:14, 5:12] = 250
    prob[6:14, 18:25] = 250
    prob[4:16, 14:16] = valley
    ids[4:16, 3:15], ids[4:16, 15:27] = 1, 2
    return prob, ids


def test_blob_with_two_cores_splits_along_the_valley() -> None:
    prob, ids = two_roofs()
    blob = prob >= 102
    labels, count = split_blob(prob, blob, SEED)
    assert count == 2
    assert np.array_equal(labels > 0, blob)  # the parts cover the blob exactly
    assert len(np.unique(labels[6:14, 5:12])) == 1 and len(np.unique(labels[6:14, 18:25])) == 1
    assert labels[10, 8] != labels[10, 21]
    assert match_counts(labels, ids, min_px=10) == (2, 2, 2)


def test_small_cores_and_disabled_settings_keep_the_blob_whole() -> None:
    prob, _ = two_roofs()
    prob[6:14, 18:25] = 200
    prob[10, 21] = 250  # a one-pixel core is noise, not a building
    blob = prob >= 102
    assert split_blob(prob, blob, SEED)[1] == 1
    assert split_blob(prob, blob, SplitSettings(0.0))[1] == 1
    assert split_blob(*two_roofs()[:1], blob, SplitSettings(0.99, 4))[1] == 1  # no pixel reaches 0.99


def test_label_buildings_numbers_every_part_once() -> None:
    prob, _ = two_roofs()
    prob = np.concatenate([prob, np.zeros((5, 30), np.uint8), prob], axis=0)
    prob[25:, 14:16] = 240  # the lower pair has no valley: one core, one building
    prob[25:, 5:25] = np.maximum(prob[25:, 5:25], 0)
    prob[31:39, 12:18] = 250
    labels = label_buildings(prob, 102, SEED)
    assert sorted(np.unique(labels[labels > 0])) == [1, 2, 3]


def test_tuning_splits_only_where_the_references_are_separate_buildings() -> None:
    prob, ids = two_roofs(valley=185)  # above every blob threshold tried: only seeds can part the roofs
    chips = [prob.astype(np.float32) / 255] * 3
    apart = tune_split(chips, [ids] * 3, gsd_m=0.3, min_area_m2=1.0)
    assert apart.seed_threshold > 0 and apart.f1 == 1.0
    one_building = np.where(ids > 0, 1, 0).astype(np.int32)  # the same roofs labelled as one building
    together = tune_split(chips, [one_building] * 3, gsd_m=0.3, min_area_m2=1.0)
    assert together.seed_threshold == 0 and together.f1 == 1.0


def test_split_touching_on_a_polygonized_geotiff(tmp_path) -> None:
    """The pipeline's path: a probability GeoTIFF, GDAL Polygonize of its mask, then each blob split."""
    from osgeo import ogr
    from shapely import wkb

    from building_extractor.core.vector.vectorize import ProbabilityRaster

    prob, _ = two_roofs()
    transform = from_origin(500000.0, 4000000.0, 0.3, 0.3)
    profile = dict(driver="GTiff", width=30, height=20, count=1, dtype="uint8", crs="EPSG:32633", transform=transform)
    with rasterio.open(tmp_path / "prob.tif", "w", **profile) as dst:
        dst.write(prob, 1)
    with rasterio.open(tmp_path / "mask.tif", "w", **profile) as dst:
        dst.write((prob >= 102).astype(np.uint8), 1)
    assert polygonize_mask(str(tmp_path / "mask.tif"), str(tmp_path / "blobs.gpkg")) == 1
    blobs = ogr.Open(str(tmp_path / "blobs.gpkg"))  # OGR objects die with their parents: keep each one
    feature = blobs.GetLayer(0).GetNextFeature()
    blob = wkb.loads(bytes(feature.GetGeometryRef().ExportToWkb()))
    with ProbabilityRaster(str(tmp_path / "prob.tif")) as src:
        split = split_touching(src, blob, SEED)
        assert split_touching(src, blob, SplitSettings(0.0)) == [(blob, None)]
        for part, stats in split:  # statistics from the window already read equal a fresh read's
            assert stats == pytest.approx(probability_stats(src, part))
    parts = [part for part, _ in split]
    assert len(parts) == 2
    assert sum(p.area for p in parts) == pytest.approx(blob.area)
    assert parts[0].intersection(parts[1]).area == pytest.approx(0.0)
    assert parts[0].union(parts[1]).symmetric_difference(blob).area == pytest.approx(0.0, abs=1e-6)


def test_part_stats_match_each_part_measured_alone() -> None:
    """One histogram pass gives each label's mean and max as a mask per label would (an empty label: zeros)."""
    from building_extractor.core.vector.vectorize import part_stats

    rng = np.random.default_rng(3)
    values = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    labels = rng.integers(0, 4, (40, 50)).astype(np.int32)
    labels[labels == 2] = 1  # label 2 left empty
    stats = part_stats(values, labels, 3)
    for label in (0, 1, 3):
        inside = values[labels == label]
        assert stats[label] == (inside.mean() / 255.0, inside.max() / 255.0)
    assert stats[2] == (0.0, 0.0)
