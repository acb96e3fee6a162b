"""The building_extractor Processing provider."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .base_algorithm import plugin_icon
from .building_heights import BuildingHeights
from .evaluate_buildings import EvaluateBuildings
from .evaluate_landcover import EvaluateLandcover
from .extract_buildings_maskrcnn import ExtractBuildingsMaskRcnn
from .extract_buildings_unet import ExtractBuildingsUnet
from .install_dependencies import InstallDependencies
from .regularize_buildings import RegularizeBuildings
from .train_model import TrainModel

ALGORITHMS = (ExtractBuildingsUnet, ExtractBuildingsMaskRcnn, TrainModel, EvaluateBuildings, EvaluateLandcover,
              RegularizeBuildings, BuildingHeights, InstallDependencies)


class BuildingExtractorProvider(QgsProcessingProvider):
    """Registers every building_extractor algorithm under the id ``building_extractor``."""

    def id(self) -> str:
        return "building_extractor"

    def name(self) -> str:
        return "Building extractor"

    def longName(self) -> str:  # noqa: N802 - QGIS API name
        from .. import __version__

        return f"Building extractor {__version__}"

    def icon(self) -> QIcon:
        return plugin_icon()

    def loadAlgorithms(self) -> None:  # noqa: N802 - QGIS API name
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())
