"""Runs inside QGIS desktop (``qgis --code desktop_probe.py``; see desktop_screenshot.py).

Once QGIS is up it plays the scenarios named in $BE_SCENARIOS (comma separated), one after the other:

- ``toolbox``: show the Processing Toolbox with our provider expanded and picture the main window.
- ``dialog``: open the algorithm dialog of extract_buildings_unet on $BE_SAMPLE (added to the project, as a
  user would), press Run, wait for the task (QGIS runs it on a worker thread unless the algorithm says
  FlagNoThreading), and record where the model ran, the output and the layer QGIS added with its style.
- ``choices``: open the algorithm dialog of extract_buildings_unet (advanced parameters shown), record the
  drop-down lists' entries (in QGIS's language: ``desktop_screenshot.py --lang fr_FR``), choose the second
  Regularize entry and record the value Run would pass; picture the dialog.
- ``batch``: open the batch dialog, fill one row per raster in $BE_BATCH_INPUTS (os.pathsep separated), press
  Run and record each row's output and the layers QGIS added.

Pictures go to $BE_SCREENSHOTS/<scenario>.png, outputs to $BE_WORKDIR, the report (JSON) to $BE_REPORT; the
report is rewritten after every scenario so that a hang still leaves what happened before it. A watchdog of
$BE_TIMEOUT seconds per scenario writes the report and ends QGIS when a run never finishes.
"""

import inspect
import json
import os
import sys
import time
import traceback

from qgis.core import QgsApplication, QgsProject, QgsVectorLayer
from qgis.gui import QgsCollapsibleGroupBox as QCollapsibleGroupBox
from qgis.PyQt.QtCore import QCoreApplication, QThread, QTimer
from qgis.PyQt.QtGui import QGuiApplication, QImage, QPainter
from qgis.PyQt.QtWidgets import QAbstractItemView, QDockWidget, QTextEdit
from qgis.utils import iface, plugins

PROVIDER_ID = "building_extractor"
ALGORITHM = "building_extractor:extract_buildings_unet"
MASKRCNN_ALGORITHM = "building_extractor:extract_buildings_maskrcnn"
REPORT = {"errors": [], "scenarios": [s for s in os.environ.get("BE_SCENARIOS", "toolbox").split(",") if s]}
SCREENSHOTS = os.environ.get("BE_SCREENSHOTS", ".")
WORKDIR = os.environ.get("BE_WORKDIR", ".")
TIMEOUT_S = float(os.environ.get("BE_TIMEOUT", "240"))
EXTRACT_CALLS = []  # one entry per extract_buildings call: which thread ran the model
KEEP = []  # dialogs stay referenced until QGIS quits
SEEN_LAYERS = set()  # temporary output layers already reported (each scenario reports its new ones)
SHOWN = ("RESOLUTION", "TILE_SIZE", "OVERLAP", "THRESHOLD", "SPLIT_THRESHOLD", "SCORE_THRESHOLD", "MIN_AREA",
         "SIMPLIFY", "DEVICE")


def _write_report() -> None:
    with open(os.environ["BE_REPORT"], "w") as handle:
        json.dump(REPORT, handle, indent=2, default=str)


def _fail(scenario: str) -> None:
    REPORT["errors"].append(f"{scenario}: {traceback.format_exc()}")


def _quit() -> None:
    _write_report()
    for dialog in KEEP:
        try:
            dialog.close()
        except RuntimeError:  # already deleted by Qt
            pass
    # QGIS 3.22 can crash in QgisApp::setMapStyleDockLayer when it quits with layers loaded; unload them first.
    QgsProject.instance().clear()
    QTimer.singleShot(500, lambda: QgsApplication.exit(0))


