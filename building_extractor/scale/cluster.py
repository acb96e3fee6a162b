"""Run an extraction on a Dask cluster: plan partitions, stream their results back, reconcile pieces.

The client never holds more than the results of the partitions in flight (at most ``2 × worker threads`` are
submitted at a time) plus the pieces still waiting for a neighbour, so its memory does not grow with the
raster. A worker that dies mid-task is replaced by its nanny and the scheduler runs its partitions again;
partitions are pure functions of the job, so the result is the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.errors import BuildingExtractorError, Cancelled, DependencyError
from ..core.progress import Progress, SilentProgress
from .partitions import (
    DEFAULT_PARTITION_SIZE,
    PartitionJob,
    PartitionLayout,
    PartitionResult,
    default_halo,
    tile_axes,
)

INSTALL_HINT = "python3 -m pip install dask distributed pystac"


@dataclass
class ClusterOptions:
    """Where and how to run: a scheduler address, or a local cluster of ``workers`` processes."""

    scheduler: str | None = None  # "tcp://host:8786"; None or "local": start a LocalCluster
    workers: int | None = None  # LocalCluster worker processes (default: one per CPU core)
    threads_per_worker: int = 1
    partition_size: int = DEFAULT_PARTITION_SIZE
    halo: int | None = None  # px computed as in one process around each core; default: the largest building
    dashboard_address: str | None = ":8787"


@dataclass
class ClusterRun:
    """What a cluster run did."""

    partitions: int = 0
    skipped: int = 0  # finished in an earlier, interrupted run
    building_count: int = 0
    merged_pieces: int = 0
    dashboard: str = ""
    seconds: float = 0.0
    task_seconds: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def require_dask() -> None:
    """Raise a DependencyError that says how to install dask when it is missing."""
    import importlib.util

    missing = [name for name in ("dask", "distributed") if importlib.util.find_spec(name) is None]
    if missing:
        raise DependencyError(f"Running on a Dask cluster needs the Python packages {' and '.join(missing)}, which "
                              f"are not installed. Install them into this Python: {INSTALL_HINT}")


def plan(dataset: str, architecture: str, options: Any, cluster: ClusterOptions,
         probability_dir: str | None = None) -> PartitionJob:
    """The job for ``dataset`` (see :mod:`.inputs`): processing grid, partition layout and halo."""
    from ..core.extract.pipeline import open_raster
    from ..core.extract.tiling import resolve_overlap
    from ..core.models.model_file import read_config, shipped_model_path
    from .inputs import gdal_path

    config = read_config(options.model_path or shipped_model_path(f"default_{architecture}.safetensors"))
    if config.architecture != architecture:
        raise BuildingExtractorError(f"The model file holds a {config.architecture} model, not a {architecture} "
                                     "one. Choose a matching model file.")
    gsd = config.gsd_m if options.gsd_m is None else options.gsd_m
    warnings: list[str] = []
    with open_raster(gdal_path(dataset), gsd, options.bands, config.band_count, warnings, config.bands,
                     native_if_unreferenced=options.gsd_m is None) as source:
        grid, output_crs = source.grid, source.source_crs_wkt
    tile = options.tile_size or config.tile_size
    overlap = resolve_overlap(config.overlap if options.overlap is None else options.overlap, tile)
    halo = cluster.halo if cluster.halo is not None else default_halo(grid.gsd_m)
    if cluster.partition_size < 64 or halo < 0:
        raise BuildingExtractorError(f"Partitions must be at least 64 px with a halo of 0 px or more; got "
                                     f"{cluster.partition_size} px and {halo} px.")
    layout = PartitionLayout(grid.width, grid.height, cluster.partition_size, halo,
                             *tile_axes(architecture, config, tile, overlap, grid.width, grid.height))
    t = grid.transform
    return PartitionJob(dataset, architecture, options, layout, grid.crs_wkt, (t.a, t.b, t.c, t.d, t.e, t.f),
                        output_crs, probability_dir)


def fingerprint(job: PartitionJob) -> str:
    """What a resumed run must share with the interrupted one: inputs (with their size and time), model, options,
    layout."""
    from ..core.models.model_file import shipped_model_path

    model = job.options.model_path or shipped_model_path(f"default_{job.architecture}.safetensors")
    files = [p for p in (job.dataset, model) if os.path.exists(p)]
    state = {"job": {k: v for k, v in asdict(job).items() if k != "options"}, "options": asdict(job.options),
             "files": {p: [os.path.getsize(p), os.path.getmtime(p)] for p in files}}
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


@contextmanager
def dask_client(cluster: ClusterOptions, progress: Progress) -> Iterator[Any]:
    """A Dask client on ``cluster.scheduler``, or on a LocalCluster started (and stopped) here."""
    require_dask()
    from distributed import Client, LocalCluster

    if cluster.scheduler and cluster.scheduler != "local":
        try:
            client = Client(cluster.scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise BuildingExtractorError(f"Cannot reach the Dask scheduler at {cluster.scheduler}: {exc}. Check "
                                         "the address (tcp://host:8786) and that the scheduler is running.") from exc
        with client:
            progress.info(f"Dask scheduler {cluster.scheduler}: {len(client.scheduler_info()['workers'])} workers; "
                          f"dashboard {client.dashboard_link}")
            yield client
        return
    workers = cluster.workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                  else os.cpu_count() or 1)
    with LocalCluster(n_workers=workers, threads_per_worker=cluster.threads_per_worker,
                      processes=True, dashboard_address=cluster.dashboard_address) as local, Client(local) as client:
        progress.info(f"Dask LocalCluster: {workers} worker processes × "
                      f"{cluster.threads_per_worker} thread(s); dashboard {dashboard(client)}")
        yield client


def dashboard(client: Any) -> str:
    """The dashboard's address, or how to get one (Dask serves it only with bokeh installed)."""
    import importlib.util

    if importlib.util.find_spec("bokeh") is None:
        return f"off (python3 -m pip install bokeh==3.9.2 serves it at {client.dashboard_link})"
    return client.dashboard_link


