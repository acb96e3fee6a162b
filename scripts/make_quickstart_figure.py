"""The help pages' quick-start pictures: the shipped sample, then the same view with each extraction algorithm's
buildings as QGIS draws them (the plugin's own style), rendered headless by QGIS.

Usage: .venv/bin/python scripts/make_quickstart_figure.py   (writes help/images/quickstart_*.png)
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "banepa_sample.tif"
PANEL = 520  # px per panel side


def render(layers: list, extent, size: int):
    from qgis.core import QgsMapRendererSequentialJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize

    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(layers[-1].crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(size, size))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage()


def panels(images: list, titles: list[str], path: Path) -> None:
    from qgis.PyQt.QtCore import QRect, Qt
    from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter

    header = 34
    figure = QImage(PANEL * len(images) + 10 * (len(images) - 1), PANEL + header, QImage.Format_RGB32)
    figure.fill(QColor("white"))
    painter = QPainter(figure)
    painter.setFont(QFont("DejaVu Sans", 13))
    for index, (image, title) in enumerate(zip(images, titles)):
        left = index * (PANEL + 10)
        painter.drawImage(left, header, image)
        painter.drawText(QRect(left, 0, PANEL, header), Qt.AlignCenter, title)
    painter.end()
    figure.save(str(path), quality=82)


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    import processing
    from processing.core.Processing import Processing

    Processing.initialize()
    from building_extractor.processing.outputs import style_by_confidence
    from building_extractor.processing.provider import BuildingExtractorProvider

    provider = BuildingExtractorProvider()
    if not QgsApplication.processingRegistry().addProvider(provider):
        raise SystemExit("could not register the building_extractor provider")
    print(make_figure(processing, style_by_confidence))
    gc.collect()  # layers and contexts die before exitQgis tears GDAL and Qt down (it segfaulted otherwise)
    app.exitQgis()


def make_figure(processing: Any, style_by_confidence: Any) -> Path:
    """Run both algorithms on the sample with defaults and write the input | U-Net | Mask R-CNN figure."""
    from qgis.core import QgsProcessingContext, QgsRasterLayer, QgsRectangle

    raster = QgsRasterLayer(str(SAMPLE), "sample")
    extent = raster.extent()
    side = min(extent.width(), extent.height()) * 0.55  # a close-up: outlines readable at help-page size
    centre = extent.center()
    view = QgsRectangle(centre.x() - side / 2, centre.y() - side / 2, centre.x() + side / 2, centre.y() + side / 2)
    images, titles = [render([raster], view, PANEL)], ["Input: drone image, 0.13 m (Banepa, Nepal)"]
    for algorithm, name in (("extract_buildings_unet", "U-Net"), ("extract_buildings_maskrcnn", "Mask R-CNN")):
        context = QgsProcessingContext()
        result = processing.run(f"building_extractor:{algorithm}", {"INPUT": raster, "DEVICE": "cpu",
                                                                    "OUTPUT": "TEMPORARY_OUTPUT"}, context=context)
        layer = result["OUTPUT"]
        context.temporaryLayerStore().addMapLayer(layer)
        style_by_confidence(layer.id(), context)
        images.append(render([layer, raster], view, PANEL))
        titles.append(f"{name}: {layer.featureCount()} buildings, defaults")
    target = ROOT / "help" / "images" / "quickstart_sample.jpg"
    panels(images, titles, target)  # JPEG: a photo, a third of the PNG (the plugin zip must stay under 25 MB)
    return target


if __name__ == "__main__":
    main()
