"""QGIS plugin object: registers the Processing provider (desktop and qgis_process alike)."""

from __future__ import annotations

from qgis.core import QgsApplication


class BuildingExtractorPlugin:
    """Loads the building_extractor Processing provider; adds no other GUI."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider = None

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API name
        from .processing.provider import BuildingExtractorProvider

        self.provider = BuildingExtractorProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 - QGIS API name
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
