"""Small bridges between QGIS geometries/CRSs and the shapely geometries the core works on."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessingException,
    QgsRectangle,
    QgsUnitTypes,
)


def to_shapely(geometry: QgsGeometry) -> Any:
    """A shapely geometry from a QGIS one (None when empty)."""
    from shapely import wkb

    if geometry is None or geometry.isNull() or geometry.isEmpty():
        return None
    return wkb.loads(bytes(geometry.asWkb()))


def from_shapely(geometry: Any) -> QgsGeometry:
    """A QGIS geometry from a shapely one."""
    result = QgsGeometry()
    result.fromWkb(geometry.wkb)
    return result


def metric_crs(crs: QgsCoordinateReferenceSystem, extent: QgsRectangle,
               context: QgsCoordinateTransformContext) -> QgsCoordinateReferenceSystem:
    """``crs`` itself when its unit is the metre, else the UTM zone at the centre of ``extent``."""
    if not crs.isValid():
        raise QgsProcessingException("The input layer has no valid CRS; set its CRS and run again.")
    if crs.mapUnits() == QgsUnitTypes.DistanceMeters and not crs.isGeographic():
        return crs
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    centre = QgsCoordinateTransform(crs, wgs84, context).transform(extent.center())
    zone = int((centre.x() + 180) // 6) % 60 + 1
    return QgsCoordinateReferenceSystem(f"EPSG:{(32600 if centre.y() >= 0 else 32700) + zone}")


def extend_fields(fields: QgsFields, new: list[QgsField]) -> tuple[QgsFields, list[int]]:
    """``fields`` plus ``new`` (a field already present is reused) and the index of each new field."""
    out = QgsFields(fields)
    indices = []
    for field in new:
        index = out.lookupField(field.name())
        if index < 0:
            out.append(field)
            index = out.count() - 1
        indices.append(index)
    return out, indices
