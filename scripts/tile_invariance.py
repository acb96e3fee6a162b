"""How much the buildings depend on TILE_SIZE (issue 3's bar: mask IoU >= 0.97, counts within 3 %).

Runs the U-Net pipeline twice per image (core.extract.pipeline.tile_size_agreement: defaults but for the tile size) and
prints the IoU of the two stitched masks and the two building counts, per image of ../shared/data:

    .venv/bin/python scripts/tile_invariance.py [--model FILE] [--tiles 256 1024] [images ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.extract.pipeline import ExtractionOptions, tile_size_agreement  # noqa: E402
from building_extractor.core.models.model_file import shipped_model_path  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
IMAGES = ["kampala/image_1.tif", "kampala/image_2.tif", "zanzibar/image_1.tif", "zanzibar/image_2.tif",
          "banepa/predict.tif"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="*", default=[str(DATA / image) for image in IMAGES])
    parser.add_argument("--model", default=shipped_model_path())
    parser.add_argument("--tiles", type=int, nargs=2, default=[256, 1024])
    args = parser.parse_args()
    print(f"| image | mask IoU {args.tiles[0]} vs {args.tiles[1]} | buildings {args.tiles[0]} | "
          f"buildings {args.tiles[1]} | count difference |")
    print("| --- | --- | --- | --- | --- |")
    for image in args.images:
        iou, (a, b) = tile_size_agreement(image, ExtractionOptions(args.model), tuple(args.tiles))
        name = f"{Path(image).parent.name}/{Path(image).name}"
        print(f"| {name} | {iou:.3f} | {a} | {b} | {abs(a - b) / max(a, b, 1):.1%} |", flush=True)


if __name__ == "__main__":
    main()
