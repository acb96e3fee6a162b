"""The building_extractor Processing provider."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from . import settings
from .base_algorithm import plugin_icon
from .building_heights import BuildingHeights
from .diagnostics import Diagnostics
from .evaluate_buildings import EvaluateBuildings
from .evaluate_landcover import EvaluateLandcover
from .export_model import ExportModel
from .extract_buildings_maskrcnn import ExtractBuildingsMaskRcnn
from .extract_buildings_unet import ExtractBuildingsUnet
from .install_dependencies import InstallDependencies
from .regularize_buildings import RegularizeBuildings
from .train_model import TrainModel

ALGORITHMS = (ExtractBuildingsUnet, ExtractBuildingsMaskRcnn, TrainModel, ExportModel, EvaluateBuildings,
              EvaluateLandcover, RegularizeBuildings, BuildingHeights, InstallDependencies, Diagnostics)


class BuildingExtractorProvider(QgsProcessingProvider):
    """Registers every building_extractor algorithm under the id ``building_extractor``."""

    def id(self) -> str:
        return "building_extractor"

    def name(self) -> str:
        from qgis.PyQt.QtCore import QCoreApplication

        return QCoreApplication.translate("BaseAlgorithm", "Building extractor")

    def longName(self) -> str:  # noqa: N802 - QGIS API name
        from .. import __version__

        return f"Building extractor {__version__}"

    def icon(self) -> QIcon:
        return plugin_icon()

    def load(self) -> bool:
        """Settings in Processing's options, then the algorithms, then one log line on what was found."""
        from qgis.core import Qgis, QgsMessageLog

        from .. import __version__
        from ..core.diagnostics import runtime_summary

        settings.register(self)
        self.refreshAlgorithms()
        QgsMessageLog.logMessage(f"Building Extractor {__version__}: {runtime_summary()}", "Building Extractor",
                                 Qgis.Info)
        return True

    def unload(self) -> None:
        settings.unregister()

    def loadAlgorithms(self) -> None:  # noqa: N802 - QGIS API name
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())
