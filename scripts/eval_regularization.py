"""Measure footprint regularization on real labels with the AI4GEO figures (their Table 2).

Every reference footprint of ../shared/data is rasterized alone at 0.3 m in a local UTM CRS and polygonized
again: a staircase blob like a segmentation model's output ("staircase"). A second variant adds smooth
random noise (about 0.3 m) to the blob's signed distance before thresholding ("noisy"). Blobs are then
regularized with building_extractor.core.vector.regularize, and both blobs and regularized footprints are compared
with the reference footprints:

- mean IoU with the reference footprint,
- mean ratio of the number of segments to the reference's (after removing collinear vertices),
- mean orientation difference of the minimum oriented bounding boxes (radians, modulo 90 degrees).

Usage::

    .venv/bin/python scripts/eval_regularization.py [--sets banepa kampala zanzibar] [--mode right_angles]
        [--tolerance 0.75] [--figure help/images/regularize_kampala.png]
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.vector.regularize import (
    MODES,
    RegularizeOptions,
    iou,
    polygonal,
    regularize_buildings,
)

warnings.filterwarnings("ignore")
DATA = ROOT.parent / "shared" / "data"
PIXEL = 0.3  # metres
AI4GEO = {"iou": 0.692, "segment_ratio": 1.81, "orientation": 0.15}


def utm_crs(lon: float, lat: float) -> str:
    return f"EPSG:{(32600 if lat >= 0 else 32700) + int((lon + 180) // 6) + 1}"


def read_reference(path: Path) -> tuple[list, str]:
    """Reference footprints (largest part of each) in the local UTM CRS, and that CRS."""
    import fiona
    from pyproj import Transformer
    from shapely.geometry import shape
    from shapely.ops import transform

    with fiona.open(path) as src:
        geoms = [shape(f["geometry"]) for f in src if f["geometry"]]
    lon, lat = np.mean([g.centroid.x for g in geoms]), np.mean([g.centroid.y for g in geoms])
    crs = utm_crs(lon, lat)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform
    out = []
    for g in geoms:
        g = polygonal(transform(to_utm, g))
        if g.is_empty:
            continue
        parts = sorted(getattr(g, "geoms", [g]), key=lambda p: -p.area)
        if parts[0].area >= 4.0:
            out.append(parts[0])
    return out, crs


def blob(reference, rng: np.random.Generator | None):
    """Rasterize one footprint at PIXEL metres and polygonize it back (optionally with boundary noise)."""
    from rasterio.features import rasterize, shapes
    from rasterio.transform import from_origin
    from scipy import ndimage
    from shapely.geometry import shape

    minx, miny, maxx, maxy = reference.bounds
    margin = 5 * PIXEL
    x0 = math.floor((minx - margin) / PIXEL) * PIXEL
    y1 = math.ceil((maxy + margin) / PIXEL) * PIXEL
    width = math.ceil((maxx + margin - x0) / PIXEL)
    height = math.ceil((y1 - (miny - margin)) / PIXEL)
    transform = from_origin(x0, y1, PIXEL, PIXEL)
    mask = rasterize([(reference, 1)], out_shape=(height, width), transform=transform, dtype="uint8")
    if rng is not None:
        signed = ndimage.distance_transform_edt(mask) - ndimage.distance_transform_edt(1 - mask)
        noise = ndimage.gaussian_filter(rng.normal(size=mask.shape), 3.0)
        noise *= 1.0 / max(noise.std(), 1e-9)  # ~1 pixel standard deviation, smooth along the boundary
        mask = (signed + noise > 0).astype("uint8")
        labels, count = ndimage.label(mask)
        if count > 1:
            sizes = ndimage.sum(mask, labels, range(1, count + 1))
            mask = (labels == 1 + int(np.argmax(sizes))).astype("uint8")
    polys = [shape(g) for g, v in shapes(mask, mask=mask.astype(bool), transform=transform) if v == 1]
    return max(polys, key=lambda p: p.area) if polys else None


def segments(geometry) -> int:
    geometry = geometry.simplify(0)
    count = 0
    for part in getattr(geometry, "geoms", [geometry]):
        count += len(part.exterior.coords) - 1 + sum(len(r.coords) - 1 for r in part.interiors)
    return count


def mbr_angle(geometry) -> float:
    rect = np.asarray(geometry.minimum_rotated_rectangle.exterior.coords)
    edge = rect[1] - rect[0]
    return math.atan2(edge[1], edge[0]) % (math.pi / 2)


def figures(candidates: list, references: list) -> dict[str, float]:
    ious, ratios, angles = [], [], []
    for cand, ref in zip(candidates, references):
        if cand is None or cand.is_empty:
            ious.append(0.0)
            continue
        ious.append(iou(cand, ref))
        ratios.append(segments(cand) / segments(ref))
        d = abs(mbr_angle(cand) - mbr_angle(ref))
        angles.append(min(d, math.pi / 2 - d))
    return {"iou": float(np.mean(ious)), "segment_ratio": float(np.mean(ratios)),
            "orientation": float(np.mean(angles)), "n": len(references)}


def evaluate(sets: list[str], options: RegularizeOptions, seed: int = 0):
    rows, kept = [], {}
    for variant in ("staircase", "noisy"):
        rng = np.random.default_rng(seed)
        all_refs, all_blobs, all_regs = [], [], []
        for name in sets:
            refs, crs = read_reference(DATA / name / "buildings.geojson")
            blobs = [blob(r, rng if variant == "noisy" else None) for r in refs]
            results = regularize_buildings(blobs, options)
            regs = [r.geometry if r is not None else None for r in results]
            all_refs += refs
            all_blobs += blobs
            all_regs += regs
            kept[(variant, name)] = (refs, blobs, regs, crs, results)
        share = np.mean([r.regularized for v, n in kept if v == variant for r in kept[(v, n)][4] if r])
        rows.append((variant, "blobs (before)", figures(all_blobs, all_refs)))
        rows.append((variant, f"regularized ({options.mode})", figures(all_regs, all_refs), share))
    return rows, kept


def plot(kept: dict, path: Path, variant: str = "noisy") -> None:
    """Before/after picture on Kampala imagery (crop with the most buildings)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import rasterio
    from pyproj import Transformer
    from rasterio.windows import from_bounds
    from shapely.ops import transform

    _refs, blobs, regs, crs, _ = kept[(variant, "kampala")]
    with rasterio.open(DATA / "kampala" / "image_1.tif") as src:
        to_img = Transformer.from_crs(crs, src.crs, always_xy=True).transform
        blobs_i = [transform(to_img, b) for b in blobs if b is not None]
        regs_i = [transform(to_img, r) for r in regs if r is not None]
        inside = [b for b in blobs_i if src.bounds.left < b.centroid.x < src.bounds.right
                  and src.bounds.bottom < b.centroid.y < src.bounds.top]
        size = 60.0  # metres (EPSG:3857 near the equator)
        best = max(inside, key=lambda b: sum(o.centroid.distance(b.centroid) < size / 2 for o in inside))
        cx, cy = best.centroid.x, best.centroid.y
        bounds = (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)
        window = from_bounds(*bounds, transform=src.transform)
        image = np.moveaxis(src.read([1, 2, 3], window=window, boundless=True), 0, -1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.6))
    extent = (bounds[0], bounds[2], bounds[1], bounds[3])
    for ax, geoms, title, colour in ((axes[0], blobs_i, "Before: noisy staircase blobs", "#ff3b30"),
                                     (axes[1], regs_i, "After: regularize_buildings (right angles)",
                                      "#00e5ff")):
        ax.imshow(image, extent=extent)
        for g in geoms:
            for part in getattr(g, "geoms", [g]):
                for ring in [part.exterior, *part.interiors]:
                    x, y = ring.xy
                    ax.plot(x, y, color=colour, linewidth=1.4)
        ax.set_xlim(bounds[0], bounds[2])
        ax.set_ylim(bounds[1], bounds[3])
        ax.set_title(title)
        ax.set_axis_off()
    fig.text(0.5, 0.01, "Kampala imagery: OpenAerialMap, CC-BY 4.0; blobs made from OpenStreetMap footprints "
             "(© OpenStreetMap contributors, ODbL)", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.15)
    print(f"figure written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["banepa", "kampala", "zanzibar"])
    parser.add_argument("--mode", default="right_angles", choices=MODES)
    parser.add_argument("--tolerance", type=float, default=RegularizeOptions.tolerance)
    parser.add_argument("--min-iou", type=float, default=RegularizeOptions.min_iou)
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    options = RegularizeOptions(mode=args.mode, tolerance=args.tolerance, min_iou=args.min_iou)
    rows, kept = evaluate(args.sets, options)
    print(f"sets: {', '.join(args.sets)}; blobs rasterized at {PIXEL} m; tolerance {args.tolerance} m")
    print("| input | footprints | n | mean IoU | segment ratio | orientation (rad) | regularized share |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        variant, label, fig = row[:3]
        share = f"{row[3]:.0%}" if len(row) > 3 else "–"
        print(f"| {variant} | {label} | {fig['n']} | {fig['iou']:.3f} | {fig['segment_ratio']:.2f} | "
              f"{fig['orientation']:.3f} | {share} |")
    print(f"| AI4GEO Table 2 | regularized | – | {AI4GEO['iou']:.3f} | {AI4GEO['segment_ratio']:.2f} | "
          f"{AI4GEO['orientation']:.3f} | – |")
    if args.figure is not None and "kampala" in args.sets:
        plot(kept, args.figure)


if __name__ == "__main__":
    main()
