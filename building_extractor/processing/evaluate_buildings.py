"""building_extractor:evaluate_buildings (not implemented yet: fails with a clear message)."""

from __future__ import annotations

from qgis.core import QgsProcessingException

from .base_algorithm import BaseAlgorithm


class EvaluateBuildings(BaseAlgorithm):
    """Registered so the id is stable; filled in by its own issue."""

    ALGORITHM_ID = "evaluate_buildings"
    DISPLAY_NAME = "Evaluate buildings"
    GROUP_ID = "evaluation"
    GROUP = "Evaluation"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 - QGIS API name
        pass

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API name
        raise QgsProcessingException(
            self.tr("Evaluate buildings is not available in this version of building_extractor yet.")
        )
