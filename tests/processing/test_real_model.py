"""The shipped default model on real imagery of a city it never saw in training (Kampala)."""

from __future__ import annotations

import pytest
import rasterio

from building_extractor.core.extract.pipeline import ExtractionOptions, tile_size_agreement
from building_extractor.core.models.model_file import shipped_model_path


def test_default_model_finds_kampala_buildings(provider, shared_data, tmp_path) -> None:
    """Loose floors against the OSM labels (the model card reports the real numbers)."""
    import processing

    from building_extractor.core.evaluate.metrics import evaluate, read_polygon_set

    image = shared_data / "kampala" / "image_1.tif"
    out = tmp_path / "kampala.gpkg"
    processing.run("building_extractor:extract_buildings_unet", {"INPUT": str(image), "OUTPUT": str(out)})
    predicted = read_polygon_set(str(out), name="predicted")
    reference = read_polygon_set(str(shared_data / "kampala" / "buildings.geojson"), name="reference")
    with rasterio.open(image) as src:
        bounds, crs = tuple(src.bounds), src.crs.to_wkt()
    result = evaluate(predicted, reference, extent=(bounds, crs))
    metrics = result.to_dict()
    assert metrics["pixel"]["iou"] >= 0.45, metrics["pixel"]
    assert metrics["building"]["0.5"]["f1"] >= 0.4, metrics["building"]


def test_default_model_splits_attached_roofs(provider, shared_data, tmp_path) -> None:
    """Kampala image_2 is a block of 98 small attached roofs: as one semantic mask they merge into a few
    blobs; split at the probability cores (SPLIT_THRESHOLD, tuned on validation) they come out one by one."""
    import processing

    from building_extractor.core.evaluate.metrics import evaluate, read_polygon_set

    image = shared_data / "kampala" / "image_2.tif"
    reference = read_polygon_set(str(shared_data / "kampala" / "buildings.geojson"), name="reference")
    with rasterio.open(image) as src:
        extent = (tuple(src.bounds), src.crs.to_wkt())
    scores = {}
    for split in (None, 0.0):  # the model's value, and never split
        out = tmp_path / f"split_{split}.gpkg"
        params = {"INPUT": str(image), "OUTPUT": str(out), **({} if split is None else {"SPLIT_THRESHOLD": split})}
        processing.run("building_extractor:extract_buildings_unet", params)
        result = evaluate(read_polygon_set(str(out), name="predicted"), reference, extent=extent)
        scores[split] = result.to_dict()["building"]["0.5"]
    assert scores[None]["f1"] >= 0.4, scores
    assert scores[None]["f1"] >= scores[0.0]["f1"] + 0.25, scores


@pytest.fixture(scope="module")
def tile_size_result(shared_data, tmp_path_factory):
    options = ExtractionOptions(shipped_model_path(), workdir=str(tmp_path_factory.mktemp("tiles")))
    return tile_size_agreement(str(shared_data / "kampala" / "image_1.tif"), options, (256, 1024))


def test_tile_size_does_not_change_the_buildings(tile_size_result) -> None:
    """Issue 3's bar: TILE_SIZE 256 and 1024 (default overlap) give the same buildings: mask IoU >= 0.97 and
    counts within 3 %. Was 0.933 with a whole-tile Hann window; the context margin and the mirrored raster
    border (tiling.blend_window, make_tiles(pad=...)) brought it to 0.97."""
    iou, counts = tile_size_result
    assert iou >= 0.97
    assert abs(counts[0] - counts[1]) <= max(1, 0.03 * max(counts))
