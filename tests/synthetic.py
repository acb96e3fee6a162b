"""Synthetic rasters and a stand-in "bright roof" model for fast, deterministic pipeline tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def write_raster(path: Path, data: np.ndarray, crs: str | None, transform: Any, nodata: float | None = None,
                 mask: np.ndarray | None = None) -> Path:
    """Write (bands, h, w) ``data`` as a GeoTIFF, optionally with a nodata value or an internal mask."""
    import rasterio

    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
               "dtype": data.dtype.name, "transform": transform, "nodata": nodata}
    if crs:
        profile["crs"] = crs
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            if mask is not None:
                dst.write_mask(mask.astype(np.uint8) * 255)
    return path


def scene_with_roofs(height: int, width: int, roofs: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Dark uint8 RGB ground with bright rectangles (row, col, h, w) as roofs."""
    data = np.full((3, height, width), 40, np.uint8)
    for r, c, h, w in roofs:
        data[:, r:r + h, c:c + w] = 220
    return data


class BrightRoofNet:
    """A 1×1-conv 'U-Net' stand-in: probability is high where the (normalised) pixel is bright."""

    @staticmethod
    def build() -> Any:
        import torch

        conv = torch.nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            conv.weight.fill_(4.0)
            conv.bias.fill_(0.0)  # normalised grey 0 -> 0.5; bright roofs (+0.7 each band) -> ~1
        return conv


def use_bright_roof_model(monkeypatch: Any, tmp_path: Path, gsd_m: float = 0.3, tile: int = 64,
                          overlap: int = 16) -> str:
    """Patch the pipeline's model loader to return :class:`BrightRoofNet`; returns a fake model path."""
    from building_extractor.core.extract import pipeline
    from building_extractor.core.models.config import ModelConfig

    config = ModelConfig(gsd_m=gsd_m, tile_size=tile, overlap=overlap, threshold=0.75, name="bright-roof")
    monkeypatch.setattr(pipeline, "load_cached_model", lambda path, *_: (config, BrightRoofNet.build()))
    return str(tmp_path / "bright-roof.safetensors")


def bright_roof_detections(images: Any, score_threshold: float, bleed: float = 0.0) -> list[dict[str, Any]]:
    """A stand-in for :func:`building_extractor.core.models.maskrcnn.detect`: every 4-connected region of one bright
    grey level (160-199, 200-239, 240-255) is one building, so touching roofs of different brightness are two; regions
    under 40 px (resampling slivers along roof edges) are ignored; score 0.9. ``bleed`` > 0 stretches each mask
    over a box that many pixels larger on every side, as a real model's coarse masks spill onto neighbours."""
    from affine import Affine
    from rasterio.features import rasterize, shapes
    from shapely.geometry import shape

    results = []
    for image in images.cpu().numpy():
        levels = np.round((image[0] * 0.5 + 0.5) * 255).astype(np.int32)  # undo the (0.5, 0.5) normalisation
        levels = np.where(levels >= 160, (levels - 160) // 40 + 1, 0).astype(np.int32)  # 160-199, 200-239, 240+
        boxes, masks = [], []
        for geom, _level in shapes(levels, mask=levels > 0, connectivity=4):
            polygon = shape(geom)
            if polygon.area < 40:
                continue
            x0, y0, x1, y1 = polygon.bounds
            cell = Affine((x1 - x0) / 28, 0, x0, 0, (y1 - y0) / 28, y0)
            masks.append(rasterize([polygon], out_shape=(28, 28), transform=cell, dtype="uint8").astype(np.float32))
            boxes.append([x0 - bleed, y0 - bleed, x1 + bleed, y1 + bleed])
        results.append({"boxes": np.array(boxes, np.float32).reshape(-1, 4),
                        "scores": np.full(len(boxes), 0.9, np.float32),
                        "masks": np.array(masks, np.float32).reshape(-1, 28, 28)})
    return results


def use_bright_roof_detector(monkeypatch: Any, tmp_path: Path, gsd_m: float = 0.3, tile: int = 64,
                             overlap: int = 16, bleed: float = 0.0) -> str:
    """Patch the Mask R-CNN pipeline to detect bright roofs (:func:`bright_roof_detections`); returns a fake
    model path."""
    import torch

    from building_extractor.core.extract import instances, pipeline
    from building_extractor.core.models.maskrcnn import maskrcnn_config

    config = maskrcnn_config(gsd_m=gsd_m, tile_size=tile, overlap=overlap, name="bright-roof-detector")
    monkeypatch.setattr(pipeline, "load_cached_model", lambda path, architecture="unet": (config, torch.nn.Identity()))
    monkeypatch.setattr(instances, "detect",
                        lambda model, images, threshold: bright_roof_detections(images, threshold, bleed))
    return str(tmp_path / "bright-roof-detector.safetensors")