class Watchdog:
    """Ends QGIS with the report written when a scenario does not finish in time (the event loop must run)."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._fire)
        self.scenario = ""

    def start(self, scenario: str) -> None:
        self.scenario = scenario
        self.timer.start(int(TIMEOUT_S * 1000))

    def stop(self) -> None:
        self.timer.stop()

    def _fire(self) -> None:
        REPORT["timed_out"] = self.scenario
        REPORT["errors"].append(f"{self.scenario}: did not finish within {TIMEOUT_S:.0f} s")
        _write_report()
        os._exit(3)  # a hung worker thread would keep a normal exit waiting for it


WATCHDOG = Watchdog()


def _excepthook(kind, value, tb) -> None:
    """An exception in a Qt slot ends the session with the report; QGIS would show a modal box and hang."""
    REPORT["errors"].append("uncaught: " + "".join(traceback.format_exception(kind, value, tb)))
    _write_report()
    os._exit(4)


def _next_scenario() -> None:
    WATCHDOG.stop()
    _write_report()
    if not REPORT["scenarios_left"]:
        _quit()
        return
    scenario = REPORT["scenarios_left"].pop(0)
    WATCHDOG.start(scenario)
    try:
        SCENARIOS[scenario]()
    except Exception:  # noqa: BLE001 - reported to the caller, who fails
        _fail(scenario)
        QTimer.singleShot(0, _next_scenario)


def _save(image: QImage, name: str) -> bool:
    return image.save(os.path.join(SCREENSHOTS, f"{name}.png"))


def _grab_screen() -> QImage:
    """The whole Xvfb screen (main window and dialogs on top of it; there is no window manager)."""
    return QGuiApplication.primaryScreen().grabWindow(0).toImage()


# Toolbox ------------------------------------------------------------------------------------------------
def _expand(tree, index) -> None:
    tree.expand(index)
    model = tree.model()
    for row in range(model.rowCount(index)):
        _expand(tree, model.index(row, 0, index))


def _inspect_registry() -> None:
    provider = QgsApplication.processingRegistry().providerById(PROVIDER_ID)
    REPORT["plugin_loaded"] = PROVIDER_ID in plugins
    REPORT["plugin_file"] = getattr(sys.modules.get(PROVIDER_ID), "__file__", None)
    REPORT["provider"] = provider is not None
    if provider is None:
        return
    algorithms = provider.algorithms()
    REPORT["provider_name"] = provider.name()
    REPORT["provider_icon"] = not provider.icon().isNull()
    REPORT["algorithms"] = sorted(algorithm.id() for algorithm in algorithms)
    REPORT["groups"] = sorted({algorithm.group() for algorithm in algorithms})
    REPORT["can_execute"] = {algorithm.id(): algorithm.canExecute()[0] for algorithm in algorithms}
    REPORT["plugin_menu"] = {menu.title().replace("&", ""): [a.text() for a in menu.actions()]
                             for menu in (action.menu() for action in iface.pluginMenu().actions()) if menu}


def _show_toolbox() -> None:
    window = iface.mainWindow()
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


def toolbox_scenario() -> None:
    _show_toolbox()

    def grab() -> None:
        try:
            REPORT["screenshot_saved"] = _save(iface.mainWindow().grab().toImage(), "toolbox")
        except Exception:  # noqa: BLE001
            _fail("toolbox")
        _next_scenario()

    QTimer.singleShot(2000, grab)


# Shared by the dialog scenarios -----------------------------------------------------------------------
def _record_extract_calls() -> None:
    """Wrap the algorithm's extract_buildings to record which thread runs the model (nothing else changes)."""
    from building_extractor.processing import extract_buildings_unet as module

    original = module.extract_buildings

    def recording(*args, **kwargs):
        app_thread = QCoreApplication.instance().thread()
        EXTRACT_CALLS.append({"raster": args[0], "main_thread": QThread.currentThread() == app_thread,
                              "torch_imported_before": "torch" in sys.modules})
        return original(*args, **kwargs)

    module.extract_buildings = recording


def _libllvm_loaded() -> bool:
    """Whether a shared libLLVM (Mesa's OpenGL drivers load one) is mapped into QGIS."""
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
        return any("/libLLVM" in line for line in maps)


def _log_text(dialog) -> str:
    edits = [w for w in dialog.findChildren(QTextEdit) if w.objectName() == "txtLog"]
    return edits[0].toPlainText() if edits else ""


