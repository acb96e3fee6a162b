"""Output helpers shared by algorithms: removing partial outputs and default styles."""

from __future__ import annotations

import os
from typing import Any


def discard_output(destination: str | None, dest_id: str | None) -> None:
    """Remove a partially written file output (and GeoPackage side files); memory layers need nothing."""
    if not destination or destination.startswith(("memory:", "postgres", "postgis:")):
        return
    path = destination.split("|")[0]
    if path.startswith("ogr:"):
        return
    for candidate in (path, path + "-wal", path + "-shm", path + "-journal", path + ".aux.xml"):
        if os.path.isfile(candidate):
            try:
                os.remove(candidate)
            except OSError:
                pass


def style_by_confidence(layer_id: str, context: Any) -> None:
    """Outline buildings in colours graded by confidence, with no fill (imagery stays visible)."""
    from qgis.core import (
        QgsClassificationEqualInterval,
        QgsFillSymbol,
        QgsGraduatedSymbolRenderer,
        QgsProcessingUtils,
        QgsSimpleLineSymbolLayer,
        QgsStyle,
    )

    layer = QgsProcessingUtils.mapLayerFromString(layer_id, context)
    if layer is None or layer.fields().indexOf("confidence") < 0:
        return
    symbol = QgsFillSymbol()
    outline = QgsSimpleLineSymbolLayer()
    outline.setWidth(0.6)
    # changeSymbolLayer takes ownership; QgsFillSymbol([layer]) does not and crashes QGIS later.
    symbol.changeSymbolLayer(0, outline)
    renderer = QgsGraduatedSymbolRenderer("confidence")
    renderer.setSourceSymbol(symbol)  # outline only: the class colour is the line colour
    renderer.setClassificationMethod(QgsClassificationEqualInterval())
    ramp = QgsStyle.defaultStyle().colorRamp("RdYlGn")
    if ramp is not None:
        renderer.setSourceColorRamp(ramp)
    renderer.updateClasses(layer, 5)
    layer.setRenderer(renderer)
    layer.triggerRepaint()
