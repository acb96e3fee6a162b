"""Real QGIS desktop under Xvfb, a fresh profile with the plugin installed from the zip: the provider in the
Toolbox, the algorithm dialogs run with their defaults (temporary output) and the batch dialog.

One QGIS session (scripts/desktop_screenshot.py, probe scripts/desktop_probe.py) plays all three scenarios
like a user would: the algorithm dialog's Run button runs extract_buildings_unet as a QGIS task on a worker
thread, the batch dialog runs one row per raster. The outputs are compared with processing.run on the same
rasters here. A crash fails the tests (QGIS's exit status), a hang fails them through the timeouts.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from building_extractor.core.workers import WORKERS_VARIABLE

ROOT = Path(__file__).resolve().parents[1]
ALGORITHM_IDS = ("extract_buildings_unet", "extract_buildings_maskrcnn", "train_model", "evaluate_buildings")
ALG = "building_extractor:extract_buildings_unet"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("xvfb-run") is None or shutil.which("Xvfb") is None
                       or shutil.which("qgis") is None,
                       reason="Xvfb or QGIS desktop is not installed (Debian packages xvfb, qgis)"),
]


def load_screenshot_script():
    spec = importlib.util.spec_from_file_location("desktop_screenshot", ROOT / "scripts" / "desktop_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def desktop(tmp_path_factory) -> dict:
    """The probe's report of one QGIS desktop session; the batch scenario needs ../shared/data."""
    script = load_screenshot_script()
    base = tmp_path_factory.mktemp("desktop")
    scenarios, batch_inputs = ["toolbox", "dialog", "dialog_maskrcnn"], []
    if (script.SHARED_DATA / "kampala").exists():
        batch_inputs = script.make_batch_inputs(base / "inputs")
        scenarios.append("batch")
    try:
        with pytest.MonkeyPatch.context() as patch:  # post-processing in worker processes spawned from QGIS
            patch.setenv(WORKERS_VARIABLE, "2")
            report = script.run_desktop(scenarios, base / "screenshots", base / "work", batch_inputs,
                                        timeout=480, scenario_timeout=150, from_zip=True)
    except RuntimeError as exc:  # QGIS hung past the timeout or died without a report
        pytest.fail(str(exc))
    report["screenshots"] = base / "screenshots"
    return report


@pytest.fixture(scope="module")
def reference_count(provider, tmp_path_factory):
    """Building count of the same run through processing.run in this process (cached per raster)."""
    import processing
    from qgis.core import QgsVectorLayer

    base, counts = tmp_path_factory.mktemp("reference"), {}

    def count(raster: str) -> int:
        if raster not in counts:
            out = base / f"{len(counts)}_{Path(raster).stem}.gpkg"
            processing.run(ALG, {"INPUT": raster, "OUTPUT": str(out)})
            counts[raster] = QgsVectorLayer(str(out), "reference", "ogr").featureCount()
        return counts[raster]

    return count


def assert_same_count(count: int, reference: int) -> None:
    # CPU kernels may sum in another order with other thread counts; a wrong or shared input is far off.
    assert abs(count - reference) <= max(2, 0.03 * reference), (count, reference)


def assert_styled_layer(part: dict) -> None:
    """QGIS loaded the output into the project once, in the fixed confidence classes (outputs.style_by_confidence)."""
    from building_extractor.processing.outputs import CONFIDENCE_CLASSES

    layers = part["project_layers"]
    assert len(layers) == 1, layers
    assert layers[0]["renderer"] == "graduatedSymbol" and layers[0]["class_attribute"] == "confidence", layers
    assert layers[0]["colours"] == sorted(colour for _, _, colour, _ in CONFIDENCE_CLASSES), layers


def assert_default_run(dialog: dict) -> None:
    """Only INPUT chosen: the output is "[Create temporary layer]", named after the input, and the dialog shows
    the values the run uses (the shipped model's), under short labels."""
    assert dialog["output_value"] == "TEMPORARY_OUTPUT", dialog["output_value"]
    [layer] = dialog["project_layers"]
    assert layer["provider"] == "memory" and layer["name"] == "banepa_sample buildings", layer
    assert dialog["shown"]["TILE_SIZE"] in ("1024", "512") and dialog["shown"]["RESOLUTION"] == "0.3", dialog["shown"]
    assert all(len(label) <= 24 for label in dialog["labels"].values()), dialog["labels"]
    assert dialog["red_lines"] == [], dialog["red_lines"]


def assert_picture(path: Path, min_width: int, min_height: int) -> None:
    from qgis.PyQt.QtGui import QImage

    image = QImage(str(path))
    assert image.width() >= min_width and image.height() >= min_height, (path, image.width(), image.height())
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 20, f"{path} is blank"


def assert_clean_log(log: str) -> None:
    for problem in ("not correctly generated", "failed", "Traceback"):
        assert problem not in log, log[-3000:]


