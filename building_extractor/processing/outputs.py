"""Output helpers shared by algorithms: checking destinations up front, removing partial outputs, styles."""

from __future__ import annotations

import os
from typing import Any

# Formats QGIS writes without geometries (attributes only): the buildings would be lost.
NO_GEOMETRY_FORMATS = {".csv": "CSV", ".xlsx": "Excel (XLSX)", ".ods": "OpenDocument spreadsheet (ODS)",
                       ".dbf": "dBASE (DBF)"}
# Formats that cannot hold polygons with attribute fields, and why.
NO_FIELD_FORMATS = {".dxf": "DXF format has no attribute fields", ".gpx": "GPX format has no polygons"}
# Files a vector driver writes next to the main file; removed with it when a run fails.
SIDECARS = {
    ".shp": (".shx", ".dbf", ".prj", ".cpg", ".qix", ".qpj", ".sbn", ".sbx"),
    ".tab": (".dat", ".id", ".map", ".ind"),
    ".gml": (".xsd", ".gfs"),
    ".gpkg": ("-wal", "-shm", "-journal"),
    ".sqlite": ("-wal", "-shm", "-journal"),
}


def requested_destination(parameters: dict, name: str, context: Any) -> str | None:
    """The destination the user asked for in output parameter ``name`` (None: none, or left blank).

    Read without parameterAsOutputLayer: that call registers the destination as a layer to load when the run
    ends, so calling it before the sink exists (checks) or beside parameterAsSink makes QGIS look for a second
    layer that is never made ("The following layers were not correctly generated. • memory:Buildings").
    """
    from qgis.core import QgsProcessingOutputLayerDefinition, QgsProperty

    value = parameters.get(name)
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        sink = value.sink
        if sink.propertyType() == QgsProperty.StaticProperty:
            value = sink.staticValue()
        else:  # an expression (batch dialog, models)
            value = sink.valueAsString(context.expressionContext(), "")[0]
    if value is None:
        return None
    value = str(value)
    return value or None


def file_destination(destination: str | None) -> str | None:
    """The file path of a vector/raster destination string; None for temporary and memory layers and databases."""
    if not destination or destination == "TEMPORARY_OUTPUT" or destination.startswith(
            ("memory:", "postgres", "postgis:", "ogr:", "spatialite:")):
        return None
    return destination.split("|")[0]


def destination_problem(destination: str | None, parameter: str, vector: bool = True) -> str | None:
    """Why ``destination`` cannot be written (checked before the run, so no work is wasted), or None."""
    path = file_destination(destination)
    if path is None:
        return None
    extension = os.path.splitext(path)[1].lower()
    if vector and extension in NO_GEOMETRY_FORMATS:
        return (f"{parameter}: the {NO_GEOMETRY_FORMATS[extension]} format stores attributes only, so the building "
                "polygons would be lost. Save to a GeoPackage (.gpkg), or another format with geometries "
                "(.shp, .geojson, .fgb).")
    if vector and extension in NO_FIELD_FORMATS:
        return (f"{parameter}: the {NO_FIELD_FORMATS[extension]}, so it cannot hold the buildings with their "
                "attributes. Save to a GeoPackage (.gpkg) and convert afterwards if you need that format.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"{parameter}: the folder {folder} does not exist. Create it or choose another output path."
    if not _can_create_files_in(folder):
        return f"{parameter}: the folder {folder} is not writable. Choose a folder you can write to."
    if os.path.isdir(path):
        return f"{parameter}: {path} is a folder. Give a file name, e.g. {os.path.join(path, 'buildings.gpkg')}."
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"{parameter}: {path} exists and is read-only. Choose another file name or make it writable."
    return None


def _can_create_files_in(folder: str) -> bool:
    """Try it: permission bits do not tell for root, read-only mounts or special file systems."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def destination_warning(destination: str | None) -> str | None:
    """A note on formats that change the output (shapefile field names), or None."""
    path = file_destination(destination)
    if path and path.lower().endswith(".shp"):
        return ("Shapefiles cut field names to 10 characters: max_probability is written as max_probab and "
                "perimeter_m as perimeter_. Save to a GeoPackage (.gpkg) to keep the full names.")
    return None


def discard_output(destination: str | None) -> None:
    """Remove a partially written file output and the side files its driver writes; databases are left alone.

    Only call this for an output this run has started to write: an existing file of the same name is removed.
    """
    path = file_destination(destination)
    if path is None:
        return
    stem, extension = os.path.splitext(path)
    candidates = [path, path + ".aux.xml"]
    candidates += [(path if side.startswith("-") else stem) + side
                   for side in SIDECARS.get(extension.lower(), ())]
    for candidate in candidates:
        if os.path.isfile(candidate):
            try:
                os.remove(candidate)
            except OSError:
                pass


def outline_symbol(colour: str | None = None) -> Any:
    """A polygon symbol drawn as an outline only (imagery stays visible); symbol colour = line colour."""
    from qgis.core import QgsFillSymbol, QgsSimpleLineSymbolLayer
    from qgis.PyQt.QtGui import QColor

    symbol = QgsFillSymbol()
    outline = QgsSimpleLineSymbolLayer()
    outline.setWidth(0.6)
    # changeSymbolLayer takes ownership; QgsFillSymbol([layer]) does not and crashes QGIS later.
    symbol.changeSymbolLayer(0, outline)
    if colour:
        symbol.setColor(QColor(colour))
    return symbol


def style_by_confidence(layer_id: str, context: Any) -> None:
    """Outline buildings in colours graded by confidence (red low, green high)."""
    from qgis.core import QgsClassificationEqualInterval, QgsGraduatedSymbolRenderer, QgsProcessingUtils, QgsStyle

    layer = QgsProcessingUtils.mapLayerFromString(layer_id, context)
    if layer is None or layer.fields().indexOf("confidence") < 0:
        return
    renderer = QgsGraduatedSymbolRenderer("confidence")
    renderer.setSourceSymbol(outline_symbol())
    renderer.setClassificationMethod(QgsClassificationEqualInterval())
    ramp = QgsStyle.defaultStyle().colorRamp("RdYlGn")
    if ramp is not None:
        renderer.setSourceColorRamp(ramp)
    renderer.updateClasses(layer, 5)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


def style_by_category(layer_id: str, context: Any, field: str, colours: dict[str, str]) -> None:
    """Outline features in one colour per value of ``field`` (e.g. TP / FP / FN)."""
    from qgis.core import QgsCategorizedSymbolRenderer, QgsProcessingUtils, QgsRendererCategory

    layer = QgsProcessingUtils.mapLayerFromString(layer_id, context)
    if layer is None or layer.fields().indexOf(field) < 0:
        return
    categories = [QgsRendererCategory(value, outline_symbol(colour), value) for value, colour in colours.items()]
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, categories))
    layer.triggerRepaint()
