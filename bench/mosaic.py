"""Build large benchmark rasters from the real imagery in ../shared/data.

The Banepa orthophoto is warped once to UTM at the model's GSD, then repeated (mirrored, so there are no
hard joins) into square GeoTIFFs of the requested megapixel sizes. Real pixels, real JPEG-like content.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "banepa" / "train.tif"


def base_tile(workdir: Path, gsd_m: float) -> Path:
    """The source image warped to UTM 45N at ``gsd_m`` (cached)."""
    from osgeo import gdal

    gdal.UseExceptions()
    out = workdir / f"banepa_utm_{gsd_m:g}.tif"
    if not out.exists():
        gdal.Warp(str(out), str(SOURCE), dstSRS="EPSG:32645", xRes=gsd_m, yRes=gsd_m, resampleAlg="bilinear",
                  creationOptions=["TILED=YES", "COMPRESS=DEFLATE"])
    return out


def mosaic(workdir: Path, megapixels: float, gsd_m: float = 0.3) -> Path:
    """A square RGB GeoTIFF of about ``megapixels`` MP made of mirrored copies of the real image."""
    import rasterio
    from rasterio.windows import Window

    side = int(round(math.sqrt(megapixels * 1e6)))
    out = workdir / f"mosaic_{megapixels:g}mp.tif"
    if out.exists():
        return out
    with rasterio.open(base_tile(workdir, gsd_m)) as src:
        tile = src.read()
        valid = src.read_masks(1) > 0
        rows, cols = np.where(valid)
        tile = tile[:, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        h, w = tile.shape[1:]
        profile = {"driver": "GTiff", "width": side, "height": side, "count": 3, "dtype": "uint8",
                   "crs": src.crs, "transform": src.transform, "tiled": True, "blockxsize": 512,
                   "blockysize": 512, "compress": "deflate", "photometric": "RGB"}
    partial = str(out) + ".part.tif"
    with rasterio.open(partial, "w", **profile) as dst:
        for row in range(0, side, 512):
            height = min(512, side - row)
            ys = _mirror_index(np.arange(row, row + height), h)
            strip = tile[:, ys, :]
            xs = _mirror_index(np.arange(side), w)
            dst.write(strip[:, :, xs], window=Window(0, row, side, height))
    os.replace(partial, out)
    return out


def _mirror_index(index: np.ndarray, size: int) -> np.ndarray:
    period = index % (2 * size)
    return np.where(period < size, period, 2 * size - 1 - period)
