"""building_extractor:extract_buildings_maskrcnn (not implemented yet: fails with a clear message)."""

from __future__ import annotations

from qgis.core import QgsProcessingException

from .base_algorithm import BaseAlgorithm


class ExtractBuildingsMaskRcnn(BaseAlgorithm):
    """Registered so the id is stable; filled in by its own issue."""

    ALGORITHM_ID = "extract_buildings_maskrcnn"
    DISPLAY_NAME = "Extract buildings (Mask R-CNN)"
    GROUP_ID = "extraction"
    GROUP = "Extraction"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 - QGIS API name
        pass

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API name
        raise QgsProcessingException(
            self.tr("Extract buildings (Mask R-CNN) is not available in this version of building_extractor yet.")
        )
