"""Command line without QGIS: ``python -m building_extractor extract INPUT... OUTPUT [options]``.

Installed as the console script ``building-extractor``. The options are the Processing algorithms' (run
``python -m building_extractor extract --help``); ``--scheduler`` sends the job to a Dask cluster.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .core.errors import BuildingExtractorError
from .core.extract.normalize import NORMALIZATIONS
from .core.extract.tta import TTA_MODES
from .core.vector.regularize import MODES
from .scale.partitions import DEFAULT_PARTITION_SIZE


def _bands(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--bands takes 1-based band numbers separated by commas, e.g. 1,2,3; "
                                         f"got {text}") from exc


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="building-extractor", description="Extract building footprints from "
                                   "imagery with deep learning (no QGIS needed).")
    commands = main.add_subparsers(dest="command", required=True)
    p = commands.add_parser("extract", help="buildings from rasters into a GeoPackage",
                            description="Extract buildings from INPUT (a raster, a VRT, several rasters, a folder "
                                        "of rasters or a STAC ItemCollection .json) into the GeoPackage OUTPUT.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="raster(s), VRT, folder or STAC ItemCollection")
    p.add_argument("output", metavar="OUTPUT", help="GeoPackage to write (.gpkg)")
    model = p.add_argument_group("model and reading (as the algorithms' parameters)")
    model.add_argument("--model", help="model file (.safetensors); default: the shipped model")
    model.add_argument("--architecture", choices=("unet", "maskrcnn"),
                       help="without --model: which shipped model (default unet)")
    model.add_argument("--resolution", type=float, help="processing resolution m/px (default: the model's; 0 native)")
    model.add_argument("--bands", type=_bands, help="bands to read, e.g. 1,2,3 (default: red, green, blue)")
    model.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default auto)")
    model.add_argument("--batch-size", type=int, help="tiles per forward pass (default 1 U-Net, 2 Mask R-CNN)")
    model.add_argument("--tile-size", type=int, help="tile size px (default: the model's)")
    model.add_argument("--overlap", type=float, help="tile overlap px, or a fraction below 1 (default: the model's)")
    model.add_argument("--tta", choices=tuple(TTA_MODES), default="none",
                       help="test-time augmentation: flips (4 passes) or d4 (8 passes); default none")
    model.add_argument("--normalize", choices=tuple(NORMALIZATIONS), default="none",
                       help="match: stretch hazy or faded images to the training imagery's range; default none")
    thresholds = p.add_argument_group("thresholds")
    thresholds.add_argument("--threshold", type=float, help="U-Net building probability (default: the model's)")
    thresholds.add_argument("--split-threshold", type=float, help="U-Net: split touching buildings at cores above "
                                                                   "this probability (0 never)")
    thresholds.add_argument("--score-threshold", type=float, help="Mask R-CNN detection score")
    thresholds.add_argument("--mask-threshold", type=float, help="Mask R-CNN mask probability")
    thresholds.add_argument("--nms-iou", type=float, help="Mask R-CNN duplicate removal IoU")
    polygons = p.add_argument_group("polygons")
    polygons.add_argument("--min-area", type=float, default=4.0, help="minimum building area m² (default 4)")
    polygons.add_argument("--simplify", type=float, default=0.25, help="simplification tolerance m (default 0.25)")
    polygons.add_argument("--fill-holes", type=float, default=4.0, help="fill holes smaller than m² (default 4)")
    polygons.add_argument("--regularize", choices=("none", *MODES), default="none",
                          help="straight walls and right angles (default none)")
    out = p.add_argument_group("outputs")
    out.add_argument("--probability", help="U-Net probability raster (.tif; on a cluster also .vrt of COGs)")
    out.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    dask = p.add_argument_group("Dask (scale-out)")
    dask.add_argument("--scheduler", help="tcp://host:8786 of a running scheduler, or 'local' for a LocalCluster")
    dask.add_argument("--workers", type=int, help="LocalCluster worker processes (default: one per core; implies "
                                                  "--scheduler local)")
    dask.add_argument("--threads-per-worker", type=int, default=1, help="LocalCluster threads per worker (default 1)")
    dask.add_argument("--partition-size", type=int, default=DEFAULT_PARTITION_SIZE,
                      help=f"partition core size px of the processing grid (default {DEFAULT_PARTITION_SIZE})")
    dask.add_argument("--halo", type=int, help="px around each partition computed as in one process (default: "
                                               "40 m, the largest building kept whole); windows end on whole tiles")
    dask.add_argument("--no-resume", action="store_true", help="start over instead of resuming an interrupted run")
    dask.add_argument("--dashboard-address", default=":8787", help="LocalCluster dashboard (default :8787)")
    p.add_argument("--asset", help="STAC asset key (default: visual, image, data... or the first GeoTIFF)")
    p.add_argument("--quiet", action="store_true", help="print only errors and the summary")
    return main


class PrintProgress:
    """Progress on stdout (the core's Progress protocol)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def set_stage(self, index: int, name: str) -> None:
        if not self.quiet:
            print(f"[{index + 1}] {name}", flush=True)

    def set_fraction(self, fraction: float) -> None:
        pass

    def info(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    def warning(self, message: str) -> None:
        print(f"WARNING: {message}", file=sys.stderr, flush=True)

    def is_canceled(self) -> bool:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (errors say what is wrong and what to do)."""
    from .api import extract

    args = parser().parse_args(argv)
    progress = PrintProgress(args.quiet)
    try:
        summary = extract(
            args.inputs if len(args.inputs) > 1 else args.inputs[0], args.output, model=args.model,
            architecture=args.architecture, probability=args.probability, scheduler=args.scheduler,
            workers=args.workers, threads_per_worker=args.threads_per_worker, partition_size=args.partition_size,
            halo=args.halo, asset=args.asset, resume=not args.no_resume, overwrite=args.overwrite,
            dashboard_address=args.dashboard_address, progress=progress, resolution=args.resolution,
            bands=args.bands, device=args.device, batch_size=args.batch_size, tile_size=args.tile_size,
            overlap=args.overlap, threshold=args.threshold, split_threshold=args.split_threshold,
            score_threshold=args.score_threshold, mask_threshold=args.mask_threshold, nms_iou=args.nms_iou,
            min_area=args.min_area, simplify=args.simplify, fill_holes=args.fill_holes, regularize=args.regularize,
            tta=args.tta, normalize=args.normalize)
    except BuildingExtractorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume a cluster run", file=sys.stderr)
        return 130
    where = f" on {summary.partitions} partitions" if summary.partitions else ""
    print(f"{summary.building_count} buildings written to {summary.output}{where} in {summary.seconds:.1f} s"
          + (f" ({summary.skipped_partitions} partitions resumed)" if summary.skipped_partitions else ""))
    return 0


def main_exit() -> None:
    """Console script entry point (``building-extractor``)."""
    sys.exit(main())
