"""The shipped default model on real imagery of a city it never saw in training (Kampala)."""

from __future__ import annotations

import numpy as np
import rasterio

from building_extractor.core.pipeline import ExtractionOptions, ExtractionRun, extract_buildings
from building_extractor.core.vectorize import mask_iou
from building_extractor.processing.base_algorithm import default_model_path


def test_default_model_finds_kampala_buildings(provider, shared_data, tmp_path) -> None:
    """Loose floors against the OSM labels (the model card reports the real numbers)."""
    import processing

    from building_extractor.core.metrics import evaluate, read_polygon_set

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
    assert metrics["building"]["0.5"]["f1"] >= 0.25, metrics["building"]


def test_result_does_not_depend_on_tile_size(shared_data, tmp_path) -> None:
    """TILE_SIZE 256 and 1024 give the same buildings: mask IoU >= 0.97, counts within 3 %."""
    image = str(shared_data / "kampala" / "image_1.tif")
    masks, counts = [], []
    for tile in (256, 1024):
        prob = tmp_path / f"prob_{tile}.tif"
        run = ExtractionRun(None)
        options = ExtractionOptions(default_model_path(), tile_size=tile, probability_path=str(prob))
        counts.append(len(list(extract_buildings(image, options, run=run))))
        with rasterio.open(prob) as src:
            masks.append(src.read(1) >= int(np.ceil(run.threshold * 255)))
    assert mask_iou(*masks) >= 0.97
    assert abs(counts[0] - counts[1]) <= max(1, 0.03 * max(counts))
