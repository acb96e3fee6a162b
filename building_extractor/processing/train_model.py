"""building_extractor:train_model (not implemented yet: fails with a clear message)."""

from __future__ import annotations

from qgis.core import QgsProcessingException

from .base_algorithm import BaseAlgorithm


class TrainModel(BaseAlgorithm):
    """Registered so the id is stable; filled in by its own issue."""

    ALGORITHM_ID = "train_model"
    DISPLAY_NAME = "Train model"
    GROUP_ID = "training"
    GROUP = "Training"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 - QGIS API name
        pass

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API name
        raise QgsProcessingException(
            self.tr("Train model is not available in this version of building_extractor yet.")
        )
