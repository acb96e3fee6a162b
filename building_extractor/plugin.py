"""QGIS plugin object: registers the Processing provider (desktop and qgis_process alike) and, on desktop, the
Plugins ▸ Building Extractor ▸ Install dependencies… action."""

from __future__ import annotations

from qgis.core import QgsApplication

from .core.installer import add_to_path, packages_dir

try:  # Qt resources (":/plugins/building_extractor/icon.svg"), compiled from resources.qrc by `make stage`.
    from . import resources  # noqa: F401
except ImportError:  # a source checkout that was not staged: icons are read from icons/ instead
    resources = None

MENU = "Building Extractor"
INSTALL_ACTION = "Install dependencies…"


class BuildingExtractorPlugin:
    """Loads the building_extractor Processing provider and the installer's menu action."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider = None
        self.install_action = None
        # What the installer put in the profile is importable before any algorithm is loaded.
        add_to_path(packages_dir(QgsApplication.qgisSettingsDirPath()))
        self.translator = install_translator()

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API name
        """Called by qgis_process (and by initGui on desktop); registers the provider once."""
        if self.provider is not None:
            return
        from .processing.provider import BuildingExtractorProvider

        self.provider = BuildingExtractorProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 - QGIS API name
        from qgis.PyQt.QtWidgets import QAction

        from .processing.base_algorithm import plugin_icon

        self.initProcessing()
        self.install_action = QAction(plugin_icon(), INSTALL_ACTION, self.iface.mainWindow())
        self.install_action.triggered.connect(self.open_installer)
        self.iface.addPluginToMenu(MENU, self.install_action)

    def open_installer(self) -> None:
        """The installer algorithm's Processing dialog: its progress bar and log show pip's output."""
        import processing

        processing.execAlgorithmDialog("building_extractor:install_dependencies", {})

    def unload(self) -> None:
        if self.translator is not None:
            from qgis.PyQt.QtCore import QCoreApplication

            QCoreApplication.removeTranslator(self.translator)
            self.translator = None
        if self.install_action is not None:
            self.iface.removePluginMenu(MENU, self.install_action)
            self.install_action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None


def install_translator():
    """Load i18n/building_extractor_<language>.qm for QGIS's locale (none for English or a missing file)."""
    import os

    from qgis.PyQt.QtCore import QCoreApplication, QTranslator

    language = (QgsApplication.locale() or "en")[:2]
    path = os.path.join(os.path.dirname(__file__), "i18n", f"building_extractor_{language}.qm")
    if not os.path.exists(path):
        return None
    translator = QTranslator()
    if not translator.load(path):
        return None
    QCoreApplication.installTranslator(translator)
    return translator
