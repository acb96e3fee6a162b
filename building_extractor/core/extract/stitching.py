"""Stream blended tile predictions into GeoTIFFs with memory bounded by a strip of tile rows.

Why not a whole-raster accumulator (memmap or array): its resident size grows with the raster. Tiles
arrive in raster order, so only the rows that later tiles can still touch are kept; rows above the next
tile row are final, are divided by their weight sum and written straight to disk as uint8 probability and
0/1 mask rows (the disk-backed part of the accumulator).
"""

from __future__ import annotations

import errno
from typing import Any

import numpy as np

from ..gdal_scope import gdal_exceptions
from .tiling import TileShape, blend_window, tile_shape


def probability_bytes(prob: np.ndarray) -> np.ndarray:
    """Probabilities 0-1 as the 0-255 bytes of the probability raster."""
    return np.clip(np.rint(np.asarray(prob, np.float32) * 255), 0, 255).astype(np.uint8)


def threshold_byte(probability: float) -> int:
    """The smallest byte of the probability raster at or above ``probability``."""
    return int(np.ceil(probability * 255 - 1e-6))


class StripAccumulator:
    """Weighted-sum accumulator over a rolling band of rows, flushing finished rows to writers.

    Tiles may start up to ``pad`` px before the grid (negative row/col) and end past it; what falls outside the
    grid is accumulated like the rest and dropped on flush. With ``channels`` > 1 (land cover: one probability per
    class) tiles and flushed rows carry a leading channel axis.
    """

    def __init__(self, width: int, height: int, tile: int | TileShape, writer: ProbabilityWriter, overlap: int = 0,
                 pad: int = 0, channels: int = 1) -> None:
        self.width, self.height, self.overlap, self.pad = width, height, overlap, pad
        self.tile = tile_shape(tile)
        self.writer = writer
        self.top = -pad  # grid row held in the buffer's first row
        # Rows are flushed after the last tile of a tile row, before the next row's tiles arrive, so one tile
        # height of rows suffices; _grow covers callers that add further ahead.
        rows = self.tile[0]
        # Buffer column c holds grid column c - pad; a tile of slack on the right needs no special case.
        columns = width + 2 * pad + self.tile[1]
        self.channels = channels
        self.sum = np.zeros((channels, rows, columns), np.float32)
        self.weight = np.zeros((rows, columns), np.float32)
        self.valid = np.zeros((rows, columns), bool)

    def add(self, row: int, col: int, prob: np.ndarray, valid: np.ndarray) -> None:
        """Add one tile's probabilities (of the tile shape) at (row, col) of the grid."""
        rows, columns = self.tile
        r0 = row - self.top
        if r0 + rows > self.weight.shape[0]:
            self._grow(r0 + rows)
            r0 = row - self.top
        window = blend_window(self.tile, self.overlap)
        c0 = col + self.pad
        region = np.s_[r0:r0 + rows, c0:c0 + columns]
        self.sum[(slice(None), *region)] += prob.reshape(self.channels, rows, columns) * window
        self.weight[region] += window
        self.valid[region] |= valid

    def _grow(self, needed_rows: int) -> None:
        extra = needed_rows - self.weight.shape[0]
        pad = ((0, extra), (0, 0))
        self.weight, self.valid = (np.pad(a, pad) for a in (self.weight, self.valid))
        self.sum = np.pad(self.sum, ((0, 0), *pad))

    def flush_until(self, row: int) -> None:
        """Rows above ``row`` will receive no more tiles: normalise those inside the grid and write them out."""
        row = min(row, self.height)
        count = row - self.top
        if count <= 0:
            return
        first = max(0, -self.top)  # buffer rows above the grid are dropped
        if count > first:
            columns = np.s_[first:count, self.pad:self.pad + self.width]
            weight = np.broadcast_to(self.weight[columns], (self.channels, *self.weight[columns].shape))
            prob = np.divide(self.sum[(slice(None), *columns)], weight, out=np.zeros(weight.shape, np.float32),
                             where=weight > 0)
            prob[:, ~self.valid[columns]] = 0.0
            self.writer.write_rows(self.top + first, prob[0] if self.channels == 1 else prob)
        for array in (self.weight, self.valid):
            array[:-count] = array[count:]
            array[-count:] = 0
        self.sum[:, :-count] = self.sum[:, count:]
        self.sum[:, -count:] = 0
        self.top = row


def os_error(exc: RuntimeError) -> OSError:
    """GDAL's error as an OSError (ENOSPC when the disk is full), as callers report temporary-file problems."""
    message = str(exc)
    full = "no space left" in message.lower() or "disk full" in message.lower()
    return OSError(errno.ENOSPC, message) if full else OSError(message)


