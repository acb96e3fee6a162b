"""One profile-driven optimisation, measured: how many region proposals the Mask R-CNN keeps per tile.

py-spy showed the detector's RoI heads (box head and mask head over every kept proposal) at about a quarter
of the Mask R-CNN's time on CPU. This script times the shipped model's forward pass on real tiles and scores
building F1 on held-out Kampala for several proposal counts, so that speed is never bought with accuracy.

Usage: .venv/bin/python bench/proposals.py [--counts 1000 500 300 150]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.mosaic import mosaic  # noqa: E402
from bench.run import BATCH, MODELS, WORK, real_batch  # noqa: E402

KAMPALA = ROOT.parent / "shared" / "data" / "kampala"


def kampala_f1(model_path: str, proposals: int) -> float:
    """Building F1 (IoU >= 0.5) on both Kampala images, counts summed."""
    import rasterio
    from shapely import wkb

    from building_extractor.core.evaluate.metrics import PolygonSet, evaluate, read_polygon_set
    from building_extractor.core.extract import pipeline
    from building_extractor.core.extract.instances import InstanceOptions, extract_instances

    reference = read_polygon_set(str(KAMPALA / "buildings.geojson"), name="reference")
    tp = fp = fn = 0
    for image in sorted(KAMPALA.glob("image_*.tif")):
        pipeline._MODEL_CACHE.clear()
        config, model = pipeline.load_cached_model(model_path, "maskrcnn")
        model.rpn._post_nms_top_n["testing"] = proposals
        original = pipeline.load_cached_model
        pipeline.load_cached_model = lambda path, architecture="unet", loaded=(config, model): loaded
        try:
            found = [wkb.loads(b.wkb) for b in extract_instances(str(image), InstanceOptions(model_path))]
        finally:
            pipeline.load_cached_model = original
        with rasterio.open(image) as src:
            bounds, crs = tuple(src.bounds), src.crs.to_wkt()
        predicted = PolygonSet(found, crs, name="predicted")
        building = evaluate(predicted, reference, extent=(bounds, crs)).to_dict()["building"]["0.5"]
        tp, fp, fn = tp + building["tp"], fp + building["fp"], fn + building["fn"]
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def throughput(model_path: str, proposals: int, batch, repeats: int = 4) -> float:
    import torch

    from building_extractor.core.extract.instances import Detector
    from building_extractor.core.models.builders import load_model
    from building_extractor.core.progress import SilentProgress

    config, model = load_model(model_path)
    model.rpn._post_nms_top_n["testing"] = proposals
    detector = Detector(model, torch.device("cpu"), config.threshold, SilentProgress())
    detector(batch)
    started = time.perf_counter()
    for _ in range(repeats):
        detector(batch)
    return repeats * batch.shape[0] * batch.shape[-1] ** 2 / (time.perf_counter() - started) / 1e6


def main() -> None:
    from building_extractor.core.models.model_file import read_config

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 500, 300, 150])
    args = parser.parse_args()
    model_path = str(MODELS["maskrcnn"])
    batch = real_batch(mosaic(WORK, 4.0), read_config(model_path), BATCH["maskrcnn"])
    rows = [{"proposals": n, "mp_per_s": round(throughput(model_path, n, batch), 4),
             "kampala_building_f1": round(kampala_f1(model_path, n), 4)} for n in args.counts]
    for row in rows:
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