def _red_lines(dialog) -> list[str]:
    """The log lines the dialog shows in red (feedback.reportError, QGIS's own "not correctly generated")."""
    import re

    edits = [w for w in dialog.findChildren(QTextEdit) if w.objectName() == "txtLog"]
    html = edits[0].toHtml() if edits else ""
    spans = re.findall(r'<span[^>]*color:(?:#ff0000|red)[^>]*>(.*?)</span>', html, re.S)
    return [re.sub(r"<[^>]+>", " ", span).strip() for span in spans]


def _describe_layer(layer) -> dict:
    extent = layer.extent()
    return {"valid": layer.isValid(), "feature_count": layer.featureCount(), "crs": layer.crs().authid(),
            "extent": [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()]}


def _describe_output(path: str) -> dict:
    """Feature count and extent of an output file (or, for "TEMPORARY_OUTPUT", of the temporary layer QGIS
    added), and the style of the project layer that shows it."""
    temporary = path == "TEMPORARY_OUTPUT"
    info = {"path": path, "exists": os.path.exists(path)}
    if info["exists"]:
        info.update(_describe_layer(QgsVectorLayer(path, "check", "ogr")))
    info["project_layers"] = []
    for layer in QgsProject.instance().mapLayers().values():
        if temporary and layer.providerType() == "memory" and layer.id() not in SEEN_LAYERS:
            info.update(_describe_layer(layer), exists=True)
            SEEN_LAYERS.add(layer.id())
        elif temporary or layer.source().split("|")[0] != path:
            continue
        renderer = layer.renderer()
        entry = {"name": layer.name(), "renderer": renderer.type() if renderer else None,
                 "provider": layer.providerType()}
        if renderer is not None and renderer.type() == "graduatedSymbol":
            entry["class_attribute"] = renderer.classAttribute()
            entry["classes"] = len(renderer.ranges())
            entry["colours"] = sorted({r.symbol().color().name() for r in renderer.ranges()})
        info["project_layers"].append(entry)
    return info


def _stack(top: QImage, bottom: QImage) -> QImage:
    image = QImage(max(top.width(), bottom.width()), top.height() + bottom.height(), QImage.Format_ARGB32)
    image.fill(0xFFFFFFFF)
    painter = QPainter(image)
    painter.drawImage(0, 0, top)
    painter.drawImage(0, top.height(), bottom)
    painter.end()
    return image


# Algorithm dialog -------------------------------------------------------------------------------------
def dialog_scenario(key: str = "dialog", algorithm_id: str = ALGORITHM) -> None:
    import processing
    from processing.core.ProcessingConfig import ProcessingConfig

    ProcessingConfig.setSettingValue(ProcessingConfig.KEEP_DIALOG_OPEN, True)
    sample = os.environ["BE_SAMPLE"]
    output = "TEMPORARY_OUTPUT"  # the dialog's default, "[Create temporary layer]": only INPUT is chosen
    layer = _project_raster(sample)
    report = REPORT[key] = {"input": sample, "output": output, "input_layer_valid": bool(layer and
                                                                                         layer.isValid())}
    algorithm = QgsApplication.processingRegistry().algorithmById(algorithm_id)
    report["no_threading_flag"] = bool(algorithm.flags() & algorithm.FlagNoThreading)
    dialog = processing.createAlgorithmDialog(algorithm_id, {"INPUT": layer})
    KEEP.append(dialog)
    dialog.show()
    dialog.setGeometry(150, 60, 980, 720)  # after show(): QGIS restores the last dialog's geometry on show
    values = dialog.createProcessingParameters()  # what Run will pass: the values the dialog shows
    report["shown"] = {name: str(values[name]) for name in SHOWN if name in values}
    report["labels"] = {p.name(): p.description() for p in algorithm.parameterDefinitions()}
    report["output_value"] = str(values.get("OUTPUT").sink.staticValue()) if "OUTPUT" in values else None
    started = time.monotonic()

    def finished(successful: bool, results: dict) -> None:
        report["seconds"] = round(time.monotonic() - started, 1)
        report["successful"] = bool(successful)
        report["results"] = {key: str(value) for key, value in results.items()}
        report["extract_calls"] = list(EXTRACT_CALLS)
        report["libllvm_loaded"] = _libllvm_loaded()
        report["triton_blocked"] = "triton" in sys.modules and sys.modules["triton"] is None
        report["torch_imported"] = sys.modules.get("torch") is not None  # not with the onnxruntime backend
        QTimer.singleShot(1500, after)  # let the dialog and the canvas repaint

    def after() -> None:
        try:
            report["log"] = _log_text(dialog)
            report["red_lines"] = _red_lines(dialog)
            report.update(_describe_output(output))
            dialog.showLog()
            report["screenshot_saved"] = _save(dialog.grab().toImage(), key)
            _save(_grab_screen(), f"{key}_screen")  # the styled buildings layer on the map, under the dialog
            dialog.close()
        except Exception:  # noqa: BLE001
            _fail(key)
        _next_scenario()

    dialog.algorithmFinished.connect(finished)
    # Pressing Run: AlgorithmDialog.runAlgorithm starts a QgsProcessingAlgRunnerTask unless FlagNoThreading.
    QTimer.singleShot(500, dialog.runButton().click)


