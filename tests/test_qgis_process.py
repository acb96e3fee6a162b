"""The plugin through bin/qgis_process (QGIS's command-line runner) as a subprocess, as users run it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QGIS_PROCESS = ROOT / "bin" / "qgis_process"
ALGORITHM_IDS = ("extract_buildings_unet", "extract_buildings_maskrcnn", "train_model", "evaluate_buildings")

pytestmark = pytest.mark.slow


def qgis_process(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run bin/qgis_process with args; returns the finished process (text stdout/stderr)."""
    return subprocess.run([str(QGIS_PROCESS), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_list_shows_the_provider_and_its_algorithms_from_the_staged_plugin():
    proc = qgis_process("--json", "list")
    assert proc.returncode == 0, proc.stderr
    provider = json.loads(proc.stdout)["providers"]["building_extractor"]
    assert provider["is_active"]
    assert {f"building_extractor:{a}" for a in ALGORITHM_IDS} <= set(provider["algorithms"])
    unet = provider["algorithms"]["building_extractor:extract_buildings_unet"]
    staged_help = ROOT / "build" / "plugins" / "building_extractor" / "help" / "html"
    assert unet["help_url"] == f"file://{staged_help}/extract_buildings_unet.html"


@pytest.mark.parametrize("algorithm", ALGORITHM_IDS)
def test_help_shows_description_and_parameters(algorithm):
    proc = qgis_process("help", f"building_extractor:{algorithm}")
    assert proc.returncode == 0, proc.stderr
    assert f"(building_extractor:{algorithm})" in proc.stdout
    description, _, arguments = proc.stdout.partition("Arguments")
    assert len(description.split("Description", 1)[-1].strip(" -\n")) > 40, proc.stdout
    assert arguments, proc.stdout


def test_run_of_an_unavailable_algorithm_fails_clearly():
    proc = qgis_process("--json", "run", "building_extractor:extract_buildings_maskrcnn")
    assert proc.returncode != 0
    assert "not available in this version" in proc.stderr


def test_run_extracts_buildings_from_the_shipped_sample_as_json(tmp_path):
    sample = ROOT / "data" / "sample" / "banepa_sample.tif"
    output = tmp_path / "buildings.gpkg"
    proc = qgis_process("--json", "run", "building_extractor:extract_buildings_unet", f"--INPUT={sample}",
                        f"--OUTPUT={output}")
    assert proc.returncode == 0, proc.stderr[-3000:]  # also catches crashes at exit (rc 139)
    assert json.loads(proc.stdout)["results"]["OUTPUT"] == str(output)

    from osgeo import ogr

    dataset = ogr.Open(str(output))  # keep a reference: the layer dies with its dataset
    layer = dataset.GetLayer(0)
    names = {layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())}
    assert {"confidence", "area_m2", "perimeter_m"} <= names
    assert layer.GetFeatureCount() > 10  # a town centre: many buildings
