"""Per-building heights on real lidar (../shared/data/alexandria) against the footprints' height_m.

building_heights (the algorithm's core) measures each footprint in the nDSM and in DSM − DTM, with and without an
inward buffer; for each statistic (mean, median, p90, max) the median absolute difference and the correlation
with height_m are printed as the table of help/building_heights.md, and the figure
help/images/building_heights_alexandria.png is drawn (footprints coloured by measured height over the nDSM,
and measured against reference heights).

Usage::

    .venv/bin/python scripts/heights_agreement.py [--figure help/images/building_heights_alexandria.png]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.vector.heights import STATISTICS, agreement, building_heights  # noqa: E402

ALEXANDRIA = ROOT.parent / "shared" / "data" / "alexandria"
BUFFERS = (0.0, 1.0)  # metres; 1 m is half a 2 m cell, enough to drop most wall pixels
COMPARED = ("height_mean", "height_median", "height_p90", "height_max")


def footprints(folder: Path) -> tuple[list, list[float | None]]:
    """Footprints (EPSG:26918) and their height_m (None where the source has no height)."""
    import fiona
    from shapely.geometry import shape

    with fiona.open(folder / "buildings.geojson") as source:
        features = [(shape(f["geometry"]), f["properties"].get("height_m")) for f in source if f["geometry"]]
    return [g for g, _ in features], [h if h is not None and h > 0 else None for _, h in features]


def measure(folder: Path, geometries: list, source: str, buffer: float) -> list:
    """Height statistics per footprint from the nDSM ("ndsm") or from DSM − DTM ("dsm-dtm")."""
    inner = [g.buffer(-buffer) for g in geometries] if buffer > 0 else None
    if source == "ndsm":
        return building_heights(geometries, str(folder / "ndsm.tif"), inner=inner)
    return building_heights(geometries, str(folder / "dsm.tif"), str(folder / "dtm.tif"), inner=inner)


def comparison(folder: Path) -> tuple[list[dict], dict]:
    """One row per (source, buffer, statistic) with its agreement; the nDSM statistics without buffer."""
    geometries, reference = footprints(folder)
    rows, kept = [], {"geometries": geometries, "reference": reference}
    for source in ("ndsm", "dsm-dtm"):
        for buffer in BUFFERS:
            stats = measure(folder, geometries, source, buffer)
            kept[(source, buffer)] = stats
            for name in COMPARED:
                rows.append({"source": source, "buffer_m": buffer, "statistic": name,
                             **agreement([s.value(name) for s in stats], reference)})
    return rows, kept


def table(rows: list[dict]) -> str:
    lines = ["| height model | inward buffer | statistic | buildings | median abs. difference (m) | "
             "median difference (m) | correlation |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {'nDSM' if r['source'] == 'ndsm' else 'DSM − DTM'} | {r['buffer_m']:g} m | "
                     f"{r['statistic'].replace('height_', '')} | {r['buildings']} | {r['median_abs_diff_m']:.2f} | "
                     f"{r['median_diff_m']:+.2f} | {r['correlation']:.3f} |")
    return "\n".join(lines)


def figure(folder: Path, kept: dict, output: Path) -> None:
    """(a) footprints coloured by their median height in DSM − DTM over the nDSM; (b) measured medians against
    the reference heights."""
    import rasterio
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PatchCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Polygon as Patch

    with rasterio.open(folder / "ndsm.tif") as src:
        ndsm = src.read(1, masked=True)
        left, bottom, right, top = src.bounds
    fig = Figure(figsize=(12, 5.2), dpi=100)
    FigureCanvasAgg(fig)
    ax_map, ax_scatter = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    image = ax_map.imshow(ndsm, extent=(left, right, bottom, top), cmap="Greys_r", vmin=0, vmax=30)
    fig.colorbar(image, ax=ax_map, shrink=0.8, label="nDSM (m)")
    medians = [s.height_median for s in kept[("dsm-dtm", 1.0)]]
    patches, values = [], []
    for geometry, value in zip(kept["geometries"], medians):
        for part in getattr(geometry, "geoms", [geometry]):
            patches.append(Patch(list(part.exterior.coords), closed=True))
            values.append(value if value is not None else 0.0)
    collection = PatchCollection(patches, cmap="viridis", alpha=0.85, edgecolor="white", linewidth=0.5)
    collection.set_array(values)
    collection.set_clim(0, 30)
    ax_map.add_collection(collection)
    fig.colorbar(collection, ax=ax_map, shrink=0.8, label="height_median, DSM − DTM, 1 m buffer (m)")
    ax_map.set_title("(a) Alexandria footprints on the lidar nDSM (2 m)")
    ax_map.set_xticks([]), ax_map.set_yticks([])
    reference = kept["reference"]
    series = ((("ndsm", 0.0), "median, nDSM, no buffer", "^"), (("ndsm", 1.0), "median, nDSM, 1 m buffer", "s"),
              (("dsm-dtm", 1.0), "median, DSM − DTM, 1 m buffer", "o"))
    for key, label, marker in series:
        pairs = [(r, s.height_median) for r, s in zip(reference, kept[key]) if r and s.height_median is not None]
        ax_scatter.scatter([p[0] for p in pairs], [p[1] for p in pairs], s=16, marker=marker, label=label,
                           alpha=0.75)
    ax_scatter.plot([0, 30], [0, 30], "k--", linewidth=0.8, label="1:1")
    ax_scatter.set_xlim(0, 30), ax_scatter.set_ylim(0, 30)
    ax_scatter.set_xlabel("footprint height_m (m)")
    ax_scatter.set_ylabel("measured by building_heights (m)")
    ax_scatter.set_title("(b) measured against reference heights")
    ax_scatter.grid(alpha=0.3)
    ax_scatter.legend()
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(ALEXANDRIA))
    parser.add_argument("--figure", default=str(ROOT / "help" / "images" / "building_heights_alexandria.png"))
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    rows, kept = comparison(Path(args.data))
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    figure(Path(args.data), kept, Path(args.figure))
    print("figure:", args.figure)


if __name__ == "__main__":
    assert set(COMPARED) <= set(STATISTICS)
    main()
