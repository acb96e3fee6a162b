"""Render building_heights' LOD1 blocks of Alexandria in QGIS's 3D map view (help/images/building_heights_3d.jpg).

building_heights runs on the Alexandria lidar sample (../shared/data/alexandria: DSM, DTM, 84 footprints; 1 m
inward buffer) as the algorithm dialog runs it: temporary outputs, loaded and styled by QGIS's own
post-processing, so the picture shows the 3D style the plugin gives its layers. The scene is drawn by QGIS's 3D
engine (Qgs3DMapScene in an offscreen engine, the renderer of a print layout's 3D map item) twice, from one
camera: (a) on QGIS's default flat terrain, (b) on a DEM terrain made from the DTM with the nDSM draped over it.
QGIS 3.22's Python API has no 3D map canvas, so a layout's 3D map item is the way to drive the engine from a
script; it needs OpenGL, hence an X display: without one the script re-runs itself under xvfb-run (Mesa's
software OpenGL suffices).

Usage: .venv/bin/python scripts/render_3d_view.py [--output help/images/building_heights_3d.jpg]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALEXANDRIA = ROOT.parent / "shared" / "data" / "alexandria"
OUTPUT = ROOT / "help" / "images" / "building_heights_3d.jpg"
PANEL_MM = (170.0, 115.0)  # each panel at 96 dpi: 643 x 435 px
CAMERA = {"distance": 430.0, "pitch": 52.0, "heading": 12.0}  # metres from the scene's centre, degrees


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        rerun_under_xvfb()
    os.environ.pop("QT_QPA_PLATFORM", None)  # the X display: OpenGL for the 3D engine
    sys.path.insert(0, str(ROOT))
    from qgis.core import QgsApplication

    app = QgsApplication([], True)
    app.initQgis()
    try:
        with tempfile.TemporaryDirectory() as work:
            panels = render(Path(work))
            save_figure(panels, ["(a) QGIS's default flat terrain", "(b) DEM terrain from the DTM, nDSM draped"],
                        args.output)
        print(args.output)
    finally:
        app.exitQgis()


def rerun_under_xvfb() -> None:
    if shutil.which("xvfb-run") is None:
        raise SystemExit("No X display and no xvfb-run (Debian package xvfb): the 3D engine needs OpenGL.")
    command = ["xvfb-run", "-a", "-s", "-screen 0 1280x900x24", sys.executable, *sys.argv]
    raise SystemExit(subprocess.run(command, check=False).returncode)


def render(work: Path) -> list:
    """The two panels (QImage) of the Alexandria blocks."""
    from qgis._3d import Qgs3D
    from qgis.core import QgsProject, QgsRasterLayer

    Qgs3D.initialize()  # 3D renderers and materials; without it the scene never finishes loading
    project = QgsProject.instance()
    heights, blocks = run_building_heights(project)
    heights.setRenderer3D(None)  # only its 2D fill, draped on the terrain: its extrusion would coincide
    dtm = QgsRasterLayer(str(ALEXANDRIA / "dtm.tif"), "DTM")
    ndsm = QgsRasterLayer(str(ALEXANDRIA / "ndsm.tif"), "nDSM")
    project.addMapLayers([dtm, ndsm], False)
    grey_stretch(ndsm, 0.0, 25.0)
    flat = scene_settings(project, [blocks, heights], blocks, terrain=None)
    dem = scene_settings(project, [blocks, ndsm], blocks, terrain=dtm)
    return [capture(project, settings, work / f"{name}.png") for name, settings in (("flat", flat), ("dem", dem))]


def run_building_heights(project):
    """(heights, blocks) layers of building_heights on Alexandria, as the dialog makes them (temporary outputs,
    styled by the algorithm's postProcessAlgorithm)."""
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing
    from processing.gui.Postprocessing import handleAlgorithmResults
    from qgis.core import (
        QgsApplication,
        QgsProcessing,
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProcessingOutputLayerDefinition,
    )

    from building_extractor.processing.provider import BuildingExtractorProvider

    Processing.initialize()
    provider = BuildingExtractorProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    algorithm = QgsApplication.processingRegistry().createAlgorithmById("building_extractor:building_heights")
    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    context.setProject(project)
    parameters = {"INPUT": str(ALEXANDRIA / "buildings.geojson"), "HEIGHTS": str(ALEXANDRIA / "dsm.tif"),
                  "DTM": str(ALEXANDRIA / "dtm.tif"), "BUFFER": 1.0,
                  **{name: QgsProcessingOutputLayerDefinition(QgsProcessing.TEMPORARY_OUTPUT, project)
                     for name in ("OUTPUT", "OUTPUT_3D")}}
    results, ok = algorithm.run(parameters, context, feedback)
    if not ok or not handleAlgorithmResults(algorithm, context, feedback, parameters=parameters):
        raise SystemExit("building_heights failed on Alexandria")
    layers = list(project.mapLayers().values())
    blocks = next(layer for layer in layers if layer.wkbType() == 1006)  # MultiPolygonZ
    heights = next(layer for layer in layers if layer is not blocks)
    return heights, blocks


def grey_stretch(layer, low: float, high: float) -> None:
    from qgis.core import QgsContrastEnhancement, QgsSingleBandGrayRenderer

    renderer = QgsSingleBandGrayRenderer(layer.dataProvider(), 1)
    stretch = QgsContrastEnhancement(layer.dataProvider().dataType(1))
    stretch.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
    stretch.setMinimumValue(low)
    stretch.setMaximumValue(high)
    renderer.setContrastEnhancement(stretch)
    layer.setRenderer(renderer)


def scene_settings(project, layers: list, centre_layer, terrain=None):
    """Qgs3DMapSettings as the 3D view's configuration dialog makes them: layers drawn (2D ones draped as the
    terrain's texture), a flat terrain over the layers' extent or a DEM terrain, one directional light.

    QGIS 3.22's Python API cannot set a terrain generator; the settings are read from the XML a project keeps."""
    from qgis._3d import Qgs3DMapSettings
    from qgis.core import QgsReadWriteContext
    from qgis.PyQt.QtXml import QDomDocument

    extent = centre_layer.extent()
    extent.grow(60.0)
    centre = extent.center()
    document = QDomDocument()

    def element(parent, name: str, **attributes):
        node = document.createElement(name)
        for key, value in attributes.items():
            node.setAttribute(key.replace("_", "-"), str(value))
        parent.appendChild(node)
        return node

    root = element(document, "qgis3d")
    element(root, "origin", x=centre.x(), y=centre.y(), z=0)
    element(root, "camera", field_of_view=45)
    element(root, "color", background="255,255,255,255", selection="255,255,0,255")
    centre_layer.crs().writeXml(element(root, "crs"), document)
    terrain_node = element(root, "terrain", exaggeration=1, texture_size=1024, shading_enabled=0)
    layer_list = element(terrain_node, "layers")
    for layer in layers:
        element(layer_list, "layer", id=layer.id())
    if terrain is None:
        generator = element(terrain_node, "generator", type="flat")
        element(generator, "extent", xmin=extent.xMinimum(), xmax=extent.xMaximum(), ymin=extent.yMinimum(),
                ymax=extent.yMaximum())
    else:
        element(terrain_node, "generator", type="dem", layer=terrain.id(), resolution=64, skirt_height=2)
    element(root, "point-lights")
    lights = element(root, "directional-lights")
    element(lights, "directional-light", x=0.5, y=-1.0, z=-0.6, color="255,255,255,255", intensity=1.0)
    settings = Qgs3DMapSettings()
    settings.readXml(root, QgsReadWriteContext())
    settings.resolveReferences(project)
    settings.setTransformContext(project.transformContext())
    settings.setPathResolver(project.pathResolver())
    settings.setMapThemeCollection(project.mapThemeCollection())
    return settings


def capture(project, settings, path: Path):
    """The scene from CAMERA, drawn by QGIS's offscreen 3D engine (a print layout's 3D map item)."""
    from qgis._3d import QgsCameraPose, QgsLayoutItem3DMap
    from qgis.core import (
        QgsLayoutExporter,
        QgsLayoutPoint,
        QgsLayoutSize,
        QgsPrintLayout,
        QgsUnitTypes,
        QgsVector3D,
    )
    from qgis.PyQt.QtGui import QImage

    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    page = layout.pageCollection().page(0)
    page.setPageSize(QgsLayoutSize(*PANEL_MM, QgsUnitTypes.LayoutMillimeters))
    item = QgsLayoutItem3DMap(layout)
    layout.addLayoutItem(item)
    item.attemptMove(QgsLayoutPoint(0, 0, QgsUnitTypes.LayoutMillimeters))
    item.attemptResize(QgsLayoutSize(*PANEL_MM, QgsUnitTypes.LayoutMillimeters))
    item.setMapSettings(settings)
    pose = QgsCameraPose()
    pose.setCenterPoint(QgsVector3D(0.0, 10.0, 0.0))  # world coordinates: x east, y up, z south
    pose.setDistanceFromCenterPoint(CAMERA["distance"])
    pose.setPitchAngle(CAMERA["pitch"])
    pose.setHeadingAngle(CAMERA["heading"])
    item.setCameraPose(pose)
    export = QgsLayoutExporter.ImageExportSettings()
    export.dpi = 96
    # Exporting (not previewing) renders the 3D scene synchronously (Qgs3DUtils.captureSceneImage).
    if QgsLayoutExporter(layout).exportToImage(str(path), export) != QgsLayoutExporter.Success:
        raise SystemExit(f"QGIS could not render the 3D scene into {path}")
    image = QImage(str(path))
    del item, layout  # the 3D engine goes before QGIS exits
    return image


def save_figure(panels: list, titles: list[str], path: Path) -> None:
    from qgis.PyQt.QtCore import QRect, Qt
    from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter

    header, gap = 30, 10
    width = sum(p.width() for p in panels) + gap * (len(panels) - 1)
    figure = QImage(width, header + max(p.height() for p in panels), QImage.Format.Format_RGB32)
    figure.fill(QColor("white"))
    painter = QPainter(figure)
    painter.setFont(QFont("DejaVu Sans", 12))
    left = 0
    for panel, title in zip(panels, titles):
        painter.drawImage(left, header, panel)
        painter.drawText(QRect(left, 0, panel.width(), header), Qt.AlignmentFlag.AlignCenter, title)
        left += panel.width() + gap
    painter.end()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not figure.save(str(path), quality=85):
        raise SystemExit(f"could not write {path}")


if __name__ == "__main__":
    main()
