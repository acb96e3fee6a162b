"""AREA: polygons that limit an extraction. Tiles that do not touch them are never read or computed; pixels
outside them are invalid (nodata), so no building is found there (issue 18; Deepness users rely on this)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputRasterError
from ..extract.tiling import Tile
from ..gdal_scope import gdal_exceptions


@dataclass(frozen=True)
class AreaSpec:
    """The area as (multi)polygon WKB in the CRS given by ``crs_wkt`` (e.g. the raster's)."""

    wkb: bytes
    crs_wkt: str


class ProcessingArea:
    """An :class:`AreaSpec` on a processing grid: which tiles touch it, and its pixels in a window."""

    @gdal_exceptions()
    def __init__(self, spec: AreaSpec, grid: Any) -> None:
        from osgeo import ogr

        from .raster_source import spatial_reference

        self.grid = grid
        geometry = ogr.CreateGeometryFromWkb(spec.wkb)
        if spec.crs_wkt and grid.crs_wkt:
            source, target = spatial_reference(spec.crs_wkt), spatial_reference(grid.crs_wkt)
            if not source.IsSame(target):
                geometry.Transform(_transformation(source, target))
        inverse = ~grid.transform  # grid CRS -> pixel (col, row): tiles are tested in pixel units
        self.pixels = _affine(geometry, inverse)
        full = _box(0, 0, grid.height, grid.width)
        if not self.pixels.Intersects(full):
            raise InputRasterError("AREA does not overlap the raster: choose polygons that cover part of the image "
                                   "(in any CRS; they are reprojected).")
        self._store = ogr.GetDriverByName("Memory").CreateDataSource("")
        layer = self._store.CreateLayer("area", geom_type=ogr.wkbMultiPolygon)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(self.pixels)
        layer.CreateFeature(feature)
        self._layer = layer

    def touches(self, tile: Tile, shape: tuple[int, int]) -> bool:
        """Whether the tile (all its pixels, context included) touches the area."""
        return self.pixels.Intersects(_box(tile.row, tile.col, tile.row + shape[0], tile.col + shape[1]))

    @gdal_exceptions()
    def mask(self, row: int, col: int, rows: int, columns: int) -> np.ndarray:
        """(rows, columns) bool: pixels of the window whose centre lies inside the area (GDAL's rasterize rule)."""
        from osgeo import gdal

        window = gdal.GetDriverByName("MEM").Create("", columns, rows, 1, gdal.GDT_Byte)
        window.SetGeoTransform((col, 1.0, 0.0, row, 0.0, 1.0))  # pixel units, rows growing downwards
        gdal.RasterizeLayer(window, [1], self._layer, burn_values=[1])
        return window.GetRasterBand(1).ReadAsArray() > 0


def keep_touching(rows: list[list[Tile]], area: ProcessingArea | None, shape: tuple[int, int]) -> list[list[Tile]]:
    """The rows of tiles with only the tiles that touch ``area`` (rows left empty are dropped)."""
    if area is None:
        return rows
    kept = [[tile for tile in row if area.touches(tile, shape)] for row in rows]
    return [row for row in kept if row]


def _transformation(source: Any, target: Any) -> Any:
    from osgeo import osr

    return osr.CoordinateTransformation(source, target)


def _affine(geometry: Any, transform: Any) -> Any:
    """A copy of an OGR geometry with every vertex mapped by an affine transform (Affine)."""
    from osgeo import ogr

    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    result = ogr.CreateGeometryFromWkb(geometry.ExportToWkb())
    result.FlattenTo2D()

    def apply(part: Any) -> None:
        if part.GetGeometryCount():
            for index in range(part.GetGeometryCount()):
                apply(part.GetGeometryRef(index))
            return
        for index in range(part.GetPointCount()):
            x, y = part.GetX(index), part.GetY(index)
            part.SetPoint_2D(index, a * x + b * y + c, d * x + e * y + f)

    apply(result)
    return result


def _box(row0: float, col0: float, row1: float, col1: float) -> Any:
    from osgeo import ogr

    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ((col0, row0), (col1, row0), (col1, row1), (col0, row1), (col0, row0)):
        ring.AddPoint_2D(x, y)
    box = ogr.Geometry(ogr.wkbPolygon)
    box.AddGeometry(ring)
    return box
