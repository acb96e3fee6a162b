"""Shared fixtures: real data paths, a started QGIS with our provider registered, tiny models."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session", autouse=True)
def _free_gdal_objects_before_qgis_exits(qgis_app):
    """Collect GDAL objects still held in reference cycles while GDAL is alive.

    pytest-qgis ends the session with ``exitQgis()``, which destroys GDAL's driver manager; a dataset that a test
    left in a cycle (say, a lambda that wraps an object's bound method) was then freed by the next garbage
    collection, in pytest's terminal summary, and crashed the interpreter: exit 139 after every test passed.
    Depending on ``qgis_app`` makes this teardown run before its ``exitQgis()``.
    """
    yield
    gc.collect()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def provider(qgis_processing):
    """QGIS Processing started (pytest-qgis) with the building_extractor provider registered."""
    from qgis.core import QgsApplication

    from building_extractor.processing.provider import BuildingExtractorProvider

    registry = QgsApplication.processingRegistry()
    existing = registry.providerById("building_extractor")
    if existing is None:
        existing = BuildingExtractorProvider()
        registry.addProvider(existing)
    return existing