# Batch dialog -----------------------------------------------------------------------------------------
def _row_parameters(panel: object, row: int, context: object) -> dict:
    """One batch row's parameters; ``BatchPanel.parametersForRow`` takes the context too from QGIS 3.34 on."""
    if "context" in inspect.signature(panel.parametersForRow).parameters:
        return panel.parametersForRow(row, context, warnOnInvalid=False)[0]
    return panel.parametersForRow(row, warnOnInvalid=False)[0]


def batch_scenario() -> None:
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog
    from processing.tools import dataobjects

    inputs = [p for p in os.environ["BE_BATCH_INPUTS"].split(os.pathsep) if p]
    outputs = [os.path.join(WORKDIR, f"batch_{i + 1}_{os.path.splitext(os.path.basename(p))[0]}.gpkg")
               for i, p in enumerate(inputs)]
    outputs[-1] = "TEMPORARY_OUTPUT"  # a temporary layer from the batch dialog too
    report = REPORT["batch"] = {"inputs": inputs, "outputs": outputs}
    dialog = BatchAlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById(ALGORITHM),
                                  parent=iface.mainWindow())
    KEEP.append(dialog)
    dialog.show()
    dialog.setGeometry(5, 40, 1270, 450)  # after show(), as above
    panel = dialog.mainWidget()
    panel.addRow(len(inputs) - 1)  # the panel starts with one row
    panel.checkLoadLayersOnCompletion.setChecked(True)
    context = dataobjects.createContext()
    table, columns = panel.tblParameters, panel.parameter_to_column
    table.horizontalHeader().setMinimumSectionSize(60)  # so that inputs and outputs fit in the picture
    for column in range(table.columnCount()):
        table.setColumnWidth(column, 95)
    table.setColumnWidth(columns["INPUT"], 300)
    table.setColumnWidth(columns["OUTPUT"], 330)
    for row, (raster, output) in enumerate(zip(inputs, outputs)):
        layer = _project_raster(raster)  # users pick layers of their project; the row shows the layer's name
        panel.wrappers[row][columns["INPUT"]].setParameterValue(layer, context)
        table.cellWidget(row + 1, columns["OUTPUT"]).setValue(output)  # row 0 is the fill-down row
    report["rows_in_panel"] = panel.batchRowCount()
    report["row_parameters"] = [{k: str(v) for k, v in _row_parameters(panel, r, context).items()}
                                for r in range(panel.batchRowCount())]

    def run() -> None:
        parameters_picture = dialog.grab().toImage()
        started, calls_before = time.monotonic(), len(EXTRACT_CALLS)
        try:
            # QGIS 3.22's batch dialog runs its rows one by one on the main thread and returns when done; from
            # 3.26 on the rows run as tasks and the click returns at once, so wait for them (cancel greys out).
            dialog.runButton().click()
        except Exception:  # noqa: BLE001
            _fail("batch")
        wait_for_rows(parameters_picture, started, calls_before)

    def wait_for_rows(parameters_picture: QImage, started: float, calls_before: int) -> None:
        running = dialog.cancelButton().isEnabled() or len(EXTRACT_CALLS) - calls_before < len(inputs)
        if running and time.monotonic() - started < TIMEOUT_S:
            QTimer.singleShot(500, lambda: wait_for_rows(parameters_picture, started, calls_before))
            return
        report["seconds"] = round(time.monotonic() - started, 1)
        report["extract_calls"] = EXTRACT_CALLS[-len(inputs):]
        QTimer.singleShot(1500, lambda: after(parameters_picture))

    def after(parameters_picture: QImage) -> None:
        try:
            report["log"] = _log_text(dialog)
            report["red_lines"] = _red_lines(dialog)
            report["rows"] = [_describe_output(path) for path in outputs]
            dialog.showLog()
            report["screenshot_saved"] = _save(_stack(parameters_picture, dialog.grab().toImage()), "batch")
            _save(_grab_screen(), "batch_screen")
        except Exception:  # noqa: BLE001
            _fail("batch")
        _next_scenario()

    QTimer.singleShot(1000, run)


