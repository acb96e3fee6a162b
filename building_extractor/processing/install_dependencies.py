"""building_extractor:install_dependencies — install the extraction runtime into the plugin's profile folder."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsProcessingAlgorithm,
    QgsProcessingOutputFolder,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
)

from ..core import installer
from .base_algorithm import BaseAlgorithm, run_core


class InstallDependencies(BaseAlgorithm):
    """Map parameters onto :func:`building_extractor.core.installer.install` (pip --target, QGIS's Python)."""

    ALGORITHM_ID = "install_dependencies"
    DISPLAY_NAME = "Install dependencies"
    GROUP_ID = "setup"
    GROUP = "Setup"
    WHEELS, TRAINING, UNINSTALL, OPENVINO = "WHEELS", "TRAINING", "UNINSTALL", "OPENVINO"
    FOLDER, INSTALLED = "FOLDER", "INSTALLED"

    def flags(self) -> Any:
        # Not in models or batches: it changes the installation, once.
        return super().flags() | QgsProcessingAlgorithm.FlagHideFromModeler

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802 - QGIS API name
        self.addParameter(QgsProcessingParameterFile(
            self.WHEELS, self.tr("Folder of wheel files, for computers without internet (empty: download from PyPI)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.TRAINING, self.tr("Also install the training set (torch, several GB; see the help)"), False))
        openvino = QgsProcessingParameterBoolean(
            self.OPENVINO, self.tr("Also install OpenVINO (optional faster U-Net backend; 33-85 MB download)"), False)
        openvino.setHelp(self.tr("BACKEND=openvino: about twice onnxruntime's speed for the U-Net on CPUs that "
                                 "compute bf16 natively (recent AMD Ryzen/EPYC, Intel Xeon), with outlines within "
                                 "masks IoU 0.99 of onnxruntime's; not used for Mask R-CNN."))
        self.addParameter(openvino)
        self.addParameter(QgsProcessingParameterBoolean(
            self.UNINSTALL, self.tr("Uninstall: remove the plugin's package folder instead"), False))
        self.addOutput(QgsProcessingOutputFolder(self.FOLDER, self.tr("Package folder")))
        self.addOutput(QgsProcessingOutputString(self.INSTALLED, self.tr("Installed requirements")))

    def dependency_problem(self) -> str:
        return ""  # the installer itself needs nothing but QGIS's Python

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        folder = installer.packages_dir(QgsApplication.qgisSettingsDirPath())
        if self.parameterAsBool(parameters, self.UNINSTALL, context):
            removed = installer.uninstall(folder)
            feedback.pushInfo(f"Removed {folder}; restart QGIS to unload what was imported from it." if removed
                              else f"Nothing to remove: {folder} does not exist.")
            return {self.FOLDER: folder, self.INSTALLED: ""}
        training = self.parameterAsBool(parameters, self.TRAINING, context)
        needed = installer.needed_requirements(training, self.parameterAsBool(parameters, self.OPENVINO, context))
        requirements = list(needed.values())
        python = run_core(installer.python_for_pip)
        wheels = self.parameterAsFile(parameters, self.WHEELS, context) or None
        feedback.pushInfo(f"Python: {python}; folder: {folder}; to install: {', '.join(requirements) or 'nothing'}.")
        with tempfile.TemporaryDirectory() as scratch:
            plan = installer.InstallPlan(python, folder, requirements, wheel_dir=wheels,
                                         constraints=self._numpy_constraint(scratch) if training else None)
            feedback.setProgress(5)
            run_core(installer.install, plan, feedback.pushConsoleInfo, feedback.isCanceled)
        feedback.setProgress(90)
        broken = installer.check_imports(python, folder, list(needed))
        if broken:
            feedback.reportError("Installed, but these do not import: " + "; ".join(broken), fatalError=False)
        installer.add_to_path(folder)
        feedback.pushInfo(f"Installed into {folder}. Remove that folder (or run this algorithm with Uninstall) to "
                          "undo.")
        return {self.FOLDER: folder, self.INSTALLED: " ".join(requirements)}

    @staticmethod
    def _numpy_constraint(folder: str) -> str:
        """A pip constraints file holding numpy at the version QGIS has (pip must never bring another)."""
        import numpy

        path = os.path.join(folder, "constraints.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"numpy=={numpy.__version__}\n")
        return path
