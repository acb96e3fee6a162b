"""Vectorize and post-process one benchmark mosaic's stitched mask on their own, for before/after comparisons.

The mosaic's probability and mask rasters are computed once with the default U-Net on onnxruntime and kept in
build/bench/post_<size>mp/; each call then times GDAL Polygonize and iter_buildings (the pipeline's vectorize and
post-process stages) and prints a SHA-256 of every building's geometry and attributes, so two code versions can
be checked for the same output. CPU seconds include the worker processes.

Usage: .venv/bin/python bench/postprocess.py [--size 16] [--tree CHECKOUT] [--workers N] [--started-workers]
(--tree: another checkout's building_extractor, e.g. `git worktree add /tmp/old HEAD~3`; run the two alternately.)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def kept_rasters(size: float) -> Path:
    """build/bench/post_<size>mp/ with probability.tif, mask.tif and the grid's CRS and footprint (made once)."""
    sys.path.insert(0, str(ROOT))
    from bench.mosaic import mosaic
    from building_extractor.core.extract.inference import predict_to_rasters
    from building_extractor.core.extract.tiling import resolve_overlap
    from building_extractor.core.io.raster_source import RasterSource
    from building_extractor.core.models.backends import open_model
    from building_extractor.core.models.model_file import default_model_path
    from building_extractor.core.progress import SilentProgress

    folder = ROOT / "build" / "bench" / f"post_{size:g}mp"
    if (folder / "footprint.wkb").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    runner = open_model(default_model_path("unet"), "unet", "onnxruntime", "cpu")
    config = runner.config
    with RasterSource(str(mosaic(ROOT / "build" / "bench", size)), config.gsd_m, None, config.band_count) as source:
        predict_to_rasters(source, runner, config, config.tile_size, resolve_overlap(config.overlap, config.tile_size),
                           1, config.threshold, str(folder / "probability.tif"), str(folder / "mask.tif"),
                           SilentProgress())
        (folder / "grid.wkt").write_text(source.grid.crs_wkt)
        (folder / "source.wkt").write_text(source.source_crs_wkt)
        (folder / "footprint.wkb").write_bytes(source.footprint().wkb)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=16, help="mosaic megapixels")
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout whose building_extractor is timed")
    parser.add_argument("--workers", default="", help="BUILDING_EXTRACTOR_WORKERS (default: the pipeline's rule)")
    parser.add_argument("--started-workers", action="store_true",
                        help="start the workers before polygonizing, as the pipeline does (if the tree has it)")
    args = parser.parse_args()
    folder = kept_rasters(args.size)
    if args.workers:
        os.environ["BUILDING_EXTRACTOR_WORKERS"] = args.workers
    sys.path.insert(0, str(args.tree))
    for name in [name for name in sys.modules if name.startswith("building_extractor")]:
        del sys.modules[name]  # kept_rasters imported this checkout's
    from shapely import wkb

    from building_extractor.core.progress import SilentProgress
    from building_extractor.core.vector import vectorize

    post = vectorize.PostProcessOptions(seed_threshold=0.98, seed_min_area_m2=2.0)  # the default U-Net's
    clip = wkb.loads((folder / "footprint.wkb").read_bytes())
    digest, count = hashlib.sha256(), 0
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        started, cpu = time.perf_counter(), time.process_time()
        workers = {}
        if args.started_workers:
            workers = {"workers": stack.enter_context(vectorize.started_workers(int(args.size * 1e6)))}
        blobs = vectorize.polygonize_mask(str(folder / "mask.tif"), os.path.join(tmp, "blobs.gpkg"))
        polygonized = time.perf_counter()
        for building in vectorize.iter_buildings(os.path.join(tmp, "blobs.gpkg"), str(folder / "probability.tif"), post,
                                                 (folder / "grid.wkt").read_text(), (folder / "source.wkt").read_text(),
                                                 SilentProgress(), blobs, clip, **workers):
            digest.update(building.wkb)
            digest.update(repr((building.id, building.confidence, building.max_probability, building.area_m2,
                                building.perimeter_m)).encode())
            count += 1
        done = time.perf_counter()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = time.process_time() - cpu + children.ru_utime + children.ru_stime
    print(f"{args.tree}: {blobs} blobs, {count} buildings; vectorize {polygonized - started:.2f} s, post-process "
          f"{done - polygonized:.2f} s, CPU {cpu_s:.2f} s (with workers); load {os.getloadavg()[0]:.1f}; "
          f"sha256 {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