def test_desktop_toolbox_shows_the_provider_with_icon_and_groups(desktop, qgis_app):
    assert not desktop["errors"], "\n".join(desktop["errors"])
    assert desktop["plugin_loaded"] and desktop["provider"], desktop
    assert "Install dependencies…" in desktop["plugin_menu"].get("Building Extractor", []), desktop["plugin_menu"]
    assert desktop["provider_in_toolbox"], desktop["toolbox_rows"]
    assert desktop["provider_icon"]
    assert desktop["installed_from"] and desktop["plugin_file"].startswith(desktop["installed_from"]), desktop
    assert {f"building_extractor:{a}" for a in ALGORITHM_IDS} <= set(desktop["algorithms"])
    assert len(desktop["groups"]) >= 2
    assert desktop["screenshot_saved"]
    assert_picture(desktop["screenshots"] / "toolbox.png", 800, 600)


def test_algorithm_dialog_runs_the_model_on_a_qgis_worker_thread(desktop, reference_count):
    """Run pressed in the dialog: a QgsProcessingAlgRunnerTask builds and runs the model off the main thread
    without hanging or crashing QGIS, and the styled layer is added to the project."""
    assert not desktop["errors"], "\n".join(desktop["errors"])
    dialog = desktop["dialog"]
    assert dialog["successful"], dialog["log"][-3000:]
    assert not dialog["no_threading_flag"]
    [call] = dialog["extract_calls"]
    assert not call["main_thread"], call  # the worker-thread path really ran
    if dialog["libllvm_loaded"] and dialog["torch_imported"]:  # Mesa's libLLVM is in QGIS and torch came in:
        assert dialog["triton_blocked"]  # base_algorithm kept Triton out, else a crash (onnxruntime needs no torch)
    assert dialog["exists"] and dialog["valid"] and dialog["crs"] == "EPSG:4326", dialog
    assert_same_count(dialog["feature_count"], reference_count(dialog["input"]))
    assert_styled_layer(dialog)
    assert_default_run(dialog)
    assert dialog["shown"]["THRESHOLD"] == "0.5" and dialog["shown"]["SPLIT_THRESHOLD"] == "0.98", dialog["shown"]
    assert "Execution completed" in dialog["log"] and "buildings written" in dialog["log"]
    assert_post_processed_in_workers(dialog["log"], 1)
    assert_clean_log(dialog["log"])
    assert dialog["screenshot_saved"]
    assert_picture(desktop["screenshots"] / "dialog.png", 700, 500)


def test_mask_rcnn_dialog_runs_on_a_qgis_worker_thread(desktop):
    """The Mask R-CNN (torchvision detector built on first use) also runs from its dialog off the main
    thread, without hanging or crashing QGIS, and its styled layer is added to the project."""
    assert not desktop["errors"], "\n".join(desktop["errors"])
    dialog = desktop["dialog_maskrcnn"]
    assert dialog["successful"], dialog["log"][-3000:]
    assert not dialog["no_threading_flag"]
    assert dialog["exists"] and dialog["valid"] and dialog["crs"] == "EPSG:4326", dialog
    assert dialog["feature_count"] > 10
    assert_styled_layer(dialog)
    assert_default_run(dialog)
    assert "Execution completed" in dialog["log"] and "buildings written" in dialog["log"]
    assert_clean_log(dialog["log"])
    assert_picture(desktop["screenshots"] / "dialog_maskrcnn.png", 700, 500)


def test_batch_dialog_gives_each_raster_its_own_layer(desktop, reference_count):
    """Three rasters (two CRSs) in one batch: each row writes its own buildings, inside its own raster."""
    from qgis.core import QgsRasterLayer, QgsRectangle

    if "batch" not in desktop["scenarios"]:
        pytest.skip("../shared/data/kampala is not present")
    assert not desktop["errors"], "\n".join(desktop["errors"])
    batch = desktop["batch"]
    assert batch["rows_in_panel"] == len(batch["inputs"]) == len(batch["rows"]) == 3
    assert len(set(batch["outputs"])) == 3
    assert len(batch["extract_calls"]) == 3
    assert_clean_log(batch["log"])
    assert batch["red_lines"] == [], batch["red_lines"]
    assert batch["outputs"][-1] == "TEMPORARY_OUTPUT"  # the last row makes a temporary layer
    assert batch["log"].count("buildings written") == 3
    assert_post_processed_in_workers(batch["log"], 3)
    for raster, row in zip(batch["inputs"], batch["rows"]):
        source = QgsRasterLayer(raster, "input")
        assert row["exists"] and row["valid"] and row["feature_count"] > 0, row
        assert row["crs"] == source.crs().authid(), (raster, row["crs"])
        xmin, ymin, xmax, ymax = row["extent"]
        assert source.extent().buffered(1e-6).contains(QgsRectangle(xmin, ymin, xmax, ymax)), row
        assert_same_count(row["feature_count"], reference_count(raster))
        assert_styled_layer(row)
    assert batch["screenshot_saved"]
    assert_picture(desktop["screenshots"] / "batch.png", 900, 600)


def assert_post_processed_in_workers(log: str, runs: int) -> None:
    """Each run's post-processing went to worker processes (spawned from QGIS) without falling back."""
    assert log.count("in 2 worker processes.") == runs, log[-3000:]
    assert "Worker processes failed" not in log, log[-3000:]
