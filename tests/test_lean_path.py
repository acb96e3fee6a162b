"""The lean extraction path (issue 19): both extraction algorithms run through qgis_process with the packages
QGIS's installers do not ship made unimportable (tests/lean_python/sitecustomize.py), and give the same
buildings as an unrestricted run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "banepa_sample.tif"
BLOCKER = ROOT / "tests" / "lean_python"
NOT_SHIPPED_BY_QGIS = ("rasterio", "fiona")
TORCH_STACK = ("torch", "torchvision", "timm", "segmentation_models_pytorch", "safetensors")


def run_qgis_process(algorithm: str, output: Path, block: tuple[str, ...] = (), **parameters: str) -> str:
    """bin/qgis_process run; with ``block``, those packages cannot be imported in the QGIS process."""
    env = dict(os.environ)
    if block:
        env["PYTHONPATH"] = os.pathsep.join([str(BLOCKER), *filter(None, [env.get("PYTHONPATH")])])
        env["BUILDING_EXTRACTOR_BLOCK"] = ",".join(block)
    arguments = [f"--{key}={value}" for key, value in {"INPUT": str(SAMPLE), **parameters,
                                                       "OUTPUT": str(output)}.items()]
    result = subprocess.run([str(ROOT / "bin" / "qgis_process"), "run", f"building_extractor:{algorithm}",
                             *arguments], capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def features(path: Path) -> list[tuple]:
    """(geometry WKB, attributes) of every feature, in order."""
    from osgeo import ogr

    source = ogr.Open(str(path))
    layer = source.GetLayer(0)
    rows = [(bytes(f.GetGeometryRef().ExportToWkb()), tuple(f.GetField(i) for i in range(f.GetFieldCount())))
            for f in layer]
    source = None
    return rows


def test_blocker_makes_packages_unimportable(tmp_path) -> None:
    """The blocker itself works (else the tests below prove nothing)."""
    env = {**os.environ, "PYTHONPATH": str(BLOCKER), "BUILDING_EXTRACTOR_BLOCK": "rasterio,fiona"}
    probe = subprocess.run(["/usr/bin/python3", "-c", "import rasterio"], capture_output=True, text=True, env=env)
    assert probe.returncode != 0 and "import of rasterio halted" in probe.stderr
    assert subprocess.run(["/usr/bin/python3", "-c", "import rasterio"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["extract_buildings_unet", "extract_buildings_maskrcnn"])
def test_extraction_without_rasterio_gives_the_same_buildings(tmp_path, algorithm: str) -> None:
    lean = tmp_path / "lean.gpkg"
    log = run_qgis_process(algorithm, lean, block=NOT_SHIPPED_BY_QGIS)
    full = tmp_path / "full.gpkg"
    run_qgis_process(algorithm, full)
    assert "buildings written" in log
    found = features(lean)
    assert len(found) > 10
    assert found == features(full)


@pytest.mark.slow
def test_unet_extraction_with_openvino_alone(tmp_path) -> None:
    """With OpenVINO as the only runtime (onnxruntime and the torch stack blocked too), BACKEND=auto runs the
    U-Net on OpenVINO and gives the buildings of a full install's BACKEND=openvino run."""
    pytest.importorskip("openvino")
    lean = tmp_path / "lean.gpkg"
    log = run_qgis_process("extract_buildings_unet", lean, block=(*NOT_SHIPPED_BY_QGIS, "onnxruntime", *TORCH_STACK))
    assert "on openvino on CPU, " in log
    assert "auto: the model is ONNX, OpenVINO is installed and onnxruntime is not" in log
    full = tmp_path / "full.gpkg"
    run_qgis_process("extract_buildings_unet", full, BACKEND="openvino")
    found = features(lean)
    assert len(found) > 10
    assert found == features(full)


def test_maskrcnn_on_onnxruntime_finds_nothing_in_an_empty_tile_without_failing() -> None:
    """A tile where no detection passes the score threshold (blank, or no buildings) gives empty detections;
    onnxruntime's mask head used to fail there on the 0 rows."""
    import numpy as np

    from building_extractor.core.models.backends import open_model
    from building_extractor.core.models.model_file import default_model_path

    runner = open_model(default_model_path("maskrcnn", "onnxruntime"), "maskrcnn", "onnxruntime", "cpu")
    found = runner(np.zeros((2, 3, 512, 512), np.float32))
    assert [d["boxes"].shape for d in found] == [(0, 4), (0, 4)]
    assert [d["masks"].shape for d in found] == [(0, 28, 28), (0, 28, 28)]
