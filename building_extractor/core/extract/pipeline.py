"""The U-Net extraction pipeline: read → infer → stitch → vectorize → post-process, streamed end to end."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ..errors import BuildingExtractorError, OutputError
from ..files import temporary_root
from ..gdal_scope import gdal_exceptions
from ..io.area import AreaSpec, ProcessingArea
from ..io.extra_inputs import with_extra_inputs
from ..io.raster_source import RasterSource
from ..models.backends import open_model
from ..models.config import ModelConfig
from ..progress import Progress, SilentProgress, check_canceled
from ..vector.vectorize import (
    Building,
    PostProcessOptions,
    iter_buildings,
    mask_iou,
    polygonize_mask,
    started_workers,
)
from .inference import predict_to_rasters
from .normalize import check_normalization
from .stitching import threshold_byte
from .tiling import TileFrame, resolve_overlap
from .tta import TTA_LABELS

STAGES = ("read and infer", "vectorize", "post-process and write")


@dataclass
class RunOptions:
    """What every extraction run (U-Net or Mask R-CNN) is given; None means "the model's value"."""

    model_path: str
    gsd_m: float | None = None  # None: the model's GSD; 0: the raster's native resolution
    bands: list[int] | None = None
    device: str = "auto"
    backend: str = "auto"  # core.models.backends.BACKENDS
    batch_size: int = 1
    tile_size: int | None = None
    overlap: float | None = None
    post: PostProcessOptions = field(default_factory=PostProcessOptions)
    tta: str = "none"  # test-time augmentation: a key of core.extract.tta.TTA_MODES
    normalize: str = "none"  # per-image value stretch: a key of core.extract.normalize.NORMALIZATIONS
    area: AreaSpec | None = None  # only tiles touching it are read and computed; outside it is nodata
    tile_frame: TileFrame | None = None  # the raster is a window of a larger grid: its tiles are used (Dask)


@dataclass
class ExtractionOptions(RunOptions):
    """User choices for one U-Net run: :class:`RunOptions` and the U-Net's own."""

    threshold: float | None = None
    seed_threshold: float | None = None  # split touching buildings (core.vector.split); 0: never
    probability_path: str | None = None
    landcover_path: str | None = None  # land cover models: the classified raster (core.extract.landcover)
    extra_rasters: dict[str, str] | None = None  # models with raster inputs: {"height": path} (core.io.extra_inputs)
    workdir: str | None = None


@dataclass
class ExtractionRun:
    """What a run did: settings actually used, timings and warnings (filled while iterating)."""

    config: ModelConfig
    device: str = ""
    backend: str = ""
    gsd_m: float = 0.0
    tile_size: int = 0
    overlap: int = 0
    threshold: float = 0.5
    seed_threshold: float = 0.0
    grid_size: tuple[int, int] = (0, 0)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    building_count: int = 0


_MODEL_CACHE: dict[tuple[str, float, str], tuple[ModelConfig, Any]] = {}


def load_cached_model(path: str, architecture: str = "unet") -> tuple[ModelConfig, Any]:
    """Load a model file of ``architecture``; the unmodified CPU copy is cached per (path, mtime), never mutated."""
    import copy

    from ..models.builders import load_model

    key = (os.path.abspath(path), os.path.getmtime(path) if os.path.exists(path) else 0.0, architecture)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE.clear()
        _MODEL_CACHE[key] = load_model(path, expected_architecture=architecture)
    config, model = _MODEL_CACHE[key]
    # Each run gets its own copies: runs never share mutable state.
    return copy.deepcopy(config), copy.deepcopy(model)


class RasterInput(Protocol):
    """A raster that is not a GDAL path (e.g. a QGIS layer read through its data provider).

    ``open`` returns a reader with the interface of :class:`RasterSource`: ``grid``, ``bands``, ``dtype``,
    ``warnings``, ``read(row, col, height, width)``, ``footprint()``, ``source_crs_wkt``,
    ``thread_safe_reads``, ``close()`` and use as a context manager.
    """

    def open(self, gsd_m: float | None, bands: list[int] | None, band_count: int, warnings: list[str]) -> Any: ...


def open_raster(raster: str | RasterInput, gsd_m: float | None, bands: list[int] | None, band_count: int,
                warnings: list[str], band_names: list[str] | None = None,
                native_if_unreferenced: bool = False) -> Any:
    """One reader abstraction for every input: GDAL files via :class:`RasterSource`, anything else via its own
    reader.

    ``band_names`` and ``native_if_unreferenced`` are passed on to :class:`RasterSource` (GDAL paths only).
    """
    if isinstance(raster, str):
        return RasterSource(raster, gsd_m, bands, band_count, warnings=warnings, band_names=band_names,
                            native_if_unreferenced=native_if_unreferenced)
    return raster.open(gsd_m, bands, band_count, warnings)


