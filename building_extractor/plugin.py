"""QGIS plugin object: registers the Processing provider (desktop and qgis_process alike)."""

from __future__ import annotations

from qgis.core import QgsApplication

try:  # Qt resources (":/plugins/building_extractor/icon.svg"), compiled from resources.qrc by `make stage`.
    from . import resources  # noqa: F401
except ImportError:  # a source checkout that was not staged: icons are read from icons/ instead
    resources = None


class BuildingExtractorPlugin:
    """Loads the building_extractor Processing provider; adds no other GUI."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider = None

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API name
        """Called by qgis_process (and by initGui on desktop); registers the provider once."""
        if self.provider is not None:
            return
        from .processing.provider import BuildingExtractorProvider

        self.provider = BuildingExtractorProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 - QGIS API name
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
