"""Read a second raster (class labels, a height model) on another raster's processing grid, warped on the fly.

GDAL's warped VRT (``raster_source.warped_vrt``) resamples only the window asked for, so a class raster or a
DSM in another CRS or at another resolution lines up pixel for pixel with the image without an intermediate
file. Pixels the second raster does not cover, or marks as nodata, come back invalid.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from osgeo import gdal, osr

from ..errors import InputRasterError
from ..gdal_scope import gdal_exceptions
from .raster_source import LOCAL_CRS_WKT, ProcessingGrid, spatial_reference, warped_vrt


class AlignedRaster:
    """One band of ``path`` resampled onto ``grid`` (``nearest`` for classes, ``bilinear`` for heights)."""

    def __init__(self, path: str, grid: ProcessingGrid, role: str, band: int = 1,
                 resampling: str = "nearest") -> None:
        self.path, self.role = path, role
        if not os.path.exists(path) and "://" not in path and not path.startswith("/vsi"):
            raise InputRasterError(f"The {role} raster {path} does not exist. Choose an existing raster file.")
        try:
            with gdal_exceptions():
                self.dataset = gdal.Open(path)
        except RuntimeError as exc:
            raise InputRasterError(f"GDAL cannot read the {role} raster {path}: {exc}.") from exc
        count = self.dataset.RasterCount
        if not 1 <= band <= count:
            raise InputRasterError(f"The {role} raster {path} has {count} band(s); band {band} was asked for.")
        srs = self.dataset.GetSpatialRef()
        if (srs is not None) != bool(grid.crs_wkt):
            has, lacks = ("the image", f"the {role} raster") if grid.crs_wkt else (f"the {role} raster", "the image")
            raise InputRasterError(f"{has.capitalize()} has a CRS but {lacks} has none, so they cannot be aligned. "
                                   f"Assign the right CRS to {lacks} ({path if 'raster' in lacks else 'INPUT'}).")
        if srs is not None:
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        src = srs or spatial_reference(LOCAL_CRS_WKT)
        dst = spatial_reference(grid.crs_wkt) if grid.crs_wkt else src
        with gdal_exceptions():
            # The alpha band marks what the raster does not cover or holds as nodata.
            self.reader = warped_vrt(self.dataset, src, dst, grid.transform, grid.width, grid.height, resampling,
                                     add_alpha=True)
        self.band, self.alpha = band, self.reader.GetRasterBand(self.reader.RasterCount)
        if not self._overlaps(grid):
            raise InputRasterError(f"The {role} raster {path} does not overlap the image. Give a {role} raster "
                                   "that covers the image's area (same place, any CRS).")

    def _overlaps(self, grid: ProcessingGrid) -> bool:
        """Whether any pixel of a coarse read of the aligned raster is valid."""
        factor = max(1, max(grid.width, grid.height) // 256)
        rows, columns = max(1, grid.height // factor), max(1, grid.width // factor)
        alpha = self.alpha.ReadAsArray(0, 0, grid.width, grid.height, columns, rows)
        return alpha is not None and bool(alpha.any())

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """A window of the grid: (h, w) float32 values and (h, w) bool validity (nodata, outside, non-finite)."""
        data = self.reader.GetRasterBand(self.band).ReadAsArray(col, row, width, height)
        alpha = self.alpha.ReadAsArray(col, row, width, height)
        if data is None or alpha is None:
            raise InputRasterError(f"Cannot read the {self.role} raster {self.path} near row {row}, column {col}: "
                                   f"{gdal.GetLastErrorMsg() or 'GDAL read error'}. Copy or export it again.")
        data = data.astype(np.float32)
        valid = (alpha > 0) & np.isfinite(data)
        data[~valid] = 0.0
        return data, valid

    def close(self) -> None:
        self.alpha = self.reader = self.dataset = None

    def __enter__(self) -> AlignedRaster:
        return self

    def __exit__(self, *exc: object) -> Any:
        self.close()
