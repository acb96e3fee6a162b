"""Time the U-Net pipeline on small and mid-size rasters (clips, drone chips, a neighbourhood: up to a few
tiles): median of ``--repeats`` runs each.

    .venv/bin/python bench/small_rasters.py [--tree DIR] [--model FILE]

``--tree`` runs another checkout's code (e.g. a `git worktree` of an older commit) with the same model file,
for before/after tables in BENCHMARKS.md. The model is loaded once before timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RASTERS = {
    "Kampala image_2": DATA / "kampala" / "image_2.tif",
    "demo sample": ROOT / "data" / "sample" / "banepa_sample.tif",
    "Kampala image_1": DATA / "kampala" / "image_1.tif",
    "Banepa predict": DATA / "banepa" / "predict.tif",
    "Banepa train": DATA / "banepa" / "train.tif",
    "Zanzibar image_1": DATA / "zanzibar" / "image_1.tif",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", default=str(ROOT), help="checkout whose building_extractor is timed")
    # Not core.models.model_file.shipped_model_path: the --tree checkout's package must be the first one imported.
    parser.add_argument("--model", default=str(ROOT / "building_extractor" / "models" / "default_unet.safetensors"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, args.tree)
    from building_extractor.core.extract.pipeline import ExtractionOptions, ExtractionRun, extract_buildings

    options = ExtractionOptions(args.model)
    sum(1 for _ in extract_buildings(str(RASTERS["Kampala image_2"]), options))  # load the model, warm up
    print("| raster (processing grid) | seconds | buildings |\n| --- | --- | --- |")
    for name, path in RASTERS.items():
        times = []
        for _ in range(args.repeats):
            run, started = ExtractionRun(None), time.perf_counter()
            count = sum(1 for _ in extract_buildings(str(path), options, run=run))
            times.append(time.perf_counter() - started)
        width, height = run.grid_size
        print(f"| {name} ({width} × {height} px) | {statistics.median(times):.2f} | {count} |", flush=True)


if __name__ == "__main__":
    main()
