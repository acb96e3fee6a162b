"""Evaluate predicted building polygons against reference footprints (QGIS-free) and print the metrics as JSON.

Example (the model card's command):
    .venv/bin/python scripts/evaluate.py build/kampala_pred.gpkg ../shared/data/kampala/buildings.geojson \
        --extent-of ../shared/data/kampala/image_1.tif --json build/eval.json --html build/eval.html
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.errors import BuildingExtractorError  # noqa: E402
from building_extractor.core.evaluate.metrics import (  # noqa: E402
    DEFAULT_PIXEL_SIZE_M,
    evaluate,
    read_polygon_set,
    write_html_report,
    write_json,
)
from building_extractor.core.progress import SilentProgress  # noqa: E402


def raster_extent(path: str) -> tuple[tuple[float, float, float, float], str]:
    """Bounds and CRS of a raster (its bounding box, masked pixels included)."""
    import rasterio

    with rasterio.open(path) as src:
        return tuple(src.bounds), src.crs.to_wkt()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("predicted", help="predicted buildings (any OGR file: GeoPackage, GeoJSON, ...)")
    parser.add_argument("reference", help="reference footprints (any OGR file)")
    parser.add_argument("--predicted-layer", help="layer name inside the predicted file (GeoPackage)")
    parser.add_argument("--reference-layer", help="layer name inside the reference file")
    parser.add_argument("--area", help="polygons of the evaluation area (any OGR file)")
    parser.add_argument("--extent", nargs=4, type=float, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                        help="evaluation extent (used when no --area), in --extent-crs")
    parser.add_argument("--extent-crs", default="EPSG:4326", help="CRS of --extent (default EPSG:4326)")
    parser.add_argument("--extent-of", action="append", default=[], metavar="RASTER",
                        help="evaluate within a raster's bounds; repeat for several rasters (their boxes are the "
                             "area)")
    parser.add_argument("--pixel-size", type=float, default=DEFAULT_PIXEL_SIZE_M, help="pixel size in m (0.25)")
    parser.add_argument("--iou-thresholds", default="0.5", help="comma-separated IoU thresholds (first = status)")
    parser.add_argument("--json", help="also write the metrics to this JSON file")
    parser.add_argument("--html", help="also write an HTML report")
    parser.add_argument("--verbose", action="store_true", help="print progress to stdout before the JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        predicted = read_polygon_set(args.predicted, args.predicted_layer, name="predicted")
        reference = read_polygon_set(args.reference, args.reference_layer, name="reference")
        area = read_polygon_set(args.area, name="area") if args.area else None
        extent = (tuple(args.extent), args.extent_crs) if args.extent else None
        if args.extent_of and area is None:
            area = _raster_boxes(args.extent_of)
        result = evaluate(predicted, reference, area, extent, pixel_size=args.pixel_size,
                          iou_thresholds=args.iou_thresholds, progress=SilentProgress(verbose=args.verbose))
    except BuildingExtractorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    inputs = {"predicted": args.predicted, "reference": args.reference, "area": args.area or "",
              "extent": args.extent or "", "extent_of": args.extent_of, "pixel_size_m": args.pixel_size,
              "iou_thresholds": args.iou_thresholds}
    if args.json:
        write_json(result, args.json, inputs)
    if args.html:
        write_html_report(result, args.html, inputs)
    print(json.dumps({"inputs": inputs, **result.to_dict()}, indent=2, default=str))
    return 0


def _raster_boxes(paths: list[str]):
    """The rasters' bounding boxes as an area PolygonSet (in the first raster's CRS)."""
    from shapely.geometry import box

    from building_extractor.core.evaluate.metrics import PolygonSet, reproject

    extents = [raster_extent(p) for p in paths]
    crs = extents[0][1]
    boxes = [reproject([box(*bounds)], wkt, crs)[0] for bounds, wkt in extents]
    return PolygonSet(boxes, crs, name="area")


if __name__ == "__main__":
    sys.exit(main())
