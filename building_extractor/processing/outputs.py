"""Output helpers shared by algorithms: checking destinations up front, removing partial outputs, styles."""

from __future__ import annotations

import os
import re
from typing import Any

from ..core.files import can_create_files_in

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
    if not can_create_files_in(folder):
        return f"{parameter}: the folder {folder} is not writable. Choose a folder you can write to."
    if os.path.isdir(path):
        return f"{parameter}: {path} is a folder. Give a file name, e.g. {os.path.join(path, 'buildings.gpkg')}."
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"{parameter}: {path} exists and is read-only. Choose another file name or make it writable."
    return None


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


#: Fixed confidence classes (lower, upper, colour, label): the same colours mean the same confidence in every
#: run and every layer. Saturated colours over a dark halo stay readable on light roofs and dark vegetation.
CONFIDENCE_CLASSES = (
    (0.0, 0.5, "#ff2d2d", "low"),
    (0.5, 0.7, "#ff9f1a", "medium"),
    (0.7, 0.85, "#f5f53d", "high"),
    (0.85, 1.0, "#2ee86b", "very high"),
)
HALO_COLOUR = "#1a1a1a"


def outline_symbol(colour: str | None = None, halo: bool = True) -> Any:
    """A polygon symbol drawn as an outline only (imagery stays visible), over a dark halo so that it reads on
    light roofs too; the symbol colour is the line colour."""
    from qgis.core import QgsFillSymbol, QgsSimpleLineSymbolLayer
    from qgis.PyQt.QtGui import QColor

    symbol = QgsFillSymbol()
    outline = QgsSimpleLineSymbolLayer()
    outline.setWidth(0.6)
    # changeSymbolLayer takes ownership; QgsFillSymbol([layer]) does not and crashes QGIS later.
    symbol.changeSymbolLayer(0, outline)
    if halo:
        under = QgsSimpleLineSymbolLayer(QColor(HALO_COLOUR), 1.2)
        under.setLocked(True)  # keeps its dark colour when the symbol colour changes
        symbol.insertSymbolLayer(0, under)
    if colour:
        symbol.setColor(QColor(colour))
    return symbol


def _layer(layer_id: str | None, context: Any) -> Any:
    from qgis.core import QgsProcessingUtils

    return QgsProcessingUtils.mapLayerFromString(layer_id, context) if layer_id else None


def style_by_confidence(layer_id: str, context: Any) -> None:
    """Outline buildings in fixed, labelled confidence classes (CONFIDENCE_CLASSES)."""
    from qgis.core import QgsGraduatedSymbolRenderer, QgsRendererRange

    layer = _layer(layer_id, context)
    if layer is None or layer.fields().indexOf("confidence") < 0:
        return
    ranges = [QgsRendererRange(lower, upper, outline_symbol(colour), f"{label}: confidence {lower:.2f} – {upper:.2f}")
              for lower, upper, colour, label in CONFIDENCE_CLASSES]
    renderer = QgsGraduatedSymbolRenderer("confidence", ranges)
    renderer.setSourceSymbol(outline_symbol())
    layer.setRenderer(renderer)
    layer.triggerRepaint()


def style_regularized(layer_id: str, context: Any) -> None:
    """Regularized footprints in cyan, those kept as (simplified) input in magenta."""
    style_by_category(layer_id, context, "regularized", {1: ("#26e0ff", "regularized"),
                                                           0: ("#ff4fd8", "kept as input (shape did not fit)")})


def style_heights(layer_id: str, context: Any, field: str) -> None:
    """Footprints filled by height (``field``, metres) in fixed 3 m classes, and extruded by it in QGIS's 3D
    view; nothing when the layer has no such field."""
    from qgis.core import QgsGraduatedSymbolRenderer, QgsRendererRange, QgsStyle

    layer = _layer(layer_id, context)
    if layer is None or layer.fields().indexOf(field) < 0:
        return
    bounds = (0.0, 3.0, 6.0, 9.0, 12.0, 18.0, 30.0, 1000.0)
    ramp = QgsStyle.defaultStyle().colorRamp("Viridis")
    ranges = []
    for index, (lower, upper) in enumerate(zip(bounds, bounds[1:])):
        symbol = outline_symbol(halo=False)
        colour = ramp.color(index / (len(bounds) - 2)) if ramp else None
        if colour is not None:
            symbol.setColor(colour)
            _add_fill(symbol, colour)
        label = f"{field} ≥ {lower:g} m" if upper >= 1000 else f"{field} {lower:g} – {upper:g} m"
        ranges.append(QgsRendererRange(lower, upper, symbol, label))
    layer.setRenderer(QgsGraduatedSymbolRenderer(field, ranges))
    _set_3d(layer, extrusion_field=field)
    layer.triggerRepaint()


def style_blocks(layer_id: str, context: Any) -> None:
    """LOD1 blocks (MultiPolygonZ from the ground's elevation up): stood on the 3D view's terrain."""
    layer = _layer(layer_id, context)
    if layer is None:
        return
    _set_3d(layer, extrusion_field=None)
    layer.triggerRepaint()


def _add_fill(symbol: Any, colour: Any) -> None:
    """A half-transparent fill under the outline."""
    from qgis.core import QgsSimpleFillSymbolLayer
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtGui import QColor

    fill = QgsSimpleFillSymbolLayer(QColor(colour.red(), colour.green(), colour.blue(), 140))
    fill.setStrokeStyle(Qt.PenStyle.NoPen)
    fill.setLocked(True)  # keeps its transparency when the symbol colour is set
    symbol.insertSymbolLayer(0, fill)


