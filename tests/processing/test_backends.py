"""BACKEND through QGIS Processing: onnxruntime and torch give the same buildings; export_model; the log says
which backend, execution provider and device ran, and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "banepa_sample.tif"
MODELS = ROOT / "building_extractor" / "models"


class LogFeedback(QgsProcessingFeedback):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802 - QGIS API name
        self.lines.append(info)
        super().pushInfo(info)


def _run(algorithm: str, tmp_path: Path, backend: str, **params) -> tuple[list, str]:
    import processing

    feedback = LogFeedback()
    out = tmp_path / f"{algorithm}_{backend}.gpkg"
    processing.run(f"building_extractor:{algorithm}", {"INPUT": str(SAMPLE), "OUTPUT": str(out), "BACKEND": backend,
                                                       **params}, feedback=feedback)
    layer = QgsVectorLayer(str(out), "b", "ogr")
    features = sorted(layer.getFeatures(), key=lambda f: (round(f["area_m2"], 1), f.geometry().centroid().asWkt(5)))
    return [(f.geometry(), f["confidence"]) for f in features], "\n".join(feedback.lines)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["extract_buildings_unet", "extract_buildings_maskrcnn"])
def test_both_backends_give_the_same_buildings(provider, tmp_path, algorithm) -> None:
    fast, fast_log = _run(algorithm, tmp_path, "auto")  # the shipped default: ONNX in onnxruntime
    slow, slow_log = _run(algorithm, tmp_path, "torch")  # the shipped safetensors in torch
    assert "on onnxruntime on CPUExecutionProvider (auto: the model is ONNX and onnxruntime is installed" in fast_log
    assert "buildings written by onnxruntime on CPUExecutionProvider" in fast_log
    assert "on torch on cpu (BACKEND=torch; device auto" in slow_log
    assert len(fast) == len(slow) > 20
    for (a, score_a), (b, score_b) in zip(fast, slow):
        assert a.intersection(b).area() / a.combine(b).area() > 0.99
        assert score_a == pytest.approx(score_b, abs=2e-3)


def test_export_model_writes_a_model_onnxruntime_runs(provider, tmp_path) -> None:
    import processing

    from building_extractor.core.models.model_file import read_config

    result = processing.run("building_extractor:export_model", {
        "INPUT": str(MODELS / "default_unet.safetensors"), "OUTPUT": str(tmp_path / "exported")})
    assert result["OUTPUT"] == str(tmp_path / "exported.onnx")
    assert read_config(result["OUTPUT"]) == read_config(MODELS / "default_unet.safetensors")
    buildings, log = _run("extract_buildings_unet", tmp_path, "onnxruntime", MODEL=result["OUTPUT"])
    assert len(buildings) > 20 and "BACKEND=onnxruntime" in log


@pytest.mark.parametrize("params,message", [
    ({"BACKEND": "onnxruntime", "MODEL": "lonely.safetensors"}, "is a safetensors file. Convert it with "
                                                                "building_extractor:export_model"),
    ({"DEVICE": "cuda", "BACKEND": "onnxruntime"}, "DEVICE=cuda was asked for.*onnxruntime-gpu"),
])
def test_impossible_backend_choices_fail_clearly(provider, tmp_path, params, message) -> None:
    """A safetensors model without its ONNX twin cannot run in onnxruntime; no CUDA provider, no DEVICE=cuda."""
    import shutil

    import processing

    if "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    if "MODEL" in params:
        params = {**params, "MODEL": str(shutil.copy(MODELS / "default_unet.safetensors", tmp_path / params["MODEL"]))}
    with pytest.raises(QgsProcessingException, match=message):
        processing.run("building_extractor:extract_buildings_unet",
                       {"INPUT": str(SAMPLE), "OUTPUT": str(tmp_path / "x.gpkg"), **params})
    assert not (tmp_path / "x.gpkg").exists()
