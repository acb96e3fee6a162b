"""The baseline a user would otherwise write: whole image in memory, plain torch loop over non-overlapping
tiles, rasterio.features.shapes on the full mask. Prints JSON with seconds and the building count."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(raster: str, model_path: str) -> None:
    import rasterio
    import torch
    from rasterio.features import shapes

    from building_extractor.core.models.builders import load_model

    started = time.perf_counter()
    config, model = load_model(model_path)
    with rasterio.open(raster) as src:
        image = src.read().astype(np.float32) / 255.0
        transform = src.transform
    tile = config.tile_size
    _, height, width = image.shape
    padded = np.pad(image, ((0, 0), (0, -height % tile), (0, -width % tile)), mode="reflect")
    mean = np.asarray(config.mean, np.float32)[:, None, None]
    std = np.asarray(config.std, np.float32)[:, None, None]
    prob = np.zeros(padded.shape[1:], np.float32)
    with torch.inference_mode():
        for row in range(0, padded.shape[1], tile):
            for col in range(0, padded.shape[2], tile):
                x = torch.from_numpy((padded[:, row:row + tile, col:col + tile] - mean) / std)[None]
                prob[row:row + tile, col:col + tile] = torch.sigmoid(model(x))[0, 0].numpy()
    mask = (prob[:height, :width] >= config.threshold).astype(np.uint8)
    polygons = [geom for geom, value in shapes(mask, mask=mask > 0, transform=transform) if value == 1]
    print(json.dumps({"seconds": time.perf_counter() - started, "polygons": len(polygons)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
