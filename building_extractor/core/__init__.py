"""QGIS-free core of building_extractor: models, tiling, inference, stitching, vectorizing, metrics.

Nothing in this package imports QGIS; the Processing algorithms in ``building_extractor.processing`` are
thin adapters onto it. Heavy optional dependencies (torch, smp) are imported lazily by the modules that
need them, so ``building_extractor.core.dependencies`` can report what is missing.
"""
