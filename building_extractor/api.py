"""Python API without QGIS: extract buildings from rasters into a GeoPackage, in this process or on Dask.

    from building_extractor.api import extract

    summary = extract("orthophoto.tif", "buildings.gpkg")                       # in this process
    summary = extract("tiles/", "buildings.gpkg", scheduler="local", workers=4)  # LocalCluster, 4 processes
    summary = extract("items.json", "buildings.gpkg", scheduler="tcp://10.0.0.5:8786", asset="visual")

The options are the Processing algorithms' (``extract_buildings_unet`` / ``extract_buildings_maskrcnn``) and the
output layer is the one they write. For finer control use the core generators
(:func:`building_extractor.core.extract.pipeline.extract_buildings`, :func:`building_extractor.core.extract.instances.
extract_instances`) and :func:`building_extractor.scale.cluster.iter_cluster_buildings`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .core.errors import BuildingExtractorError, OutputError
from .core.progress import Progress, SilentProgress
from .scale.partitions import DEFAULT_PARTITION_SIZE

ARCHITECTURES = ("unet", "maskrcnn")


@dataclass
class Summary:
    """What :func:`extract` did."""

    output: str
    architecture: str
    building_count: int
    seconds: float
    partitions: int = 0  # 0: run in this process
    skipped_partitions: int = 0  # finished by an interrupted earlier run (resumed)
    dashboard: str = ""
    probability: str | None = None
    warnings: list[str] = field(default_factory=list)


def core_options(architecture: str, model: str | None = None, resolution: float | None = None,
                 bands: Sequence[int] | None = None, device: str = "auto", batch_size: int | None = None,
                 tile_size: int | None = None, overlap: float | None = None, threshold: float | None = None,
                 split_threshold: float | None = None, score_threshold: float | None = None,
                 mask_threshold: float | None = None, nms_iou: float | None = None, min_area: float = 4.0,
                 simplify: float = 0.25, fill_holes: float = 4.0, regularize: str = "", tta: str = "none",
                 normalize: str = "none") -> Any:
    """The core options of one run (``ExtractionOptions`` or ``InstanceOptions``); ``model`` None: "" (the
    shipped default model, resolved where the extraction runs)."""
    from .core.vector.vectorize import PostProcessOptions

    post = PostProcessOptions(min_area_m2=min_area, simplify_m=simplify, fill_holes_m2=fill_holes,
                              regularize="" if regularize in ("", "none", None) else regularize)
    reading = dict(model_path=model or "", gsd_m=resolution, bands=list(bands) if bands else None, device=device,
                   tile_size=tile_size, overlap=overlap, post=post, tta=tta,
                   normalize=normalize)
    if architecture == "maskrcnn":
        from .core.extract.instances import InstanceOptions

        return InstanceOptions(**reading, batch_size=batch_size or 2, score_threshold=score_threshold,
                               mask_threshold=mask_threshold, nms_iou=nms_iou)
    from .core.extract.pipeline import ExtractionOptions

    return ExtractionOptions(**reading, batch_size=batch_size or 1, threshold=threshold,
                             seed_threshold=split_threshold)


def model_architecture(model: str | None, architecture: str | None) -> str:
    """The architecture of ``model`` (read from its header), or ``architecture`` (default U-Net) without one."""
    from .core.models.model_file import read_config

    if model:
        found = read_config(model).architecture
        if architecture and architecture != found:
            raise BuildingExtractorError(f"The model file {model} holds a {found} model, not {architecture}. "
                                         "Drop --architecture or choose another model file.")
        return found
    architecture = architecture or "unet"
    if architecture not in ARCHITECTURES:
        raise BuildingExtractorError(f"Unknown architecture {architecture}; use one of {', '.join(ARCHITECTURES)}.")
    return architecture


def extract(inputs: str | Sequence[str], output: str, *, model: str | None = None, architecture: str | None = None,
            probability: str | None = None, scheduler: str | None = None, workers: int | None = None,
            threads_per_worker: int = 1, partition_size: int = DEFAULT_PARTITION_SIZE, halo: int | None = None,
            asset: str | None = None, resume: bool = True, overwrite: bool = False,
            dashboard_address: str | None = ":8787", progress: Progress | None = None, **options: Any) -> Summary:
    """Extract buildings from ``inputs`` into the GeoPackage ``output``.

    ``inputs``: a raster, a VRT, a list or folder of rasters (mosaicked; one CRS), or a STAC ItemCollection
    (.json; ``asset`` names the asset). ``options``: the keyword arguments of :func:`core_options`.
    Without ``scheduler`` and ``workers`` the run is the Processing algorithm's, in this process. With
    ``scheduler`` ("tcp://host:8786", or "local" for a LocalCluster of ``workers`` processes) the raster is cut
    into partitions run on Dask; an interrupted cluster run resumes where it stopped when run again with the same
    inputs and options (``resume=False`` starts over). ``probability``: a GeoTIFF (or, on a cluster, a VRT of
    per-partition COGs) of the building probability (U-Net only).
    """
    from .scale.inputs import resolve_input

    progress = progress or SilentProgress()
    started = time.perf_counter()
    architecture = model_architecture(model, architecture)
    check_output(output, inputs, overwrite, probability)
    if probability and architecture != "unet":
        raise BuildingExtractorError("Probability rasters come from U-Net models only; drop --probability.")
    dataset = resolve_input(inputs, asset)
    run_options = core_options(architecture, model, **options)
    if scheduler is None and workers is None:
        count = _extract_here(dataset, output, architecture, run_options, probability, progress)
        return Summary(output, architecture, count, time.perf_counter() - started, probability=probability)
    from .scale.cluster import ClusterOptions

    cluster = ClusterOptions(scheduler or "local", workers, threads_per_worker, partition_size, halo,
                             dashboard_address)
    summary = _extract_on_cluster(dataset, output, architecture, run_options, cluster, probability, resume, progress)
    summary.seconds = time.perf_counter() - started
    return summary


def check_output(output: str, inputs: str | Sequence[str], overwrite: bool, probability: str | None) -> None:
    """Refuse outputs that are not GeoPackages, that would overwrite an input, or exist (without overwrite)."""
    if not output.lower().endswith(".gpkg"):
        raise OutputError(f"OUTPUT {output} must be a GeoPackage (.gpkg). Name a .gpkg file.")
    sources = [inputs] if isinstance(inputs, str) else list(inputs)
    written = [os.path.abspath(p) for p in (output, probability) if p]
    for source in sources:
        if os.path.exists(source) and os.path.abspath(source) in written:
            raise OutputError(f"The output {source} is also an input; choose another output path.")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise OutputError(f"The folder {folder} does not exist. Create it or choose another output path.")
    if os.path.exists(output) and not overwrite:
        raise OutputError(f"{output} exists. Choose another output path, or pass --overwrite to replace it.")


def record_type(architecture: str) -> type:
    if architecture == "maskrcnn":
        from .core.extract.instances import Instance

        return Instance
    from .core.vector.vectorize import Building

    return Building


def _extract_here(dataset: str, output: str, architecture: str, options: Any, probability: str | None,
                  progress: Progress) -> int:
    """The in-process run (the Processing algorithm's core call), written in transactions of 1,000 buildings."""
    from dataclasses import replace

    from .core.models.model_file import shipped_model_path
    from .scale.gpkg import GeoPackageWriter
    from .scale.inputs import gdal_path

    path = gdal_path(dataset)
    options = replace(options, model_path=options.model_path or shipped_model_path(
        f"default_{architecture}.safetensors"))
    if architecture == "maskrcnn":
        from .core.extract.instances import extract_instances

        buildings = extract_instances(path, options, progress)
    else:
        from .core.extract.pipeline import extract_buildings

        buildings = extract_buildings(path, replace(options, probability_path=probability), progress)
    writer = GeoPackageWriter(output, _source_crs_wkt(path), record_type(architecture))
    count = 0
    try:
        writer.begin()
        for building in buildings:
            count += writer.write([building])
            if count % 1000 == 0:
                writer.end()
                writer.begin()
        writer.end()
    except BaseException:
        buildings.close()
        writer.discard()
        raise
    writer.commit()
    return count


def _source_crs_wkt(path: str) -> str:
    """The raster's CRS as the core reports it (``RasterSource.source_crs_wkt``): buildings come in it."""
    from osgeo import gdal

    dataset = gdal.OpenEx(path, gdal.OF_RASTER)
    srs = dataset.GetSpatialRef() if dataset is not None else None
    return srs.ExportToWkt() if srs is not None else ""


def _extract_on_cluster(dataset: str, output: str, architecture: str, options: Any, cluster: Any,
                        probability: str | None, resume: bool, progress: Progress) -> Summary:
    """Partitions on Dask, written as they complete, journaled for resuming (see :mod:`.scale.gpkg`)."""
    from .scale.cluster import (
        dask_client,
        describe,
        fingerprint,
        finish_probability,
        plan,
        probability_folder,
        stream_partitions,
    )
    from .scale.gpkg import GeoPackageWriter, piece_from_json, piece_json
    from .scale.merge import PieceMerger

    parts = probability_folder(probability) if probability else None
    job = plan(dataset, architecture, options, cluster, parts)
    kind = record_type(architecture)
    writer = GeoPackageWriter(output, job.output_crs_wkt, kind, fingerprint(job) if resume else None)
    merger = PieceMerger(job.grid_crs_wkt, job.output_crs_wkt)
    merger.add(piece_from_json(data, kind) for data in writer.resumed_pieces)
    merger.done = set(writer.done)
    todo = [i for i in range(len(job.layout)) if i not in writer.done]
    if parts and not writer.done:  # COGs of an earlier run with other settings must not join this mosaic
        for name in os.listdir(parts):
            if name.startswith("partition_"):
                os.remove(os.path.join(parts, name))
    summary = Summary(output, architecture, 0, 0.0, len(job.layout), len(job.layout) - len(todo),
                      probability=probability)
    progress.info(describe(job) + (f" Resuming: {summary.skipped_partitions} partitions were done." if
                                   summary.skipped_partitions else ""))
    try:
        with dask_client(cluster, progress) as client:
            summary.dashboard = client.dashboard_link
            for done, result in enumerate(stream_partitions(client, job, todo, progress), 1):
                merger.add(result.pieces)
                writer.begin()
                written = writer.write(result.buildings + merger.finish([result.index]))
                writer.finish_partition(result.index, [piece_json(piece) for piece, _ in merger.pending])
                writer.end()
                progress.info(f"Partition {result.index + 1}/{len(job.layout)}: {written} buildings "
                              f"({result.seconds:.1f} s); {done}/{len(todo)} of this run done.")
                progress.set_fraction(done / max(len(todo), 1))
        if merger.pending:  # cannot happen once every partition is done; never lose a building silently
            writer.begin()
            writer.write(merger.finish(range(len(job.layout))))
            writer.end()
    except BaseException:
        writer.close() if resume else writer.discard()
        raise
    summary.building_count = writer.next_id - 1
    if probability and parts:
        finish_probability(parts, probability)
    writer.commit()
    return summary
