"""Run a segmentation model over a raster tile by tile and stream the blended probabilities to disk."""

from __future__ import annotations

import errno
import math
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BuildingExtractorError, Cancelled, DeviceError, OutputError
from ..io.area import ProcessingArea, keep_touching
from ..io.raster_source import RasterSource
from ..memory import release_free_memory
from ..models.config import ModelConfig
from ..progress import Progress
from .normalize import band_percentiles, check_normalization, match_training_range, training_range
from .stitching import LandCoverWriter, ProbabilityWriter, StripAccumulator
from .tiling import (
    Tile,
    TileFrame,
    TileShape,
    check_tile_cost,
    frame_size,
    make_tiles,
    segmentation_tiling,
    tile_cost_message,
    tile_shape,
)


@dataclass
class TileBatch:
    tiles: list[Tile]
    images: np.ndarray  # (n, bands, tile rows, tile columns) float32, normalised
    valid: np.ndarray  # (n, tile rows, tile columns) bool


def value_scale(source: RasterSource, config: ModelConfig, progress: Progress, normalize: str = "none"
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per-band (offset, scale) mapping raster values onto the model's 0-``input_scale`` range.

    8-bit rasters are used as they are. Other data types are stretched from their 2-98 % percentiles,
    estimated on a decimated read (GDAL uses overviews when the raster has them). ``normalize="match"``
    stretches any raster to the training imagery's range instead (:mod:`.normalize`).
    """
    offset, scale = band_scale(source, config, progress, normalize)
    extras = getattr(source, "extra_count", 0)  # extra inputs arrive in 0-255 units already (core.io.extra_inputs)
    return (np.concatenate([offset, np.zeros(extras, np.float32)]),
            np.concatenate([scale, np.full(extras, config.input_scale / 255.0, np.float32)]))


def band_scale(source: RasterSource, config: ModelConfig, progress: Progress, normalize: str = "none"
               ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`value_scale` of the image bands."""
    count = len(source.bands)
    if check_normalization(normalize) == "none" and source.dtype == np.uint8:
        return np.zeros(count, np.float32), np.ones(count, np.float32)
    data = source.sample()
    low, high = band_percentiles(data)
    if normalize == "match":
        offset, scale, (image_low, image_high) = match_training_range(low, high, config.input_scale)
        target_low, target_high = training_range()
        progress.info(f"Normalisation: values {image_low:g}-{image_high:g} (2-98 % over all bands) stretched to "
                      f"{target_low:.0f}-{target_high:.0f}, the training imagery's range.")
        return offset, scale
    if data.count():  # an all-nodata raster is reported once, after inference
        progress.warning(
            f"The raster is {source.dtype} and the model expects 8-bit values: bands are stretched from their "
            f"2-98 % range ({', '.join(f'{a:g}-{b:g}' for a, b in zip(low, high))}) to 0-255."
        )
    return low, (config.input_scale / (high - low)).astype(np.float32)


class TileReader:
    """Reads, pads and normalises tiles into batches on a background thread (overlaps I/O and inference)."""

    def __init__(self, source: RasterSource, config: ModelConfig, tile: int | TileShape, batch_size: int,
                 tiles: list[Tile], progress: Progress, area: ProcessingArea | None = None,
                 normalize: str = "none") -> None:
        self.source, self.config, self.batch_size, self.area = source, config, batch_size, area
        self.tile = tile_shape(tile)
        self.tiles = tiles
        self.offset, self.scale = value_scale(source, config, progress, normalize)
        self.mean = np.asarray(config.mean, np.float32)[:, None, None]
        self.std = np.asarray(config.std, np.float32)[:, None, None]
        self.valid_pixels = 0  # counted while reading: an all-nodata raster gets a warning, not a crash

    def read_tile(self, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
        """One normalised tile and its validity; parts outside the raster mirror it (and are invalid)."""
        grid = self.source.grid
        row0, col0 = max(tile.row, 0), max(tile.col, 0)
        rows, columns = self.tile
        row1, col1 = min(tile.row + rows, grid.height), min(tile.col + columns, grid.width)
        data, valid = self.source.read(row0, col0, row1 - row0, col1 - col0)
        if self.area is not None:  # outside AREA is nodata
            valid &= self.area.mask(row0, col0, row1 - row0, col1 - col0)
        self.valid_pixels += int(np.count_nonzero(valid))
        data -= self.offset[:, None, None]
        data *= self.scale[:, None, None] / self.config.input_scale
        # Invalid pixels take the normalisation mean (0 after normalising), so they look neutral to the model.
        data = np.where(valid[None], (data - self.mean) / self.std, 0.0).astype(np.float32)
        pad = ((row0 - tile.row, tile.row + rows - row1), (col0 - tile.col, tile.col + columns - col1))
        if any(side for axis in pad for side in axis):
            # Mirror the raster into the part of the tile outside it (numpy repeats the reflection for any
            # width), so the model sees plausible context rather than a hard edge.
            mode = "reflect" if data.shape[1] > 1 and data.shape[2] > 1 else "edge"
            data = np.pad(data, ((0, 0), *pad), mode=mode)
            valid = np.pad(valid, pad)
        return data, valid

    def batches(self) -> Iterator[TileBatch]:
        for start in range(0, len(self.tiles), self.batch_size):
            part = self.tiles[start:start + self.batch_size]
            read = [self.read_tile(t) for t in part]
            yield TileBatch(part, np.stack([r[0] for r in read]), np.stack([r[1] for r in read]))

    def stream(self) -> Iterator[TileBatch]:
        """Batches read ahead on a thread, or on the calling thread for readers that are not thread-safe
        (QGIS data providers)."""
        return self.prefetched() if getattr(self.source, "thread_safe_reads", True) else self.batches()

    def timed_stream(self, timings: dict[str, float], progress: Progress) -> Iterator[TileBatch]:
        """:meth:`stream`, adding the time spent waiting for each batch to ``timings["read"]``, stopping
        (:class:`Cancelled`) when cancel was pressed, and reporting progress once the caller is done with a
        batch. Closing it joins the reader thread."""
        import time

        batches, done = self.stream(), 0
        try:
            started = time.perf_counter()
            for batch in batches:
                timings["read"] += time.perf_counter() - started
                if progress.is_canceled():
                    raise Cancelled()
                yield batch
                done += len(batch.tiles)
                progress.set_fraction(done / len(self.tiles))
                started = time.perf_counter()
        finally:
            batches.close()

    def prefetched(self, depth: int = 2) -> Iterator[TileBatch]:
        """Batches produced by a reader thread, at most ``depth`` ahead of the consumer."""
        buffer: queue.Queue = queue.Queue(maxsize=depth)
        stop = threading.Event()
        done = object()

        def produce() -> None:
            try:
                for batch in self.batches():
                    while not stop.is_set():
                        try:
                            buffer.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                buffer.put(done)
            except BaseException as exc:  # handed to the consumer, raised there
                buffer.put(exc)

        thread = threading.Thread(target=produce, name="building_extractor-reader", daemon=True)
        thread.start()
        try:
            while True:
                item = buffer.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():
                try:
                    buffer.get_nowait()
                except queue.Empty:
                    thread.join(0.05)


class Predictor:
    """A model on a device that turns normalised batches into probabilities, halving the batch on OOM.

    After an out-of-memory error the smaller batch is kept for the rest of the run (``max_batch``). Subclasses
    change what a forward pass returns by overriding ``_forward`` and ``_join``.
    """

    CHANNELS_LAST = True  # on CPU: faster convolutions for the U-Net

    def __init__(self, model: Any, device: Any, progress: Progress, tta: str = "none") -> None:
        import torch

        from .tta import check_mode

        check_mode(tta)
        self.torch = torch
        self.device = device
        self.progress = progress
        self.tta = tta  # core.extract.tta.TTA_MODES
        self.model = model.to(device).eval()
        self.max_batch: int | None = None
        if device.type == "cpu" and self.CHANNELS_LAST:
            self.model = self.model.to(memory_format=torch.channels_last)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        torch = self.torch
        step = self.max_batch
        if step and len(images) > step:
            return self._join([self(images[i:i + step]) for i in range(0, len(images), step)])
        try:
            return self._forward(images)
        except torch.cuda.OutOfMemoryError:
            if len(images) == 1:
                raise DeviceError("The GPU ran out of memory even with one tile per batch. Lower TILE_SIZE, "
                                  "close other programs using the GPU, or use DEVICE=cpu.") from None
            torch.cuda.empty_cache()
            half = len(images) // 2
            self.max_batch = half
            self.progress.warning(f"GPU out of memory with batch {len(images)}; continuing with batches of {half}. "
                                  f"Set BATCH_SIZE to {half} or less to skip the retry.")
            return self._join([self(images[:half]), self(images[half:])])

    def _join(self, parts: list[Any]) -> Any:
        """One result from the results of consecutive parts of a batch."""
        return np.concatenate(parts)

    def _forward(self, images: np.ndarray) -> np.ndarray:
        from .tta import averaged_probability

        x = self.torch.from_numpy(images)
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        with self.torch.inference_mode():
            return averaged_probability(self._probability, x, self.tta).cpu().numpy()

    def _probability(self, x: Any) -> Any:
        """Building probability (n, h, w) of a batch on the device."""
        torch = self.torch
        if self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                logits = self.model(x)
        else:
            logits = self.model(x.contiguous(memory_format=torch.channels_last))
        return self._activate(logits.float())

    def _activate(self, logits: Any) -> Any:
        """Probabilities from the network's logits: the building channel's sigmoid (n, rows, columns)."""
        return self.torch.sigmoid(logits)[:, 0]


class LandCoverPredictor(Predictor):
    """A land cover model: softmax over the classes (n, classes, rows, columns)."""

    def _activate(self, logits: Any) -> Any:
        return self.torch.softmax(logits, dim=1)


def predict_to_rasters(source: RasterSource, predict: Any, config: ModelConfig, tile: int,
                       overlap: int, batch_size: int, threshold: float, prob_path: str, mask_path: str,
                       progress: Progress, landcover_path: str | None = None,
                       area: ProcessingArea | None = None, normalize: str = "none",
                       frame: TileFrame | None = None) -> dict[str, float]:
    """Predict every tile that touches ``area`` (all, without one), blend overlaps and write the probability
    (uint8) and mask GeoTIFFs.

    ``predict`` turns a normalised batch into (n, rows, columns) probabilities, or (n, classes, rows, columns)
    for a land cover model (a ``core.models.backends.Runner``, which also averages over the test-time augmentation's
    transforms). A land cover model (``config.is_landcover``) also writes its class raster to ``landcover_path``;
    its building mask is where building is the most likely class. ``frame``: the raster is a window of a larger
    grid whose tiles are used (:class:`TileFrame`). Returns per-stage seconds (read wait, infer, blend+write).
    """
    import time

    grid = source.grid
    if tile % config.stride:
        raise BuildingExtractorError(
            f"TILE_SIZE must be a multiple of {config.stride} (the model's output stride); got {tile}. "
            f"Use {int(math.ceil(tile / config.stride) * config.stride)}."
        )
    shape, pad = segmentation_tiling(tile, overlap, config.stride, *frame_size(grid.width, grid.height, frame))
    check_tile_cost(grid.width, grid.height, shape, overlap, pad)
    rows = make_tiles(grid.width, grid.height, shape, overlap, pad, frame)
    tiles = [t for row in rows for t in row]
    fitted = (f" TILE_SIZE {tile} was fitted to the raster (as many tiles, less padding to compute)."
              if shape != (tile, tile) else "")
    progress.info(tile_cost_message(len(tiles), shape, grid.width, grid.height) + fitted)
    # Rows that lose all their tiles are dropped: the rows they covered are flushed as empty by the next row.
    rows = keep_touching(rows, area, shape)
    if area is not None:
        kept = sum(len(row) for row in rows)
        progress.info(f"AREA: {kept} of {len(tiles)} tiles touch it; the others are neither read nor computed.")
        tiles = [t for row in rows for t in row]
    last_in_row = {row[-1] for row in rows}
    next_row_start = {rows[i][-1]: (rows[i + 1][0].row if i + 1 < len(rows) else grid.height) for i in range(len(rows))}
    channels = len(config.classes) if config.is_landcover else 1
    try:
        writer = (landcover_writer(config, grid, prob_path, mask_path, landcover_path) if config.is_landcover
                  else ProbabilityWriter(prob_path, mask_path, grid, threshold))
    except OSError as exc:
        raise temp_write_error(prob_path, exc) from exc
    accumulator = StripAccumulator(grid.width, grid.height, shape, writer, overlap, pad, channels)
    reader = TileReader(source, config, shape, batch_size, tiles, progress, area, normalize)
    timings = {"read": 0.0, "infer": 0.0, "blend_write": 0.0}
    batches = reader.timed_stream(timings, progress)
    try:
        for batch in batches:
            t1 = time.perf_counter()
            probs = predict(batch.images)
            t2 = time.perf_counter()
            try:
                for tile_info, prob, valid in zip(batch.tiles, probs, batch.valid):
                    accumulator.add(tile_info.row, tile_info.col, prob, valid)
                    if tile_info in last_in_row:
                        accumulator.flush_until(next_row_start[tile_info])
                        release_free_memory()
            except OSError as exc:
                raise temp_write_error(prob_path, exc) from exc
            timings["infer"] += t2 - t1
            timings["blend_write"] += time.perf_counter() - t2
    except BaseException:
        # Stop and join the reader thread now: the caller closes the raster next, and GDAL crashes when a
        # dataset is closed under a thread still reading it.
        batches.close()
        try:
            writer.close()
        except OSError:
            pass  # the error under way is the one to report
        raise
    try:
        writer.close()
    except OSError as exc:
        raise temp_write_error(prob_path, exc) from exc
    if not reader.valid_pixels:
        progress.warning("The raster holds no valid pixels (all nodata or masked), so no buildings can be found; "
                         "the output is empty. Check the raster's nodata value and mask.")
    return timings


def landcover_writer(config: ModelConfig, grid: Any, prob_path: str, mask_path: str,
                     landcover_path: str | None) -> LandCoverWriter:
    """The writer of a land cover model's class raster (next to the probability when no path is given)."""
    names = [name.lower() for name in config.classes]
    path = landcover_path or os.path.join(os.path.dirname(prob_path), "landcover.tif")
    return LandCoverWriter(prob_path, mask_path, path, grid, [config.class_value(i) for i in range(len(names))],
                           names.index("building") if "building" in names else None)


def temp_write_error(path: str, exc: OSError) -> OutputError:
    """A clear error for a failed write of the temporary probability and mask rasters."""
    folder = os.path.dirname(os.path.dirname(path)) or "."
    cause = "the disk is full" if getattr(exc, "errno", None) == errno.ENOSPC else f"{exc}"
    return OutputError(
        f"Cannot write the temporary probability raster in {folder}: {cause}. Free disk space there, or point "
        "the temporary folder elsewhere (Processing ▸ Options ▸ General ▸ Output folder for temporary files, "
        "or the TMPDIR environment variable); temporary files were removed."
    )
