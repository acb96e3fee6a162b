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
    from building_extractor.core import pipeline
    from building_extractor.core.model_file import ModelConfig

    config = ModelConfig(gsd_m=gsd_m, tile_size=tile, overlap=overlap, threshold=0.75, name="bright-roof")
    monkeypatch.setattr(pipeline, "load_cached_model", lambda path: (config, BrightRoofNet.build()))
    return str(tmp_path / "bright-roof.safetensors")
