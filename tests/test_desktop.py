"""Real QGIS desktop under Xvfb loads the plugin and shows the provider in the Processing Toolbox."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALGORITHM_IDS = ("extract_buildings_unet", "extract_buildings_maskrcnn", "train_model", "evaluate_buildings")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xvfb-run") is None or shutil.which("Xvfb") is None,
                       reason="Xvfb is not installed (Debian package xvfb)"),
]


def load_screenshot_script():
    spec = importlib.util.spec_from_file_location("desktop_screenshot", ROOT / "scripts" / "desktop_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_desktop_toolbox_shows_the_provider_with_icon_and_groups(tmp_path, qgis_app):
    from qgis.PyQt.QtGui import QImage

    picture = tmp_path / "toolbox.png"
    report = load_screenshot_script().run_desktop(picture, timeout=300)
    assert not report["errors"], report["errors"]
    assert report["plugin_loaded"] and report["provider"], report
    assert report["provider_in_toolbox"], report["toolbox_rows"]
    assert report["provider_icon"]
    assert {f"building_extractor:{a}" for a in ALGORITHM_IDS} <= set(report["algorithms"])
    assert len(report["groups"]) >= 2
    assert report["screenshot_saved"]
    image = QImage(str(picture))
    assert image.width() >= 800 and image.height() >= 600
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 20, "the screenshot is blank"
