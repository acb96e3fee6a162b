"""Runs inside QGIS desktop (``qgis --code desktop_probe.py``; see desktop_screenshot.py).

Once QGIS is up: show the Processing Toolbox with our provider expanded, save a picture of the main window
to $BE_SCREENSHOT, write what the registry holds to $BE_REPORT (JSON), and quit QGIS.
"""

import json
import os
import traceback

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QAbstractItemView, QDockWidget
from qgis.utils import iface, plugins

PROVIDER_ID = "building_extractor"
REPORT = {"errors": []}


def _finish() -> None:
    with open(os.environ["BE_REPORT"], "w") as handle:
        json.dump(REPORT, handle, indent=2)
    QTimer.singleShot(200, lambda: QgsApplication.exit(0))


def _expand(tree, index) -> None:
    tree.expand(index)
    model = tree.model()
    for row in range(model.rowCount(index)):
        _expand(tree, model.index(row, 0, index))


def _inspect_registry() -> None:
    provider = QgsApplication.processingRegistry().providerById(PROVIDER_ID)
    REPORT["plugin_loaded"] = PROVIDER_ID in plugins
    REPORT["provider"] = provider is not None
    if provider is None:
        return
    algorithms = provider.algorithms()
    REPORT["provider_name"] = provider.name()
    REPORT["provider_icon"] = not provider.icon().isNull()
    REPORT["algorithms"] = sorted(algorithm.id() for algorithm in algorithms)
    REPORT["groups"] = sorted({algorithm.group() for algorithm in algorithms})
    REPORT["can_execute"] = {algorithm.id(): algorithm.canExecute()[0] for algorithm in algorithms}


def _show_toolbox() -> None:
    window = iface.mainWindow()
    for name in ("Browser", "Layers"):
        dock = window.findChild(QDockWidget, name)
        if dock is not None:
            dock.hide()
    toolbox = window.findChild(QDockWidget, "ProcessingToolbox")
    toolbox.show()
    toolbox.raise_()
    window.resizeDocks([toolbox], [520], 1)  # 1 = Qt.Horizontal
    tree = toolbox.algorithmTree
    model = tree.model()
    name = REPORT.get("provider_name", "Building extractor")
    REPORT["toolbox_rows"] = []
    for row in range(model.rowCount()):
        index = model.index(row, 0)
        text = model.data(index)
        REPORT["toolbox_rows"].append(text)
        if text == name:
            _expand(tree, index)
            tree.setCurrentIndex(index)
            tree.scrollTo(index, QAbstractItemView.PositionAtTop)
        else:
            tree.collapse(index)
    REPORT["provider_in_toolbox"] = name in REPORT["toolbox_rows"]


def _grab() -> None:
    try:
        REPORT["screenshot_saved"] = iface.mainWindow().grab().save(os.environ["BE_SCREENSHOT"])
    except Exception:  # noqa: BLE001 - reported to the caller, who fails
        REPORT["errors"].append(traceback.format_exc())
    _finish()


def probe() -> None:
    try:
        _inspect_registry()
        _show_toolbox()
    except Exception:  # noqa: BLE001 - reported to the caller, who fails
        REPORT["errors"].append(traceback.format_exc())
        _finish()
        return
    QTimer.singleShot(2000, _grab)


iface.mainWindow().setGeometry(0, 0, 1280, 860)  # the Xvfb screen; there is no window manager to maximize
QTimer.singleShot(3000, probe)
