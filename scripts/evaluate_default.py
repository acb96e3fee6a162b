"""Score a model on a city it never trained on (the model card's numbers): `make eval-default`.

For each held-out image: `bin/qgis_process run building_extractor:extract_buildings_unet` (or
`extract_buildings_maskrcnn` with --architecture maskrcnn: `make eval-default-maskrcnn`), then
`bin/qgis_process run building_extractor:evaluate_buildings` against the OSM footprints within the image's
extent. Pixel and building counts are summed over the images; writes build/eval-default/summary.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.extract.tta import TTA_MODES  # noqa: E402
from building_extractor.core.models.choices import extract_algorithm  # noqa: E402


def task_algorithm(architecture: str) -> str:
    """unet or maskrcnn: the suffix of the extraction algorithm that runs ``architecture``'s models."""
    return extract_algorithm(architecture).removeprefix("extract_buildings_")
QGIS_PROCESS = str(ROOT / "bin" / "qgis_process")


def qgis_run(algorithm: str, **params: str) -> dict:
    command = [QGIS_PROCESS, "--json", "run", f"building_extractor:{algorithm}"]
    command += [f"--{name}={value}" for name, value in params.items()]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return json.loads(result.stdout[result.stdout.index("{"):])


def evaluate_image(image: Path, labels: Path, model: str, out: Path, architecture: str = "unet",
                   tta: str = "none") -> dict:
    stem = f"{image.parent.name}_{image.stem}"
    predicted = out / f"{stem}_buildings.gpkg"
    params = {"INPUT": str(image), "OUTPUT": str(predicted), "TTA": str(list(TTA_MODES).index(tta))}
    if model:
        params["MODEL"] = model
    started = time.perf_counter()
    qgis_run(f"extract_buildings_{task_algorithm(architecture)}", **params)
    seconds = time.perf_counter() - started
    qgis_run("evaluate_buildings", PREDICTED=str(predicted), REFERENCE=str(labels), EXTENT=str(image),
             OUTPUT=str(out / f"{stem}_tpfpfn.gpkg"), OUTPUT_JSON=str(out / f"{stem}.json"),
             OUTPUT_HTML=str(out / f"{stem}.html"))
    return {**json.loads((out / f"{stem}.json").read_text()), "extract_seconds": round(seconds, 1)}


def combine(results: list[dict]) -> dict:
    """Sum pixel and building counts over images and recompute the scores."""
    px = {k: sum(r["pixel"][k] for r in results) for k in ("tp_px", "fp_px", "fn_px", "tn_px")}
    bld = {k: sum(r["building"]["0.5"][k] for r in results) for k in ("tp", "fp", "fn")}

    def ratio(a: float, b: float) -> float:
        return a / b if b else 0.0

    precision, recall = ratio(px["tp_px"], px["tp_px"] + px["fp_px"]), ratio(px["tp_px"], px["tp_px"] + px["fn_px"])
    b_precision, b_recall = ratio(bld["tp"], bld["tp"] + bld["fp"]), ratio(bld["tp"], bld["tp"] + bld["fn"])
    return {
        "pixel": {"iou": ratio(px["tp_px"], px["tp_px"] + px["fp_px"] + px["fn_px"]), "precision": precision,
                  "recall": recall, "f1": ratio(2 * precision * recall, precision + recall),
                  "accuracy": ratio(px["tp_px"] + px["tn_px"], sum(px.values())), **px},
        "building": {"precision": b_precision, "recall": b_recall,
                     "f1": ratio(2 * b_precision * b_recall, b_precision + b_recall), **bld},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--city", default="kampala")
    parser.add_argument("--model", default="", help="model file (default: the shipped model)")
    parser.add_argument("--architecture", choices=("unet", "maskrcnn"), default="unet",
                        help="unet: extract_buildings_unet (every segmentation network); maskrcnn")
    parser.add_argument("--tta", choices=TTA_MODES, default="none", help="test-time augmentation")
    parser.add_argument("--images", nargs="+", help="image files relative to --data (default: the city's images)")
    parser.add_argument("--out", help="default: build/eval-default[-maskrcnn]")
    args = parser.parse_args()
    args.out = args.out or str(ROOT / "build" / ("eval-default" + ("-maskrcnn" if args.architecture == "maskrcnn"
                                                                     else "")))
    city = Path(args.data) / args.city
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    images = [Path(args.data) / i for i in args.images] if args.images else \
        sorted(city.glob("image_*.tif")) or sorted(city.glob("*.tif"))
    for image in images:
        result = evaluate_image(image, image.parent / "buildings.geojson", args.model, out, args.architecture,
                                args.tta)
        result["image"] = image.name
        results.append(result)
    summary = {"city": args.city, "architecture": args.architecture, "model": args.model or "default",
               "tta": args.tta, "combined": combine(results),
               "extract_seconds": round(sum(r["extract_seconds"] for r in results), 1),
               "images": [{"image": r["image"], "pixel": r["pixel"], "building": r["building"]["0.5"],
                           "extract_seconds": r["extract_seconds"]} for r in results]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    c = summary["combined"]
    print(json.dumps(summary["combined"], indent=1))
    print(f"{args.city}: pixel IoU {c['pixel']['iou']:.4f}, pixel F1 {c['pixel']['f1']:.3f}, "
          f"building P/R/F1 {c['building']['precision']:.3f}/{c['building']['recall']:.3f}/"
          f"{c['building']['f1']:.3f}; extraction {summary['extract_seconds']} s (TTA {args.tta})")


if __name__ == "__main__":
    main()
