"""Hazy imagery: does NORMALIZE help? (MODELS.md, "Hazy imagery")

There is no hazy imagery with footprints in ../shared/data, so this makes some from held-out cities with a
documented model and scores extraction on the clean and degraded versions, with and without normalisation:

- ``haze0.7`` / ``haze0.5``: the atmospheric scattering model I' = I·t + A·(1 − t) with transmission t and a
  bright, slightly blue airlight A = (225, 230, 240), the same over the image (nadir views, short paths);
- ``faded``: a washed-out, low-contrast image, I' = 0.8 · 255 · (I / 255)^0.55 + 20 (gamma brightening the
  shadows, contrast squeezed towards the top).

Each degraded image is written as the originals are (8-bit, JPEG-compressed GeoTIFF with its internal mask) to
``--out``. Extraction runs through the core pipeline (`extract_buildings`, the shipped model by default, defaults
but NORMALIZE); scores are those of `evaluate_buildings` (pixel IoU at 0.25 m, building F1 at IoU ≥ 0.5 within
each image's extent), counts summed over the city's images:

    .venv/bin/python scripts/evaluate_haze.py [--model FILE] [--cities kampala rio] [--normalize none match]
    .venv/bin/python scripts/evaluate_haze.py --training-range   # core.extract.normalize.TRAINING_LOW/HIGH
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.extract.normalize import NORMALIZATIONS, PERCENTILES  # noqa: E402
from building_extractor.core.models.model_file import shipped_model_path  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
AIRLIGHT = np.array([225.0, 230.0, 240.0])[:, None, None]
TRAINING_RASTERS = ("banepa/train.tif", "zanzibar/image_1.tif", "zanzibar/image_2.tif")


def haze(transmission: float) -> Callable[[np.ndarray], np.ndarray]:
    scattered = round(1 - transmission, 6)  # 0.3, not 0.30000000000000004: the same bytes on every machine
    return lambda image: image * transmission + AIRLIGHT * scattered


VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray] | None] = {
    "clean": None,
    "haze0.7": haze(0.7),
    "haze0.5": haze(0.5),
    "faded": lambda image: 255 * (image / 255) ** 0.55 * 0.8 + 20,
}


def degraded(image: Path, variant: str, out: Path) -> str:
    """``image`` as ``variant`` (a GeoTIFF in ``out``, made once), or the image itself for ``clean``."""
    from osgeo import gdal

    change = VARIANTS[variant]
    if change is None:
        return str(image)
    destination = out / f"{image.parent.name}_{image.stem}_{variant}.tif"
    if destination.exists():
        return str(destination)
    gdal.UseExceptions()
    source = gdal.Open(str(image))
    pixels = np.clip(np.round(change(source.ReadAsArray()[:3].astype(np.float64))), 0, 255).astype(np.uint8)
    mask = source.GetRasterBand(1).GetMaskBand().ReadAsArray()
    partial = str(destination) + ".part.tif"
    gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES")
    target = gdal.GetDriverByName("GTiff").Create(partial, source.RasterXSize, source.RasterYSize, 3, gdal.GDT_Byte,
                                                  ["COMPRESS=JPEG", "JPEG_QUALITY=90", "PHOTOMETRIC=YCBCR",
                                                   "TILED=YES"])
    target.SetGeoTransform(source.GetGeoTransform())
    target.SetProjection(source.GetProjection())
    for band in range(3):
        target.GetRasterBand(band + 1).WriteArray(pixels[band])
    if (mask == 0).any():
        target.CreateMaskBand(gdal.GMF_PER_DATASET)
        target.GetRasterBand(1).GetMaskBand().WriteArray(mask)
    target = None
    Path(partial).rename(destination)
    return str(destination)


def score_image(image: str, labels: Path, model: str, normalize: str) -> dict:
    """Pixel and building counts of one extraction (defaults but NORMALIZE) against ``labels``."""
    from osgeo import gdal
    from shapely import wkb

    from building_extractor.core.evaluate.metrics import PolygonSet, evaluate, read_polygon_set
    from building_extractor.core.extract.pipeline import ExtractionOptions, extract_buildings

    found = [wkb.loads(b.wkb) for b in extract_buildings(image, ExtractionOptions(model, normalize=normalize))]
    raster = gdal.Open(image)
    t, crs = raster.GetGeoTransform(), raster.GetProjection()
    extent = (t[0], t[3] + t[5] * raster.RasterYSize, t[0] + t[1] * raster.RasterXSize, t[3])
    result = evaluate(PolygonSet(found, crs, name="predicted"), read_polygon_set(str(labels)), extent=(extent, crs))
    return {**{k: result.pixel[f"{k}_px"] for k in ("tp", "fp", "fn")},
            **{f"b_{k}": result.building[0.5][k] for k in ("tp", "fp", "fn")}}


def scores(counts: dict) -> dict:
    """Pixel IoU and building precision, recall, F1 from summed counts."""
    iou = counts["tp"] / max(1, counts["tp"] + counts["fp"] + counts["fn"])
    precision = counts["b_tp"] / max(1, counts["b_tp"] + counts["b_fp"])
    recall = counts["b_tp"] / max(1, counts["b_tp"] + counts["b_fn"])
    return {"pixel_iou": iou, "building_f1": 2 * precision * recall / max(1e-9, precision + recall), **counts}


def training_range() -> None:
    """Print each training raster's 2nd and 98th percentiles per band and their means."""
    from osgeo import gdal

    lows, highs = [], []
    for name in TRAINING_RASTERS:
        raster = gdal.Open(str(DATA / name))
        factor = max(1, max(raster.RasterXSize, raster.RasterYSize) // 1024)
        shape = dict(buf_xsize=raster.RasterXSize // factor, buf_ysize=raster.RasterYSize // factor)
        pixels = raster.ReadAsArray(**shape)[:3]
        valid = raster.GetRasterBand(1).GetMaskBand().ReadAsArray(**shape) > 0
        low, high = zip(*(np.percentile(band[valid], PERCENTILES) for band in pixels))
        lows.append(low), highs.append(high)
        print(name, "low", np.round(low), "high", np.round(high))
    print("TRAINING_LOW =", tuple(np.round(np.mean(lows, axis=0))), "TRAINING_HIGH =",
          tuple(np.round(np.mean(highs, axis=0))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=shipped_model_path())
    parser.add_argument("--cities", nargs="+", default=["kampala", "rio"])
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--normalize", nargs="+", choices=tuple(NORMALIZATIONS), default=list(NORMALIZATIONS))
    parser.add_argument("--out", default=str(ROOT / "build" / "haze"))
    parser.add_argument("--training-range", action="store_true", help="only print the training imagery's range")
    args = parser.parse_args()
    if args.training_range:
        return training_range()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    print("| city | imagery | NORMALIZE | pixel IoU | building F1 | TP/FP/FN |\n| --- | --- | --- | --- | --- | --- |")
    for city in args.cities:
        images = sorted((DATA / city).glob("image_*.tif"))
        for variant in args.variants:
            for normalize in args.normalize:
                counts: dict[str, int] = {}
                for image in images:
                    for key, value in score_image(degraded(image, variant, out), DATA / city / "buildings.geojson",
                                                  args.model, normalize).items():
                        counts[key] = counts.get(key, 0) + value
                result = results[f"{city}/{variant}/{normalize}"] = scores(counts)
                print(f"| {city} | {variant} | {normalize} | {result['pixel_iou']:.4f} | {result['building_f1']:.3f} "
                      f"| {counts['b_tp']}/{counts['b_fp']}/{counts['b_fn']} |", flush=True)
    (out / "summary.json").write_text(json.dumps({"model": args.model, "results": results}, indent=1))


if __name__ == "__main__":
    main()
