"""Forward-pass speed of the shipped U-Net per tile size and batch, on the same real imagery (MP/s of tile).

Usage: .venv/bin/python bench/tile_speed.py [--raster build/bench/mosaic_4mp.tif] [--repeats 4]
(`make bench` writes the raster first.) Used to choose the default tile (BENCHMARKS.md, session 3).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import MODEL, real_batch  # noqa: E402


def main() -> None:
    import torch

    from building_extractor.core.extract.inference import Predictor
    from building_extractor.core.models.builders import load_model
    from building_extractor.core.progress import SilentProgress

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raster", default=str(ROOT / "build" / "bench" / "mosaic_4mp.tif"))
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    config, model = load_model(str(MODEL))
    predictor = Predictor(model, torch.device("cpu"), SilentProgress())
    for tile, batch in ((512, 4), (768, 2), (1024, 1), (1024, 2)):
        config.tile_size = tile
        images = real_batch(Path(args.raster), config, batch)
        predictor(images)  # warm-up
        started = time.perf_counter()
        for _ in range(args.repeats):
            predictor(images)
        rate = args.repeats * batch * tile * tile / (time.perf_counter() - started) / 1e6
        print(f"tile {tile:4d} batch {batch}: {rate:.3f} MP/s", flush=True)


if __name__ == "__main__":
    main()