def stream_partitions(client: Any, job: PartitionJob, indices: list[int], progress: Progress,
                      ahead: int | None = None) -> Iterator[PartitionResult]:
    """Results of the partitions ``indices`` as they complete, at most ``ahead`` in flight; cancel cancels them."""
    from distributed import wait

    from .partitions import run_partition

    if ahead is None:
        ahead = 2 * max(1, sum(w["nthreads"] for w in client.scheduler_info()["workers"].values()))
    queue = list(reversed(indices))
    in_flight: set[Any] = set()
    try:
        while queue or in_flight:
            while queue and len(in_flight) < ahead:
                index = queue.pop()
                in_flight.add(client.submit(run_partition, job, index, key=f"partition-{index}-{id(job):x}",
                                            pure=False))
            if progress.is_canceled():
                raise Cancelled()
            try:
                finished, _ = wait(list(in_flight), timeout=0.5, return_when="FIRST_COMPLETED")
            except TimeoutError:
                continue
            for future in finished:
                in_flight.discard(future)
                result = future.result()  # the task's own exception, if any
                future.release()
                yield result
    finally:
        if in_flight:
            client.cancel(list(in_flight))


def iter_cluster_buildings(dataset: str, architecture: str, options: Any, cluster: ClusterOptions,
                           progress: Progress | None = None, run: ClusterRun | None = None,
                           probability: str | None = None) -> Iterator[Any]:
    """Buildings of ``dataset`` extracted on a Dask cluster, numbered from 1, as partitions complete (no
    journal: the QGIS algorithms stream these into their sink). ``probability``: a GeoTIFF or VRT path."""
    progress = progress or SilentProgress()
    run = run if run is not None else ClusterRun()
    started = time.perf_counter()
    parts = probability_folder(probability) if probability else None
    job = plan(dataset, architecture, options, cluster, parts)
    from .merge import PieceMerger

    merger = PieceMerger(job.grid_crs_wkt, job.output_crs_wkt)
    run.partitions = len(job.layout)
    progress.info(describe(job))
    next_id = 1
    with dask_client(cluster, progress) as client:
        run.dashboard = client.dashboard_link
        for done, result in enumerate(stream_partitions(client, job, list(range(len(job.layout))), progress), 1):
            run.task_seconds.append(result.seconds)
            merger.add(result.pieces)
            for building in result.buildings + merger.finish([result.index]):
                building.id = next_id
                next_id += 1
                yield building
            progress.set_fraction(done / run.partitions)
    run.building_count = next_id - 1
    if probability and parts:
        finish_probability(parts, probability)
    run.seconds = time.perf_counter() - started


def describe(job: PartitionJob) -> str:
    layout = job.layout
    return (f"{layout.width}×{layout.height} px processing grid in {len(layout)} partitions of {layout.size} px "
            f"({layout.rows} rows × {layout.cols} columns) with a {layout.halo} px halo, widened to whole tiles.")


def probability_folder(probability: str) -> str:
    """Where workers write their partitions' probability COGs (beside the requested raster)."""
    folder = os.path.splitext(probability)[0] + "_partitions"
    os.makedirs(folder, exist_ok=True)
    return folder


def finish_probability(folder: str, destination: str) -> None:
    """A VRT of the per-partition COGs at ``destination`` (.vrt), or one tiled GeoTIFF copied from it."""
    import glob

    from osgeo import gdal

    from ..core.extract.pipeline import export_probability

    gdal.UseExceptions()
    parts = sorted(glob.glob(os.path.join(folder, "partition_*.tif")))
    if destination.lower().endswith(".vrt"):
        gdal.BuildVRT(destination, parts)
        return
    vrt = f"/vsimem/building_extractor_probability_{os.getpid()}.vrt"
    gdal.BuildVRT(vrt, parts)
    try:
        export_probability(vrt, destination)
    finally:
        gdal.Unlink(vrt)
    for part in parts:
        os.remove(part)
    os.rmdir(folder)
