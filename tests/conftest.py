"""Shared fixtures: real data paths, a started QGIS with our provider registered, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


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