class ProbabilityWriter:
    """Writes probability rows as uint8 (0-255) and the thresholded 0/1 mask as two GeoTIFFs (GDAL)."""

    def __init__(self, prob_path: str, mask_path: str, grid: Any, threshold: float) -> None:
        # Strips of one row, fast deflate: rows are written once, in order, and read back by windows.
        options = ["COMPRESS=DEFLATE", "PREDICTOR=1", "ZLEVEL=1", "BLOCKYSIZE=1", "TILED=NO"]
        self.threshold_byte = threshold_byte(threshold)
        self.prob = self._create(prob_path, grid, options)
        try:
            self.mask = self._create(mask_path, grid, [*options, "NBITS=1"])
        except OSError:
            self.prob = None
            raise

    @staticmethod
    def _create(path: str, grid: Any, options: list[str]) -> Any:
        from osgeo import gdal

        try:
            with gdal_exceptions():
                dataset = gdal.GetDriverByName("GTiff").Create(path, grid.width, grid.height, 1, gdal.GDT_Byte,
                                                               options)
                dataset.SetGeoTransform(grid.transform.to_gdal())
                if grid.crs_wkt:
                    dataset.SetProjection(grid.crs_wkt)
        except RuntimeError as exc:  # callers report OSError as a temporary-file problem
            raise os_error(exc) from exc
        return dataset

    def write_rows(self, row: int, prob: np.ndarray) -> None:
        prob_bytes = probability_bytes(prob)
        for dataset, values in ((self.prob, prob_bytes), (self.mask, (prob_bytes >= self.threshold_byte))):
            _checked(dataset.GetRasterBand(1).WriteArray, values.astype(np.uint8), 0, row)

    def close(self) -> None:
        """Flush and close both rasters (an OSError when the disk is full)."""
        try:
            for dataset in (self.prob, self.mask):
                if dataset is not None:
                    _checked(dataset.FlushCache)
        finally:
            self.prob = self.mask = None


def _checked(call: Any, *args: Any) -> None:
    """Run a GDAL call that writes; its failure as an OSError, whether GDAL raised or only reported it.

    Not scoped with gdal_exceptions: rows are written while the reader thread reads, and the exception setting
    is process-wide in GDAL 3.6.
    """
    from osgeo import gdal

    gdal.ErrorReset()
    try:
        status = call(*args)
    except RuntimeError as exc:
        raise os_error(exc) from exc
    if (status not in (None, 0)) or gdal.GetLastErrorType() >= gdal.CE_Failure:
        raise os_error(RuntimeError(gdal.GetLastErrorMsg() or "GDAL could not write the temporary raster"))


class LandCoverWriter(ProbabilityWriter):
    """Writes class probabilities (classes, rows, columns) as a class raster of class values (0 where no valid
    pixel was seen) plus, for the building pipeline, the building class's probability and the mask of pixels
    whose most likely class is building (nothing when the model has no building class)."""

    def __init__(self, prob_path: str, mask_path: str, landcover_path: str, grid: Any, values: list[int],
                 building_index: int | None) -> None:
        super().__init__(prob_path, mask_path, grid, 0.5)
        self.values = np.asarray([0, *values], np.uint8)  # argmax + 1 -> class value; 0 stays nodata
        self.building_index = building_index
        self.classes = self._create(landcover_path, grid, ["COMPRESS=DEFLATE", "PREDICTOR=1", "ZLEVEL=1",
                                                           "BLOCKYSIZE=1", "TILED=NO"])
        self.classes.GetRasterBand(1).SetNoDataValue(0)

    def write_rows(self, row: int, prob: np.ndarray) -> None:
        _, height, width = prob.shape
        best = prob.argmax(axis=0)
        seen = prob.max(axis=0) > 0  # invalid pixels hold 0 for every class
        classes = np.where(seen, self.values[best + 1], 0).astype(np.uint8)
        if self.building_index is None:
            building, mask = np.zeros((height, width), np.float32), np.zeros((height, width), np.uint8)
        else:
            building = prob[self.building_index]
            mask = (seen & (best == self.building_index)).astype(np.uint8)
        for dataset, values in ((self.classes, classes), (self.prob, probability_bytes(building)),
                                (self.mask, mask)):
            _checked(dataset.GetRasterBand(1).WriteArray, values, 0, row)

    def close(self) -> None:
        try:
            if self.classes is not None:
                _checked(self.classes.FlushCache)
        finally:
            self.classes = None
            super().close()
