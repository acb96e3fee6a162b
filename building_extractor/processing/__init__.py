"""Processing algorithms: thin adapters from QGIS parameters to building_extractor.core."""
