"""Partitions of the processing grid, with a halo, and the task that extracts the buildings of one partition.

The processing grid of the whole input is cut into square cores of ``size`` px; each partition reads its core
plus ``halo`` px around it (its window), so buildings near the core's edge are seen whole and with the model's
context. Which partition reports a building:

- a building seen whole (not touching an inner edge of the window) belongs to the partitions whose core,
  grown by ``CLAIM_MARGIN`` px, holds its centroid (the representative point: unlike shapely's
  ``representative_point`` it moves by a fraction of a pixel when the outline moves by one, so two partitions'
  versions of one building agree on it). A building with one claimant is final; one with several, or that a
  neighbour sees cut, goes to the client as a *piece* (:mod:`.merge` keeps one version);
- a building touching an inner edge of the window was cut by it (wider than the halo): its fragment goes to the
  client as a piece when it reaches into this partition's core; the client merges fragments of one building.

The task function (:func:`run_partition`) is a pure core call: picklable arguments, no QGIS import.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field, replace
from typing import Any

#: A whole building is claimed by every partition whose core grown by this many px holds its centroid, so a
#: centroid that moves by under a pixel between two partitions' versions never leaves a building unclaimed.
CLAIM_MARGIN = 4.0
#: The largest building the default halo keeps whole (metres); larger ones are merged from fragments.
LARGEST_BUILDING_M = 40.0
#: Default core size of a partition (px of the processing grid): about 1.5 km² at 0.3 m.
DEFAULT_PARTITION_SIZE = 4096


@dataclass(frozen=True)
class Partition:
    """One partition: its index, its core and its window (core plus halo, clipped to the grid), in grid px."""

    index: int
    core: tuple[int, int, int, int]  # row0, col0, row1, col1 (end exclusive)
    window: tuple[int, int, int, int]


@dataclass(frozen=True)
class TileAxis:
    """The tiles of the single-process run along one axis of the processing grid: their starts and length (px)."""

    starts: tuple[int, ...]
    tile: int
    length: int  # the grid's length on this axis

    def window(self, low: int, high: int, halo: int) -> tuple[int, int]:
        """The smallest span of whole tiles around [low, high) whose own tiles are the only ones covering the
        pixels within ``halo`` px of it: those pixels then get exactly the single-process run's values.

        The run in the span computes only the tiles lying inside it (``core.tiling.TileFrame``); a pixel also
        covered by a tile that starts before the span or ends after it is computed without that tile, so the span
        reaches back to the first tile that no earlier tile overlaps below ``low - halo`` (and likewise forwards).
        """
        ends = [start + self.tile for start in self.starts]
        first = sum(end <= low - halo for end in ends)  # tiles before it end before the halo: not needed
        last = sum(start < high + halo for start in self.starts) - 1  # tiles after it start beyond the halo
        start = max(self.starts[first], 0) if first else 0
        end = min(ends[last], self.length) if last < len(self.starts) - 1 else self.length
        return start, end


@dataclass(frozen=True)
class PartitionLayout:
    """Square cores of ``size`` px over a ``width`` × ``height`` px processing grid. Each partition reads its core,
    at least ``halo`` px around it, and as much more as needed to end on the single-process run's tile edges
    (``row_tiles``, ``col_tiles``): its buildings are then those the single-process run finds."""

    width: int
    height: int
    size: int
    halo: int
    row_tiles: TileAxis
    col_tiles: TileAxis

    @property
    def rows(self) -> int:
        return max(1, math.ceil(self.height / self.size))

    @property
    def cols(self) -> int:
        return max(1, math.ceil(self.width / self.size))

    def __len__(self) -> int:
        return self.rows * self.cols

    def partition(self, index: int) -> Partition:
        row, col = divmod(index, self.cols)
        r0, c0 = row * self.size, col * self.size
        r1, c1 = min(r0 + self.size, self.height), min(c0 + self.size, self.width)
        (wr0, wr1), (wc0, wc1) = self.row_tiles.window(r0, r1, self.halo), self.col_tiles.window(c0, c1, self.halo)
        return Partition(index, (r0, c0, r1, c1), (wr0, wc0, wr1, wc1))

    def owned_core(self, index: int) -> tuple[float, float, float, float]:
        """The core with its outer sides open: buildings beyond the grid's edge belong to the edge partition."""
        r0, c0, r1, c1 = self.partition(index).core
        row, col = divmod(index, self.cols)
        return (-math.inf if row == 0 else r0, -math.inf if col == 0 else c0,
                math.inf if row == self.rows - 1 else r1, math.inf if col == self.cols - 1 else c1)

    def near(self, row: float, col: float, margin: float) -> list[int]:
        """Partitions whose owned core grown by ``margin`` px holds the point (row, col)."""
        rows = {min(max(int((row + d) // self.size), 0), self.rows - 1) for d in (-margin, 0.0, margin)}
        cols = {min(max(int((col + d) // self.size), 0), self.cols - 1) for d in (-margin, 0.0, margin)}
        found = []
        for r in sorted(rows):
            for c in sorted(cols):
                index = r * self.cols + c
                r0, c0, r1, c1 = self.owned_core(index)
                if r0 - margin <= row < r1 + margin and c0 - margin <= col < c1 + margin:
                    found.append(index)
        return found

    def overlapping_cores(self, bounds: tuple[float, float, float, float]) -> list[int]:
        """Partitions whose core meets the pixel box (row0, col0, row1, col1)."""
        r0, c0, r1, c1 = bounds
        rows = range(max(0, int(r0 // self.size)), min(self.rows, int(r1 // self.size) + 1))
        cols = range(max(0, int(c0 // self.size)), min(self.cols, int(c1 // self.size) + 1))
        return [r * self.cols + c for r in rows for c in cols]


def default_halo(gsd_m: float, largest_building_m: float = LARGEST_BUILDING_M) -> int:
    """Halo (px) that a building claimed by a partition (centroid within ``CLAIM_MARGIN`` of its core) fits in,
    up to ``largest_building_m`` wide. The tiles' context comes on top: windows end on whole tiles."""
    return int(math.ceil(largest_building_m / gsd_m + CLAIM_MARGIN)) + 1


def tile_axes(architecture: str, config: Any, tile: int, overlap: int, width: int, height: int
              ) -> tuple[TileAxis, TileAxis]:
    """The single-process run's tiles on a ``width`` × ``height`` processing grid (rows, columns), as the core's
    pipelines lay them (``core.tiling``)."""
    from ..core.extract.tiling import segmentation_tiling, tile_origins

    if architecture == "maskrcnn":
        (rows, cols), pad = (tile, tile), 0
    else:
        (rows, cols), pad = segmentation_tiling(tile, overlap, config.stride, width, height)
    return (TileAxis(tuple(tile_origins(height, rows, rows - overlap, pad)), rows, height),
            TileAxis(tuple(tile_origins(width, cols, cols - overlap, pad)), cols, width))


class PartitionReader:
    """A raster reader limited to one window of a full reader's processing grid (same pixels, same grid).

    Everything but ``grid`` and ``read`` is the full reader's (value range, footprint, CRS), so a partition is
    normalised and clipped exactly as the whole raster would be.
    """

    def __init__(self, source: Any, window: tuple[int, int, int, int]) -> None:
        from affine import Affine

        from ..core.io.raster_source import ProcessingGrid

        self.source = source
        self.row0, self.col0, row1, col1 = window
        full = source.grid
        self.grid = ProcessingGrid(full.crs_wkt, full.transform * Affine.translation(self.col0, self.row0),
                                   col1 - self.col0, row1 - self.row0, full.gsd_m)

    def __getattr__(self, name: str) -> Any:  # bands, dtype, warnings, footprint, sample, source_crs_wkt...
        return getattr(self.source, name)

    def read(self, row: int, col: int, height: int, width: int) -> Any:
        """The full reader's pixels of a window of this partition, clipped to it."""
        row0, col0 = max(row, 0), max(col, 0)
        height = min(row + height, self.grid.height) - row0
        width = min(col + width, self.grid.width) - col0
        return self.source.read(self.row0 + row0, self.col0 + col0, height, width)

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> PartitionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class PartitionInput:
    """A :class:`building_extractor.core.extract.pipeline.RasterInput` of one window of a raster's processing grid."""

    dataset: str  # a GDAL path (file, VRT, /vsicurl/...) or VRT XML (see .inputs)
    window: tuple[int, int, int, int]
    band_names: tuple[str, ...] | None
    native_if_unreferenced: bool

    def open(self, gsd_m: float | None, bands: list[int] | None, band_count: int, warnings: list[str]) -> Any:
        from ..core.extract.pipeline import open_raster
        from .inputs import gdal_path

        source = open_raster(gdal_path(self.dataset), gsd_m, bands, band_count, warnings,
                             list(self.band_names) if self.band_names else None,
                             native_if_unreferenced=self.native_if_unreferenced)
        return PartitionReader(source, self.window)


@dataclass
class Piece:
    """A building the client must reconcile with other partitions' versions (see :mod:`.merge`)."""

    partition: int
    building: Any  # core Building or Instance (output CRS)
    grid_wkb: bytes  # the polygon in the grid CRS (metres)
    window: tuple[float, float, float, float]  # the partition's window in grid CRS (x0, y0, x1, y1)
    whole: bool  # False: a fragment cut by the window's edge
    owned: bool  # its centroid lies in this partition's core (a tie-breaker between whole versions)
    waits: frozenset[int] = field(default_factory=frozenset)  # partitions that may report another version


@dataclass
class PartitionResult:
    """What a task returns: final buildings, pieces for the client, and the probability file written."""

    index: int
    buildings: list[Any]
    pieces: list[Piece]
    probability_path: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class PartitionJob:
    """Everything a task needs, picklable: input, options, architecture, layout and where probabilities go."""

    dataset: str
    architecture: str  # "unet" or "maskrcnn"
    options: Any  # core ExtractionOptions or InstanceOptions (model_path "" = the shipped default)
    layout: PartitionLayout
    grid_crs_wkt: str
    grid_transform: tuple[float, ...]  # affine coefficients a, b, c, d, e, f of the full grid
    output_crs_wkt: str
    probability_dir: str | None = None


def run_partition(job: PartitionJob, index: int) -> PartitionResult:
    """Extract the buildings of partition ``index`` and sort them into final ones and pieces (a Dask task)."""
    import time

    from ..core.extract.tiling import TileFrame
    from ..core.models.model_file import read_config, shipped_model_path
    from ..core.workers import WORKERS_VARIABLE

    started = time.perf_counter()
    # Dask runs one task per worker thread: post-processing worker pools inside a task would oversubscribe
    # the cores (and Dask's worker processes are daemons, which may not start children).
    os.environ[WORKERS_VARIABLE] = "1"
    _match_torch_threads()
    partition = job.layout.partition(index)
    model_path = job.options.model_path or shipped_model_path(f"default_{job.architecture}.safetensors")
    config = read_config(model_path)
    source = PartitionInput(job.dataset, partition.window, tuple(config.bands) if config.bands else None,
                            job.options.gsd_m is None)
    probability = None
    frame = TileFrame(job.layout.width, job.layout.height, partition.window[0], partition.window[1],
                      job.grid_transform)
    options = replace(job.options, model_path=model_path, tile_frame=frame)
    wants_probability = bool(job.probability_dir) and job.architecture == "unet"
    with tempfile.TemporaryDirectory(prefix="building_extractor_partition_") as workdir:
        if job.architecture == "unet":  # the client's temporary folder need not exist on this machine
            options = replace(options, workdir=workdir, probability_path=(
                os.path.join(workdir, "probability.tif") if wants_probability else None))
        buildings = list(_extract(source, options, job.architecture))
        if wants_probability:
            probability = _write_core_probability(options.probability_path, partition, job.probability_dir)
    result = sort_buildings(buildings, partition, job)
    result.probability_path = probability
    result.seconds = time.perf_counter() - started
    return result


def _match_torch_threads() -> None:
    """One torch thread per Dask worker thread (Dask's nanny sets OMP_NUM_THREADS=1 for its workers)."""
    try:
        from distributed import get_worker

        threads = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _extract(source: PartitionInput, options: Any, architecture: str) -> Any:
    from ..core.progress import SilentProgress

    if architecture == "maskrcnn":
        from ..core.extract.instances import extract_instances

        return extract_instances(source, options, SilentProgress())
    from ..core.extract.pipeline import extract_buildings

    return extract_buildings(source, options, SilentProgress())


def _write_core_probability(path: str, partition: Partition, folder: str) -> str:
    """Crop the window's probability raster to the core, as a Cloud Optimized GeoTIFF in ``folder``."""
    from osgeo import gdal

    gdal.UseExceptions()
    r0, c0, r1, c1 = partition.core
    w0, wc0 = partition.window[:2]
    destination = os.path.join(folder, f"partition_{partition.index:06d}.tif")
    partial = destination + ".part.tif"
    gdal.Translate(partial, path, format="COG", srcWin=[c0 - wc0, r0 - w0, c1 - c0, r1 - r0],
                   creationOptions=["COMPRESS=DEFLATE", "PREDICTOR=2"])
    os.replace(partial, destination)
    return destination


def sort_buildings(buildings: list[Any], partition: Partition, job: PartitionJob) -> PartitionResult:
    """Keep what this partition owns; hand pieces that other partitions also see to the client."""
    from affine import Affine
    from shapely import wkb
    from shapely.affinity import affine_transform
    from shapely.geometry import box

    from ..core.vector.vectorize import output_transformer

    layout = job.layout
    grid = Affine(*job.grid_transform)
    to_grid = output_transformer(job.output_crs_wkt, job.grid_crs_wkt)
    inverse = ~grid
    to_pixels = [inverse.a, inverse.b, inverse.d, inverse.e, inverse.c, inverse.f]
    post = job.options.post
    moved = post.simplify_m + (post.regularize_tolerance_m if post.regularize else 0.0)
    edge = 1.0 + moved / abs(grid.a)  # px: a polygon this close to the window's edge touches it
    wr0, wc0, wr1, wc1 = partition.window
    inner = (wr0 > 0, wc0 > 0, wr1 < layout.height, wc1 < layout.width)
    x0, y0 = grid * (wc0, wr1)
    x1, y1 = grid * (wc1, wr0)
    window_box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    r0, c0, r1, c1 = layout.owned_core(partition.index)
    core_px = box(max(c0, wc0), max(r0, wr0), min(c1, wc1), min(r1, wr1))
    result = PartitionResult(partition.index, [], [])
    for building in buildings:
        polygon = wkb.loads(building.wkb)
        grid_polygon = to_grid(polygon) if to_grid else polygon
        pixels = affine_transform(grid_polygon, to_pixels)
        pc0, pr0, pc1, pr1 = pixels.bounds
        cut = ((inner[0] and pr0 <= wr0 + edge) or (inner[1] and pc0 <= wc0 + edge)
               or (inner[2] and pr1 >= wr1 - edge) or (inner[3] and pc1 >= wc1 - edge))
        centre = pixels.centroid
        owned = r0 <= centre.y < r1 and c0 <= centre.x < c1
        if cut:
            if not pixels.intersects(core_px):
                continue  # the partitions whose cores it reaches report it
            waits = set(layout.overlapping_cores((pr0 - edge, pc0 - edge, pr1 + edge, pc1 + edge)))
            waits |= _beyond_window(layout, partition)
            whole = False
        else:
            claimants = layout.near(centre.y, centre.x, CLAIM_MARGIN)
            if partition.index not in claimants:
                continue
            waits = set(claimants) | set(_cut_elsewhere(layout, partition.index, (pr0, pc0, pr1, pc1), edge))
            whole = True
            if waits == {partition.index}:
                result.buildings.append(building)
                continue
        result.pieces.append(Piece(partition.index, building, grid_polygon.wkb, window_box, whole, owned,
                                   frozenset(waits)))
    return result


def _beyond_window(layout: PartitionLayout, partition: Partition) -> set[int]:
    """The eight neighbours: a cut building continues into some of them."""
    row, col = divmod(partition.index, layout.cols)
    return {r * layout.cols + c for r in range(max(0, row - 1), min(layout.rows, row + 2))
            for c in range(max(0, col - 1), min(layout.cols, col + 2))}


def _cut_elsewhere(layout: PartitionLayout, index: int, bounds: tuple[float, float, float, float],
                   edge: float) -> list[int]:
    """Other partitions whose core this building reaches but whose window does not hold it: they see it cut."""
    r0, c0, r1, c1 = bounds
    found = []
    for other in layout.overlapping_cores(bounds):
        if other == index:
            continue
        wr0, wc0, wr1, wc1 = layout.partition(other).window
        inside = ((wr0 == 0 or r0 > wr0 + edge) and (wc0 == 0 or c0 > wc0 + edge)
                  and (wr1 == layout.height or r1 < wr1 - edge) and (wc1 == layout.width or c1 < wc1 - edge))
        if not inside:
            found.append(other)
    return found
