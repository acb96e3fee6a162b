"""Land cover outputs in QGIS: the class raster's paletted style (class names as labels), polygons per class with
a ``class`` field, and their styles."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsPalettedRasterRenderer,
    QgsProcessingException,
    QgsProcessingUtils,
    QgsRasterLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtGui import QColor

from ..core.errors import BuildingExtractorError
from .base_algorithm import FeedbackProgress
from .compat import FieldType

POLYGON_FIELDS = (("class", FieldType.STRING), ("value", FieldType.INT), ("area_m2", FieldType.DOUBLE))


def paletted_renderer(layer: Any, classes: list[Any]) -> QgsPalettedRasterRenderer:
    """A paletted renderer of band 1 with one entry per class: its value, colour and name."""
    entries = [QgsPalettedRasterRenderer.Class(c.value, QColor(c.color), c.name) for c in classes]
    return QgsPalettedRasterRenderer(layer.dataProvider(), 1, entries)


def save_landcover_style(path: str, classes: list[Any]) -> None:
    """Write the class raster's default style (``<name>.qml`` beside it): QGIS opens it with class names and
    colours whenever the file is loaded, from any project or from qgis_process output."""
    layer = QgsRasterLayer(path, "landcover", "gdal")
    if not layer.isValid():
        return
    layer.setRenderer(paletted_renderer(layer, classes))
    layer.saveDefaultStyle()


def write_landcover_polygons(algorithm: Any, parameters: dict, context: Any, raster: str, classes: list[Any],
                             feedback: Any) -> str:
    """Polygonize the class raster into OUTPUT_LANDCOVER_POLYGONS (simplified with SIMPLIFY, regions below
    MIN_AREA dropped); returns the sink's id."""
    from ..core.extract.landcover import landcover_polygons

    fields = QgsFields()
    for name, kind in POLYGON_FIELDS:
        fields.append(QgsField(name, kind))
    source_crs = QgsRasterLayer(raster, "landcover", "gdal").crs()
    sink, dest_id = algorithm.parameterAsSink(parameters, algorithm.OUTPUT_LANDCOVER_POLYGONS, context, fields,
                                              QgsWkbTypes.MultiPolygon, source_crs)
    if sink is None:
        raise QgsProcessingException(algorithm.invalidSinkError(parameters, algorithm.OUTPUT_LANDCOVER_POLYGONS))
    simplify = algorithm.parameterAsDouble(parameters, algorithm.SIMPLIFY, context)
    min_area = algorithm.parameterAsDouble(parameters, algorithm.MIN_AREA, context)
    feedback.pushInfo(f"Polygonizing the land cover raster ({len(classes)} classes).")
    polygons = landcover_polygons(raster, classes, simplify, min_area, "", FeedbackProgress(feedback))
    count = 0
    for polygon in iterate(polygons):
        geometry = QgsGeometry()
        geometry.fromWkb(polygon.wkb)
        geometry.convertToMultiType()
        feature = QgsFeature(fields)
        feature.setGeometry(geometry)
        feature.setAttributes([polygon.name, polygon.value, round(polygon.area_m2, 2)])
        if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
            raise QgsProcessingException(f"Could not write a land cover polygon: {sink.lastError()}")
        count += 1
    feedback.pushInfo(f"{count} land cover polygons written.")
    return dest_id


def iterate(items: Any) -> Any:
    """Yield from a core generator; run_core turns its errors into QgsProcessingException."""
    try:
        yield from items
    except BuildingExtractorError as exc:
        raise QgsProcessingException(str(exc)) from exc


def style_landcover_layers(raster_id: str | None, polygons_id: str | None, classes: list[Any], context: Any) -> None:
    """Paletted style for the loaded class raster, categories by class for the loaded polygons."""
    from qgis.core import QgsCategorizedSymbolRenderer, QgsFillSymbol, QgsRendererCategory

    raster = QgsProcessingUtils.mapLayerFromString(raster_id, context) if raster_id else None
    if isinstance(raster, QgsRasterLayer):
        raster.setRenderer(paletted_renderer(raster, classes))
        raster.triggerRepaint()
    layer = QgsProcessingUtils.mapLayerFromString(polygons_id, context) if polygons_id else None
    if layer is not None and layer.fields().indexOf("class") >= 0:
        categories = []
        for item in classes:
            symbol = QgsFillSymbol.createSimple({"color": item.color, "outline_style": "no"})
            categories.append(QgsRendererCategory(item.name, symbol, item.name))
        layer.setRenderer(QgsCategorizedSymbolRenderer("class", categories))
        layer.triggerRepaint()
