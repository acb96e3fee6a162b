"""building_extractor:diagnostics — versions, runtimes, devices and model files, to paste into a bug report."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    Qgis,
    QgsProcessingOutputString,
    QgsProcessingParameterFileDestination,
)

from ..core.diagnostics import report
from .base_algorithm import BaseAlgorithm
from .settings import MODELS_FOLDER, SETTINGS, setting


class Diagnostics(BaseAlgorithm):
    """Writes :func:`building_extractor.core.diagnostics.report` to the log and, optionally, a text file."""

    ALGORITHM_ID = "diagnostics"
    DISPLAY_NAME = "Diagnostics for bug reports"
    GROUP_ID = "setup"
    GROUP = "Setup"
    OUTPUT, REPORT = "OUTPUT", "REPORT"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802 - QGIS API name
        self.add(QgsProcessingParameterFileDestination(self.OUTPUT, self.tr("Report file"),
                                                       self.tr("Text files (*.txt)"), optional=True,
                                                       createByDefault=False),
                 "Optional text file with the same report, to attach to a bug report.")
        self.addOutput(QgsProcessingOutputString(self.REPORT, self.tr("Report")))

    def dependency_problem(self) -> str:
        return ""  # it reports what is missing; it needs nothing

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        extra = [("QGIS", Qgis.QGIS_VERSION)]
        extra += [(f"setting {key}", str(setting(key))) for key in SETTINGS]
        lines = [f"{name}: {value}" for name, value in report(extra, [setting(MODELS_FOLDER)])]
        for line in lines:
            feedback.pushInfo(line)
        text = "\n".join(lines) + "\n"
        results = {self.REPORT: text}
        path = self.parameterAsFileOutput(parameters, self.OUTPUT, context) if parameters.get(self.OUTPUT) else ""
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            results[self.OUTPUT] = path
        return results
