"""Test-time augmentation: transforms undo exactly, boxes and masks map back, passes fuse; both extraction
pipelines with the shipped models on a real Kampala crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from building_extractor.core.extract.tta import (
    TTA_MODES,
    averaged_probability,
    boxes_back,
    forward_transform,
    fused_detections,
    inverse_transform,
)

torch = pytest.importorskip("torch")
ALL_TRANSFORMS = TTA_MODES["d4"]


@pytest.mark.parametrize("turns, flip", ALL_TRANSFORMS)
def test_boxes_and_masks_found_in_a_transformed_tile_map_back(turns, flip) -> None:
    height, width = 64, 96  # not square: the quarter turns swap the sides
    image = np.zeros((height, width), np.uint8)
    image[10:30, 50:90] = 1  # a 20 x 40 px building, off centre
    image[10:14, 50:54] = 2  # with a marked corner, so that a mirror image would show
    turned = forward_transform(image, turns, flip)
    rows, cols = np.nonzero(turned)
    found = np.array([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]], np.float32)
    assert boxes_back(found, turns, flip, height, width).tolist() == [[50, 10, 90, 30]]
    assert np.array_equal(inverse_transform(turned, turns, flip), image)
    mask = turned[rows.min():rows.max() + 1, cols.min():cols.max() + 1]  # a "detection mask" in its box
    assert np.array_equal(inverse_transform(mask, turns, flip), image[10:30, 50:90])


def test_averaging_keeps_a_pixelwise_answer_and_symmetrises_the_rest() -> None:
    images = torch.rand(2, 3, 64, 96)
    for mode in TTA_MODES:
        assert torch.allclose(averaged_probability(lambda x: x[:, 0], images, mode), images[:, 0])
    ramp = averaged_probability(lambda x: torch.arange(x.shape[-1]).float().expand(x.shape[0], *x.shape[-2:]),
                                images, "flips")  # a left-to-right ramp, averaged with its mirror images
    assert torch.allclose(ramp, torch.full_like(ramp, 95 / 2))


def test_fused_score_is_the_mean_over_passes_and_the_threshold_applies_to_it() -> None:
    square = np.full((28, 28), 0.8, np.float32)

    def found(*items: tuple[list[float], float]) -> dict[str, np.ndarray]:
        return {"boxes": np.array([b for b, _ in items], np.float32).reshape(-1, 4),
                "scores": np.array([s for _, s in items], np.float32),
                "masks": np.stack([square] * len(items)) if items else np.zeros((0, 28, 28), np.float32)}

    passes = [found(([0, 0, 10, 10], 0.9), ([50, 50, 60, 60], 0.8)), found(([1, 0, 11, 10], 0.7)), found()]
    fused = fused_detections(passes, score_threshold=0.2)
    assert fused["scores"].tolist() == pytest.approx([(0.9 + 0.7) / 3, 0.8 / 3])
    assert fused["boxes"][0].tolist() == pytest.approx([0.7 / 1.6, 0, 10 + 0.7 / 1.6, 10])  # score-weighted
    assert fused_detections(passes, score_threshold=0.3)["scores"].tolist() == pytest.approx([1.6 / 3])


@pytest.fixture(scope="module")
def kampala_crop(shared_data: Path, tmp_path_factory) -> str:
    """A 768 x 512 px (115 x 76 m) crop of Kampala image_1 with a dozen houses."""
    from osgeo import gdal

    path = tmp_path_factory.mktemp("tta") / "kampala.tif"
    gdal.Translate(str(path), str(shared_data / "kampala" / "image_1.tif"), srcWin=[512, 0, 768, 512])
    return str(path)


def test_unet_with_tta_agrees_with_one_pass_and_differs_from_it(kampala_crop, tmp_path) -> None:
    from osgeo import gdal

    from building_extractor.core.extract.pipeline import ExtractionOptions, ExtractionRun, extract_buildings
    from building_extractor.core.models.model_file import shipped_model_path
    from building_extractor.core.progress import SilentProgress

    torch.set_num_threads(1)
    probabilities, counts = {}, {}
    for mode in ("none", "d4"):
        path = tmp_path / f"{mode}.tif"
        progress = SilentProgress()
        options = ExtractionOptions(shipped_model_path(), device="cpu", probability_path=str(path), tta=mode)
        counts[mode] = len(list(extract_buildings(kampala_crop, options, progress, ExtractionRun(None))))
        probabilities[mode] = gdal.Open(str(path)).ReadAsArray().astype(float)
    one, eight = probabilities["none"], probabilities["d4"]
    agreement = np.logical_and(one >= 128, eight >= 128).sum() / np.logical_or(one >= 128, eight >= 128).sum()
    assert agreement > 0.85 and np.abs(one - eight).max() > 10  # the same buildings, not the same numbers
    assert counts["none"] > 3 and counts["d4"] > 3


@pytest.mark.slow
def test_mask_rcnn_with_tta_finds_the_buildings_of_one_pass(kampala_crop) -> None:
    from shapely import wkb

    from building_extractor.core.extract.instances import InstanceOptions, extract_instances
    from building_extractor.core.models.model_file import shipped_model_path

    torch.set_num_threads(1)
    found = {}
    for mode in ("none", "flips"):
        options = InstanceOptions(shipped_model_path("default_maskrcnn.safetensors"), device="cpu", tta=mode)
        found[mode] = [wkb.loads(b.wkb) for b in extract_instances(kampala_crop, options)]
    assert len(found["none"]) > 3
    matched = sum(any(a.intersection(b).area / a.union(b).area >= 0.5 for b in found["flips"]) for a in found["none"])
    assert matched >= 0.6 * len(found["none"]), (matched, len(found["none"]), len(found["flips"]))
