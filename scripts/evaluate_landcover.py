"""Score the Dubai land cover model on its held-out test groups (1 and 4); its validation group (3) scores are in
the model file (written by training on the same pipeline's chips).

Each group's mosaic goes through the extraction pipeline (OUTPUT_LANDCOVER), and the classified raster is scored
against the group's class raster with evaluate_landcover. Writes build/eval-landcover/summary.json and prints the
table of MODELS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.evaluate.landcover_metrics import landcover_scores  # noqa: E402
from building_extractor.core.extract.landcover import evaluate_landcover, model_classes  # noqa: E402
from building_extractor.core.extract.pipeline import ExtractionOptions, extract_buildings  # noqa: E402
from building_extractor.core.models.model_file import read_config  # noqa: E402
from scripts.train_landcover import DEFAULT_OUTPUT, TEST_GROUPS, VALIDATION_GROUPS  # noqa: E402


def score_group(model: str, data: Path, group: int, out: Path, device: str) -> dict:
    """Extract the group's land cover and score it against its class raster."""
    raster = out / f"landcover_tile{group}.tif"
    options = ExtractionOptions(model, device=device, landcover_path=str(raster))
    for _ in extract_buildings(str(data / f"tile{group}.tif"), options):
        pass
    return evaluate_landcover(str(raster), str(data / f"classes_tile{group}.tif"), model_classes(read_config(model)))


def table(results: dict[str, dict], names: list[str]) -> str:
    """Markdown rows: overall accuracy, mean IoU and per-class IoU per set."""
    head = "| set | overall accuracy | mean IoU | " + " | ".join(f"IoU {n}" for n in names) + " |"
    rows = [head, "|" + " --- |" * (3 + len(names))]
    for label, scores in results.items():
        ious = [scores["classes"][n]["iou"] for n in names]
        rows.append(f"| {label} | {scores['overall_accuracy']:.3f} | {scores['mean_iou']:.3f} | "
                    + " | ".join("–" if v is None else f"{v:.3f}" for v in ious) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "dubai"))
    parser.add_argument("--out", default=str(ROOT / "build" / "eval-landcover"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--with-validation", action="store_true", help="also extract and score group 3")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = read_config(args.model).classes
    results = {}
    sets = [("test (groups 1 + 4)", TEST_GROUPS)] + ([("validation (group 3)", VALIDATION_GROUPS)]
                                                     if args.with_validation else [])
    for label, groups in sets:
        per_group = {g: score_group(args.model, Path(args.data), g, out, args.device) for g in groups}
        for group, scores in per_group.items():
            results[f"group {group}"] = scores
        matrix = sum(np.asarray(s["confusion_matrix"]["rows_reference_columns_predicted"]) for s in per_group.values())
        results[label] = landcover_scores(matrix, names)
    (out / "summary.json").write_text(json.dumps(results, indent=1))
    print(table(results, names))


if __name__ == "__main__":
    main()
