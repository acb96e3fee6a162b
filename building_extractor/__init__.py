"""building_extractor: a QGIS Processing provider that extracts building footprints from imagery."""

__version__ = "0.1.0"


def classFactory(iface):  # noqa: N802 - QGIS plugin entry point name
    """QGIS calls this to load the plugin; only QGIS-side code is imported here."""
    from .plugin import BuildingExtractorPlugin

    return BuildingExtractorPlugin(iface)