def check_options(options: ExtractionOptions, config: ModelConfig, tile: int, threshold: float) -> None:
    """Refuse out-of-range settings before any pixel is read; messages name the parameter to change."""
    if tile < config.stride or tile % config.stride:
        fixed = max(config.stride, int(math.ceil(tile / config.stride)) * config.stride)
        raise BuildingExtractorError(
            f"TILE_SIZE must be a positive multiple of {config.stride} (the model's output stride); got {tile}. "
            f"Use {fixed}."
        )
    if not 0 < threshold < 1:
        raise BuildingExtractorError(f"THRESHOLD must lie between 0 and 1; got {threshold}.")
    if options.batch_size < 1:
        raise BuildingExtractorError(f"BATCH_SIZE must be at least 1; got {options.batch_size}.")
    check_normalization(options.normalize)
    if options.gsd_m is not None and not options.gsd_m >= 0:
        raise BuildingExtractorError(
            f"RESOLUTION must be 0 (native) or a positive size in metres per pixel; got {options.gsd_m}."
        )
    post = options.post
    for name, value in (("MIN_AREA", post.min_area_m2), ("SIMPLIFY", post.simplify_m),
                        ("FILL_HOLES", post.fill_holes_m2)):
        if not value >= 0:  # also catches NaN
            raise BuildingExtractorError(f"{name} must be 0 or more; got {value}.")


@contextmanager
def bounded_gdal_cache(megabytes: int = 64) -> Iterator[None]:
    """Cap GDAL's block cache during a run (restored afterwards).

    GDAL's default cache is 5 % of RAM and fills with blocks of the rasters we stream through, so peak memory
    grows with the raster up to the cap: with 256 MB the 16 MP benchmark raster (48 MB of pixels) fitted whole
    while the 64 MP one filled 190 MB. 64 MB still holds the rows the next row of tiles re-reads (160 rows of
    a 60,000 px wide RGB mosaic are 29 MB); reading runs ahead on its own thread, so a re-read costs no wait.
    """
    from osgeo import gdal

    previous = gdal.GetCacheMax()
    gdal.SetCacheMax(min(previous, megabytes * 2**20))
    try:
        yield
    finally:
        gdal.SetCacheMax(previous)