def choices_scenario() -> None:
    import processing
    from qgis.PyQt.QtWidgets import QComboBox

    layer = _project_raster(os.environ["BE_SAMPLE"])
    dialog = processing.createAlgorithmDialog(ALGORITHM, {"INPUT": layer})
    KEEP.append(dialog)
    dialog.show()
    dialog.setGeometry(150, 30, 980, 820)
    panel = dialog.mainWidget()
    for group in panel.findChildren(QCollapsibleGroupBox):  # "Advanced Parameters": expanded, as a user would
        group.setCollapsed(False)
    report = REPORT["choices"] = {"language": QgsApplication.locale(), "lists": {}}
    for name in ("REGULARIZE", "TTA", "NORMALIZE", "DEVICE", "BACKEND"):
        wrapper = panel.wrappers[name]
        combo = wrapper.wrappedWidget() if hasattr(wrapper, "wrappedWidget") else wrapper.widget
        combos = [combo] if isinstance(combo, QComboBox) else combo.findChildren(QComboBox)
        report["lists"][name] = [combos[0].itemText(i) for i in range(combos[0].count())] if combos else []
        if name == "REGULARIZE" and combos:
            combos[0].setCurrentIndex(1)
    report["regularize_value"] = dialog.createProcessingParameters().get("REGULARIZE")

    def grab() -> None:
        try:
            panel.findChildren(QComboBox)  # keep the dialog alive until it has painted
            report["screenshot_saved"] = _save(dialog.grab().toImage(), "choices")
        except Exception:  # noqa: BLE001 - reported to the caller, who fails
            _fail("choices")
        dialog.close()
        _next_scenario()

    QTimer.singleShot(1500, grab)


def _project_raster(path: str):
    """The project's layer for a raster file, added when it is not loaded yet."""
    for layer in QgsProject.instance().mapLayers().values():
        if layer.source().split("|")[0] == path:
            return layer
    return iface.addRasterLayer(path, os.path.splitext(os.path.basename(path))[0])


SCENARIOS = {"toolbox": toolbox_scenario, "dialog": dialog_scenario, "batch": batch_scenario,
             "choices": choices_scenario,
             "dialog_maskrcnn": lambda: dialog_scenario("dialog_maskrcnn", MASKRCNN_ALGORITHM)}


def start() -> None:
    sys.excepthook = _excepthook  # replaces QGIS's, which opens a modal message box
    try:
        _inspect_registry()
        _record_extract_calls()
        for name in ("Browser", "Layers"):
            dock = iface.mainWindow().findChild(QDockWidget, name)
            if dock is not None:
                dock.hide()
    except Exception:  # noqa: BLE001 - reported to the caller, who fails
        _fail("start")
        _quit()
        return
    unknown = [s for s in REPORT["scenarios"] if s not in SCENARIOS]
    if unknown:
        REPORT["errors"].append(f"unknown scenarios: {unknown}")
    REPORT["scenarios_left"] = [s for s in REPORT["scenarios"] if s in SCENARIOS]
    _next_scenario()


iface.mainWindow().setGeometry(0, 0, 1280, 860)  # the Xvfb screen; there is no window manager to maximize
QTimer.singleShot(3000, start)