def _set_3d(layer: Any, extrusion_field: str | None) -> None:
    """A 3D renderer that stands buildings on the 3D view's terrain: footprints extruded by ``extrusion_field``
    from it, or (None) solids whose Z runs from ``ground`` (the DTM's elevation, 0 without a DTM) up, lowered
    by ``ground`` and set on the terrain under their centroid. Kept at their absolute Z, blocks floated
    ``ground`` metres above QGIS's default flat terrain (12 m in Alexandria; scripts/render_3d_view.py shows
    it); set this way they stand on a flat terrain and on a DEM terrain made from the DTM alike.
    Skipped where QGIS was built without 3D."""
    try:
        from qgis._3d import Qgs3DTypes, QgsPolygon3DSymbol, QgsVectorLayer3DRenderer
    except ImportError:
        return
    from qgis.core import QgsProperty

    symbol = QgsPolygon3DSymbol()
    properties = symbol.dataDefinedProperties()
    if extrusion_field:
        properties.setProperty(QgsPolygon3DSymbol.PropertyExtrusionHeight, QgsProperty.fromField(extrusion_field))
        symbol.setAltitudeClamping(Qgs3DTypes.AltClampTerrain)
    else:
        ground = '-coalesce("ground", 0)' if layer.fields().indexOf("ground") >= 0 else "0"
        properties.setProperty(QgsPolygon3DSymbol.PropertyHeight, QgsProperty.fromExpression(ground))
        symbol.setAltitudeClamping(Qgs3DTypes.AltClampRelative)
        symbol.setAltitudeBinding(Qgs3DTypes.AltBindCentroid)
    symbol.setDataDefinedProperties(properties)
    layer.setRenderer3D(QgsVectorLayer3DRenderer(symbol))


def style_by_category(layer_id: str, context: Any, field: str, colours: dict[Any, Any]) -> None:
    """Outline features in one colour per value of ``field`` (e.g. TP / FP / FN); a colour may be a
    (colour, label) pair."""
    from qgis.core import QgsCategorizedSymbolRenderer, QgsRendererCategory

    layer = _layer(layer_id, context)
    if layer is None or layer.fields().indexOf(field) < 0:
        return
    categories = []
    for value, colour in colours.items():
        colour, label = colour if isinstance(colour, tuple) else (colour, str(value))
        categories.append(QgsRendererCategory(value, outline_symbol(colour), label))
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, categories))
    layer.triggerRepaint()


# Sources and destinations that are not files on this machine: never compared, never staged.
NON_FILE_PREFIXES = ("memory:", "postgres", "postgis:", "spatialite:", "mssql:", "oracle:", "hana:", "wms:", "wfs:",
                     "http://", "https://", "type=xyz", "url=", "TEMPORARY_OUTPUT")


def file_key(uri: str | None) -> tuple[str, str | None] | None:
    """(normalised real path, layer name or None) of a file layer's source or a file destination; None for
    anything else. Understands ``path|layername=x``, ``ogr:dbname='path' table="x"`` and ``GPKG:path:x``."""
    if not uri or not isinstance(uri, str) or uri.startswith(NON_FILE_PREFIXES):
        return None
    layer = None
    if uri.startswith("ogr:"):
        match = re.search(r"dbname='((?:[^']|'')*)'", uri) or re.search(r"dbname=(\S+)", uri)
        if match is None:
            return None
        table = re.search(r'table="((?:[^"]|"")*)"', uri)
        path, layer = match.group(1).replace("''", "'"), table.group(1) if table else None
    elif re.match(r"^GPKG:", uri):
        path, _, layer = uri[5:].rpartition(":") if uri.count(":") > 1 else (uri[5:], "", None)
    else:
        path, *options = uri.split("|")
        for option in options:
            name, _, value = option.partition("=")
            if name.strip() == "layername":
                layer = value
    if "://" in path or not path:
        return None
    return os.path.normcase(os.path.realpath(path)), layer or None


def same_target(a: tuple[str, str | None], b: tuple[str, str | None]) -> bool:
    """Whether writing one of these touches the other: one file, and the same layer or the whole file."""
    return a[0] == b[0] and (a[1] is None or b[1] is None or a[1] == b[1])


def collision(inputs: dict[str, list[str]], outputs: dict[str, str]) -> str | None:
    """Why an output may not be written (it is an input, or another output of the run), or None.

    ``inputs``: parameter name -> layer sources or file paths; ``outputs``: parameter name -> destination.
    """
    seen: list[tuple[str, tuple[str, str | None]]] = []
    for name, destination in outputs.items():
        key = file_key(destination)
        if key is None:
            continue
        for input_name, sources in inputs.items():
            if any((source_key := file_key(s)) is not None and same_target(key, source_key) for s in sources):
                return (f"{name} is the same file as {input_name} ({key[0]}): the run would overwrite its input. "
                        f"Choose another file name for {name}.")
        for other, other_key in seen:
            if same_target(key, other_key):
                return (f"{name} and {other} are the same file ({key[0]}): one output would overwrite the other. "
                        "Choose a different file name for each output.")
        seen.append((name, key))
    return None


def publish_staged(folder: str, final_path: str) -> None:
    """Move every file of a staging folder beside ``final_path`` (same file system: each move is atomic), the
    main file last, remove side files the old output had and the new one has not, and the folder."""
    target = os.path.dirname(os.path.abspath(final_path))
    main = os.path.basename(final_path)
    names = sorted(os.listdir(folder), key=lambda name: name == main)
    stem, extension = os.path.splitext(final_path)
    for side in SIDECARS.get(extension.lower(), ()):
        stale = (final_path if side.startswith("-") else stem) + side
        if os.path.basename(stale) not in names and os.path.isfile(stale):
            os.remove(stale)
    for name in names:
        os.replace(os.path.join(folder, name), os.path.join(target, name))
    os.rmdir(folder)