def extract_buildings(raster_path: str | RasterInput, options: ExtractionOptions, progress: Progress | None = None,
                      run: ExtractionRun | None = None) -> Iterator[Building]:
    """Yield buildings found in a raster (a GDAL path or a :class:`RasterInput`); temporary files are removed
    when iteration ends.

    Geometries are in the raster's CRS. ``run`` (if given) is filled with the settings used and timings.
    """
    progress = progress or SilentProgress()
    runner = open_model(options.model_path, "unet", options.backend, options.device, progress, tta=options.tta)
    config = runner.config
    run = run if run is not None else ExtractionRun(config)
    run.config = config
    gsd = config.gsd_m if options.gsd_m is None else options.gsd_m
    tile = options.tile_size or config.tile_size
    threshold = config.threshold if options.threshold is None else options.threshold
    seed = config.seed_threshold if options.seed_threshold is None else options.seed_threshold
    check_options(options, config, tile, threshold)
    if options.landcover_path and not config.is_landcover:
        raise BuildingExtractorError(
            f"OUTPUT_LANDCOVER needs a land cover model, but model {config.name} has the single class "
            f"{config.classes[0]!r}. Choose a land cover model file (e.g. models/landcover_dubai.safetensors) or "
            "leave OUTPUT_LANDCOVER empty.")
    if options.seed_threshold is None and seed <= threshold:  # the user raised THRESHOLD above the model's seeds
        seed = 0.0
    if seed and not threshold < seed < 1:
        raise BuildingExtractorError(f"SPLIT_THRESHOLD must be 0 (do not split) or lie between THRESHOLD "
                                     f"({threshold:g}) and 1; got {seed:g}.")
    post = replace(options.post, seed_threshold=seed, seed_min_area_m2=config.seed_min_area_m2)
    overlap = resolve_overlap(config.overlap if options.overlap is None else options.overlap, tile)
    try:
        workdir = tempfile.mkdtemp(prefix="building_extractor_", dir=temporary_root(options.workdir))
    except OSError as exc:
        raise OutputError(f"Cannot create a temporary folder in {options.workdir or tempfile.gettempdir()} "
                          f"({exc.strerror or exc}). "
                          "Choose a writable temporary folder with free space (Processing ▸ Options ▸ General, "
                          "or the TMPDIR environment variable).") from exc
    started = time.perf_counter()
    cache = ExitStack()
    cache.enter_context(bounded_gdal_cache())
    try:
        with with_extra_inputs(open_raster(raster_path, gsd, options.bands, config.band_count, run.warnings,
                                           config.bands, native_if_unreferenced=options.gsd_m is None),
                               config, options.extra_rasters) as source:
            for message in run.warnings:
                progress.warning(message)
            grid = source.grid
            run.device, run.backend, run.gsd_m, run.tile_size = runner.device, runner.backend, grid.gsd_m, tile
            run.overlap, run.threshold, run.seed_threshold = overlap, threshold, seed
            run.grid_size = (grid.width, grid.height)
            progress.info(f"Model {config.name} ({config.architecture}/{config.encoder}) on "
                          f"{runner.description}.")
            progress.info(
                f"Processing grid {grid.width}×{grid.height} px at {grid.gsd_m:.3g} m; tile {tile} px, "
                f"overlap {overlap} px, threshold {threshold:.2f}"
                + (f"; touching buildings split at cores above {seed:.2f}." if seed else "; no split.")
                + (f" Test-time augmentation: {TTA_LABELS[options.tta].lower()}." if options.tta != "none" else "")
            )
            prob_path = os.path.join(workdir, "probability.tif")
            mask_path = os.path.join(workdir, "mask.tif")
            progress.set_stage(0, STAGES[0])
            landcover_path = os.path.join(workdir, "landcover.tif")
            area = ProcessingArea(options.area, grid) if options.area is not None else None
            run.timings.update(predict_to_rasters(source, runner, config, tile, overlap, options.batch_size,
                                                  threshold, prob_path, mask_path, progress, landcover_path, area,
                                                  options.normalize, options.tile_frame))
            source_crs = source.source_crs_wkt
            clip = source.footprint()
        check_canceled(progress)
        progress.set_stage(1, STAGES[1])
        t0 = time.perf_counter()
        gpkg_path = os.path.join(workdir, "blobs.gpkg")
        workers = cache.enter_context(started_workers(grid.width * grid.height))  # start while GDAL polygonizes
        try:
            count = polygonize_mask(mask_path, gpkg_path, progress)
        except (RuntimeError, OSError) as exc:  # GDAL errors on our own temporary files: space or I/O
            raise OutputError(f"Cannot write the temporary polygons in {os.path.dirname(workdir)}: {exc}. Free disk "
                              "space there or choose another temporary folder (Processing ▸ Options ▸ General, or "
                              "TMPDIR).") from exc
        run.timings["vectorize"] = time.perf_counter() - t0
        check_canceled(progress)
        progress.set_stage(2, STAGES[2])
        t0 = time.perf_counter()
        frame = options.tile_frame
        window = (frame.transform, (frame.row, frame.col)) if frame else None
        for building in iter_buildings(gpkg_path, prob_path, post, grid.crs_wkt, source_crs, progress, count, clip,
                                       workers, window):
            run.building_count += 1
            yield building
        run.timings["postprocess_write"] = time.perf_counter() - t0
        if options.probability_path:
            export_probability(prob_path, options.probability_path)
        if options.landcover_path:
            from .landcover import export_landcover, model_classes

            export_landcover(landcover_path, options.landcover_path, model_classes(config))
        run.timings["total"] = time.perf_counter() - started
    finally:
        cache.close()
        shutil.rmtree(workdir, ignore_errors=True)


def tile_size_agreement(raster_path: str, options: ExtractionOptions, tiles: tuple[int, int] = (256, 1024)
                        ) -> tuple[float, tuple[int, int]]:
    """Run the extraction at two tile sizes: the IoU of the two stitched masks and the two building counts.

    Results should not depend on the tile size (issue 3: IoU >= 0.97, counts within 3 %); this measures it on
    any raster and model. ``options.probability_path`` is ignored (temporary files are used).
    """
    from ..vector.vectorize import ProbabilityRaster

    masks, counts = [], []
    with tempfile.TemporaryDirectory(dir=options.workdir) as workdir:
        for tile in tiles:
            run = ExtractionRun(None)
            prob = os.path.join(workdir, f"probability_{tile}.tif")
            counts.append(sum(1 for _ in extract_buildings(
                raster_path, replace(options, tile_size=tile, probability_path=prob), run=run)))
            with ProbabilityRaster(prob) as raster:
                masks.append(raster.read(0, 0, raster.width, raster.height) >= threshold_byte(run.threshold))
    return mask_iou(masks[0], masks[1]), (counts[0], counts[1])


@gdal_exceptions()
def export_probability(prob_path: str, destination: str) -> None:
    """Copy the stitched probability raster to ``destination`` as a tiled, compressed GeoTIFF (atomic)."""
    from osgeo import gdal

    partial = destination + ".part.tif"
    try:
        gdal.Translate(partial, prob_path, format="GTiff",
                       creationOptions=["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=2", "BIGTIFF=IF_SAFER"])
        os.replace(partial, destination)
    except Exception as exc:
        if os.path.exists(partial):
            os.remove(partial)
        raise OutputError(f"Cannot write the probability raster {destination}: {exc}. "
                          "Choose a writable folder with enough free space.") from exc
